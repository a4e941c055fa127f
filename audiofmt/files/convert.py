"""Files: read any audio file in blocks, convert it to a session format, decode model output.

Pipeline per file (`convert_file`): read blocks (libsndfile through soundfile, FFmpeg through
PyAV, or a raw description) → downmix to mono (the mean of the channels) → resample to the target format's
rate (streaming, so the result equals converting the whole array at once) → one rounding to
int16 (clipped samples are counted) → encode → raw bytes, WAV or JSON Lines of append events.
Memory stays bounded by the block size. Outputs are written atomically: to a temporary file in
the destination directory, renamed into place only when complete.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..codecs import float_to_int16
from ..errors import AudioFormatError
from ..formats import AudioFormat, get_format
from ..resampler.core import Resampler, _check_rate, channel_mean, output_length
from .sinks import CONTAINER_EXTENSIONS, SINKS
from .sources import (
    BLOCK_FRAMES,
    AudioSource,
    DamagedFileError,
    FileFormatError,
    PathLike,
    RawSpec,
    not_raw_message,
    open_source,
    raw_chunks,
    sniff,
)

__all__ = [
    "FileFormatError",
    "DamagedFileError",
    "RawSpec",
    "AudioSource",
    "open_source",
    "ConvertResult",
    "DecodeResult",
    "convert_file",
    "decode_file",
    "atomic_output",
    "container_for",
    "probe",
]


@contextmanager
def atomic_output(path: PathLike) -> Iterator[BinaryIO]:
    """A binary file that appears at `path` only when the block completes; "-" is stdout.

    Writes go to a hidden temporary file in the same directory, renamed over `path` at the
    end. Any exception, KeyboardInterrupt included, removes the temporary file.
    """
    if str(path) == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    tmp = str(target.parent / f".{target.name}.{secrets.token_hex(6)}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for open()
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def container_for(path: PathLike, container: str | None = None) -> str:
    """The output container: given, or from the extension (.wav, .jsonl, .pcm/.ulaw/.alaw/.raw)."""
    if container is not None:
        if container not in SINKS:
            raise AudioFormatError(f"unknown container {container!r}; expected one of {', '.join(SINKS)}")
        return container
    ext = Path(str(path)).suffix.lower()
    if ext in CONTAINER_EXTENSIONS:
        return CONTAINER_EXTENSIONS[ext]
    raise AudioFormatError(
        f"cannot tell the container from {str(path)!r}; use an extension "
        f"({', '.join(sorted(CONTAINER_EXTENSIONS))}) or --container {'|'.join(SINKS)}"
    )


@dataclass(frozen=True)
class ConvertResult:
    """What a conversion did: frames read, samples written, clipped samples, seconds of audio,
    and what `ignore_errors` let through (damage skipped, audio lost), one line each."""

    source: str
    destination: str
    format: str
    container: str
    rate_in: int
    channels_in: int
    frames_in: int
    samples_out: int
    n_clipped: int
    warnings: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float:
        return self.frames_in / self.rate_in


def convert_file(
    source: PathLike,
    destination: PathLike,
    to: str | AudioFormat,
    *,
    container: str | None = None,
    quality: str = "hq",
    raw: RawSpec | None = None,
    chunk_ms: int = 100,
    event_id_prefix: str | None = None,
    block_frames: int = BLOCK_FRAMES,
    progress: object = None,
    ignore_errors: bool = False,
) -> ConvertResult:
    """Convert one audio file (or "-") to the session format `to`, as raw bytes, WAV or JSONL.

    `progress`, if given, is called with the number of input frames of each block read.
    A damaged or cut-short input raises DamagedFileError (and writes nothing) unless
    `ignore_errors`, which converts what can be read and lists the loss in `warnings`.
    """
    fmt = get_format(to)
    kind = container_for(destination, container)
    with open_source(source, raw, block_frames, ignore_errors=ignore_errors) as src:
        resampler = None if src.rate == fmt.rate_hz else Resampler(src.rate, fmt.rate_hz, quality)
        frames_in = samples_out = n_clipped = 0
        with atomic_output(destination) as out:
            sink = SINKS[kind](out, fmt, chunk_ms=chunk_ms, event_id_prefix=event_id_prefix)
            from_file = isinstance(source, (str, os.PathLike)) and str(source) != "-"
            # a pipe is read in this thread: a reader blocked on a silent pipe could not be stopped
            for block in _read_ahead(src.blocks()) if from_file else src.blocks():
                frames_in += block.shape[0]
                mono = block[:, 0] if block.shape[1] == 1 else channel_mean(block)
                ints, clipped = _to_int16(mono if resampler is None else resampler.process(mono))
                sink.write(ints)
                samples_out += ints.shape[0]
                n_clipped += clipped
                if callable(progress):
                    progress(block.shape[0])
            if frames_in == 0:
                raise FileFormatError(f"{src.name}: no audio frames")
            if resampler is not None:
                ints, clipped = _to_int16(resampler.flush())
                sink.write(ints)
                samples_out += ints.shape[0]
                n_clipped += clipped
            sink.close()
        assert samples_out == (frames_in if resampler is None else output_length(frames_in, src.rate, fmt.rate_hz))
    return ConvertResult(
        src.name, str(destination), fmt.name, kind, src.rate, src.channels, frames_in, samples_out, n_clipped,
        tuple(src.warnings),
    )


def _read_ahead(blocks: Iterator[np.ndarray], depth: int = 2) -> Iterator[np.ndarray]:
    """`blocks`, read by a thread up to `depth` blocks ahead, so that decoding (libsndfile through
    cffi and FFmpeg through PyAV release the GIL) overlaps resampling and writing. The order and
    the blocks are unchanged; an error in the reader is raised here, at the block where it
    happened; leaving early (an error, Ctrl-C) stops the reader before the source is closed."""
    import queue
    import threading

    slots: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def reader() -> None:
        try:
            for block in blocks:
                while not stop.is_set():
                    try:
                        slots.put(("block", block), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            item: tuple[str, object] = ("end", None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            item = ("error", exc)
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    thread = threading.Thread(target=reader, name="audiofmt-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == "block":
                yield value  # type: ignore[misc]
            elif kind == "error":
                raise value  # type: ignore[misc]
            else:
                return
    finally:
        stop.set()
        thread.join()
        close = getattr(blocks, "close", None)
        if callable(close):
            close()


def _to_int16(x: np.ndarray) -> tuple[np.ndarray, int]:
    if x.shape[0] == 0:
        return np.zeros(0, dtype=np.int16), 0
    return float_to_int16(np.ascontiguousarray(x, dtype=np.float64), clip="ignore")


def probe(path: PathLike, raw: RawSpec | None = None, *, ignore_errors: bool = False) -> dict[str, object]:
    """container, subtype, rate_hz, channels, frames, duration_s, peak_dbfs, rms_dbfs of a file
    (and `warnings`, what ignore_errors let through)."""
    with open_source(path, raw, ignore_errors=ignore_errors) as src:
        frames, peak, energy = 0, 0.0, 0.0
        for block in src.blocks():
            frames += block.shape[0]
            if block.size:
                peak = max(peak, float(np.max(np.abs(block))))
                energy += float(np.sum(block * block))
        n_values = frames * src.channels
        rms = (energy / n_values) ** 0.5 if n_values else 0.0
        return {
            "path": src.name,
            "container": src.container,
            "subtype": src.subtype,
            "rate_hz": src.rate,
            "channels": src.channels,
            "frames": frames,
            "duration_s": frames / src.rate,
            "peak_dbfs": 20 * np.log10(peak) if peak > 0 else float("-inf"),
            "rms_dbfs": 20 * np.log10(rms) if rms > 0 else float("-inf"),
            "warnings": list(src.warnings),
        }


@dataclass(frozen=True)
class DecodeResult:
    """What decode_file did: samples written at rate_hz, and audio delta events read (None for raw)."""

    source: str
    destination: str
    format: str
    rate_hz: int
    samples: int
    events: int | None


def decode_file(
    source: PathLike,
    destination: PathLike,
    from_format: str | AudioFormat,
    *,
    rate: int | None = None,
    quality: str = "hq",
    block_bytes: int = 1 << 16,
) -> DecodeResult:
    """Model output (raw bytes, or JSON Lines of audio delta events) → WAV, FLAC or raw s16le.

    JSONL is recognised by its first non-blank byte "{"; every `response.audio.delta` /
    `response.output_audio.delta` is decoded in order (lines of any length, in bounded memory),
    other events are skipped. Input that holds no model audio is refused, naming what it is and
    the command that reads it: an audio file (WAV, MP3 …), events without deltas (the append
    events `convert` writes), an empty file. The output rate defaults to the format's own rate.
    """
    import soundfile

    from ..realtime.events import AUDIO_DELTA_TYPES, field
    from .jsonl_source import jsonl_audio
    from ..realtime.streams import OutputDecoder

    fmt = get_format(from_format)
    out_rate = fmt.rate_hz if rate is None else _check_rate("rate", rate)
    kind = {".wav": "WAV", ".flac": "FLAC", ".pcm": "RAW", ".raw": "RAW"}.get(Path(str(destination)).suffix.lower())
    if kind is None:
        raise AudioFormatError(f"decode writes .wav, .flac, .pcm or .raw; got {str(destination)!r}")
    name = "<stdin>" if str(source) == "-" else str(source)
    if name != "<stdin>" and not os.path.isfile(source):
        raise FileFormatError(f"{name}: no such file" if not os.path.exists(source) else f"{name}: not a regular file")
    decoder = OutputDecoder({"output_audio_format": fmt.name}, rate=out_rate, quality=quality)
    n_samples = n_events = n_appends = 0
    with _input(source) as stream:
        head = stream.peek(4096)[:4096]  # type: ignore[attr-defined]  # a BufferedReader, file or stdin
        what = sniff(head)
        if what not in (None, "JSONL"):
            raise FileFormatError(not_raw_message(name, what, fmt.name, "decode"))
        with atomic_output(destination) as out:
            writer = None if kind == "RAW" else soundfile.SoundFile(out, "w", out_rate, 1, "PCM_16", format=kind)
            try:

                def emit(samples: np.ndarray) -> None:
                    nonlocal n_samples
                    n_samples += samples.shape[0]
                    if writer is None:
                        out.write(samples.astype("<i2").tobytes())
                    else:
                        writer.write(samples)

                if what == "JSONL":
                    last_line = 0
                    for line_no, event, audio in jsonl_audio(stream, name):
                        try:
                            if event["type"] in AUDIO_DELTA_TYPES:
                                n_events += line_no != last_line
                                last_line = line_no
                                item_id, index = field(event, "item_id", str), field(event, "content_index", int)
                                emit(decoder.feed(audio or b"", item_id, index))
                            elif audio is not None:
                                n_appends += 1
                            else:
                                emit(decoder.process(event))
                        except AudioFormatError as exc:
                            raise FileFormatError(f"{name}, line {line_no}: {exc}") from None
                    if n_events == 0:
                        raise FileFormatError(_no_deltas_message(name, n_appends, fmt.name))
                else:
                    sample_bytes = fmt.bytes_per_sample
                    for chunk in raw_chunks(stream, sample_bytes, max(1, block_bytes // sample_bytes), name, fmt.name):
                        emit(decoder.feed(chunk))
                    if n_samples == 0 and not head:
                        raise FileFormatError(f"{name}: the input is empty (0 bytes)")
                emit(decoder.flush())
            finally:  # close the writer before the temporary file is closed or removed
                if writer is not None:
                    writer.close()
    return DecodeResult(name, str(destination), fmt.name, out_rate, n_samples, n_events if what == "JSONL" else None)


def _no_deltas_message(name: str, n_appends: int, fmt_name: str) -> str:
    if n_appends:
        return (f"{name} holds {n_appends} input_audio_buffer.append event(s) (audio sent to the model) and no "
                f"response audio deltas: `audiofmt convert {name} --raw-format {fmt_name} ...` reads appended audio")
    return f"{name}: no response audio delta events (response.audio.delta / response.output_audio.delta)"


@contextmanager
def _input(source: PathLike) -> Iterator[BinaryIO]:
    """The input as a buffered binary stream (stdin is left open)."""
    if str(source) == "-":
        yield sys.stdin.buffer
        return
    with open(source, "rb") as stream:
        yield stream
