"""Files: read any audio file in blocks, convert it to a session format, decode model output.

Pipeline per file (`convert_file`): read blocks (libsndfile through soundfile, FFmpeg through
PyAV, or a raw description) → downmix to mono (the mean of the channels) → resample to the target format's
rate (streaming, so the result equals converting the whole array at once) → one rounding to
int16 (clipped samples are counted) → encode → raw bytes, WAV or JSON Lines of append events.
Memory stays bounded by the block size. Outputs follow files.outputs' rules: never over an input,
written atomically (a temporary file renamed into place when complete), devices written straight.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .._checks import QualityName, check_rate
from ..codecs import float_to_int16
from ..errors import AudioFormatError
from ..formats import FORMATS, AudioFormat, get_format
from ..resampler.core import Resampler, channel_mean, output_length
from .outputs import SpaceGuard, atomic_output, plan_outputs
from .sinks import CONTAINER_EXTENSIONS, SINKS
from .sources import (
    _RAW_PCM,
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
    "AudioSource",
    "ConvertResult",
    "DamagedFileError",
    "DecodeResult",
    "FileFormatError",
    "RawSpec",
    "atomic_output",
    "container_for",
    "convert_file",
    "decode_file",
    "exact_seconds",
    "max_frames_for",
    "open_source",
    "probe",
]


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
    """What a conversion did: frames read (after any max_duration_s cut), samples written,
    clipped samples, seconds of audio, what `ignore_errors` let through (damage skipped, audio
    lost, one line each), and the gain applied (dB; from gain_db or normalize_dbfs)."""

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
    gain_db: float = 0.0

    @property
    def duration_s(self) -> float:
        return self.frames_in / self.rate_in


def exact_seconds(value: object, what: str = "max_duration_s") -> Fraction:
    """A positive duration in seconds as an exact fraction. A float counts as the decimal it
    prints as (0.1 is 1/10, not the binary number next to it); str, int, Decimal, Fraction too."""
    if isinstance(value, bool):
        raise AudioFormatError(f"{what} must be a positive number of seconds; got {value!r}")
    try:
        seconds = Fraction(repr(value)) if isinstance(value, float) else Fraction(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, ZeroDivisionError):
        raise AudioFormatError(f"{what} must be a positive number of seconds; got {value!r}") from None
    if seconds <= 0:
        raise AudioFormatError(f"{what} must be a positive number of seconds; got {value!r}")
    return seconds


def max_frames_for(duration_s: object, rate_hz: int) -> int:
    """Input frames a duration limit keeps: floor(duration_s × rate_hz), the whole frames that
    fit in it (`-t 1` at 44100 Hz keeps 44100 frames; `-t 0.5` at 11025 Hz keeps 5512)."""
    return math.floor(exact_seconds(duration_s) * rate_hz)


class _Pipeline:
    """One pass over a source: channel choice (or the mean) → resampler, up to a frame limit.
    Iterating yields float64 mono blocks at the format's rate, before gain and rounding."""

    def __init__(self, src: AudioSource, fmt: AudioFormat, quality: QualityName, channel: int | None,
                 max_frames: int | None, progress: Callable[[int, int | None], object] | None = None,
                 total_frames: int | None = None, read_ahead: bool = False) -> None:
        if channel is not None and (isinstance(channel, bool) or not isinstance(channel, int)
                                    or not 0 <= channel < src.channels):
            raise AudioFormatError(
                f"{src.name}: channel {channel!r} does not exist; it has {src.channels} channel(s), "
                f"numbered 0 to {src.channels - 1}"
            )
        if max_frames is not None and max_frames < 1:
            raise AudioFormatError(f"{src.name}: the duration limit keeps no whole frame at {src.rate} Hz")
        self.src, self.channel, self.max_frames, self.progress = src, channel, max_frames, progress
        self.total = total_frames if max_frames is None else min(max_frames, total_frames or max_frames)
        # threads=0: long files on every core (the same samples as one thread)
        self.resampler = None if src.rate == fmt.rate_hz else Resampler(src.rate, fmt.rate_hz, quality, threads=0)
        self.frames_in = 0
        self.read_ahead = read_ahead

    def __iter__(self) -> Iterator[np.ndarray]:
        src, limit = self.src, self.max_frames
        blocks = _read_ahead(src.blocks()) if self.read_ahead else src.blocks()
        try:
            yield from self._pass(blocks, limit)
        finally:
            close = getattr(blocks, "close", None)
            if callable(close):
                close()  # stops a read-ahead thread at once, also when the limit ended the pass
        if self.frames_in == 0:
            raise FileFormatError(f"{src.name}: no audio frames")
        if self.resampler is not None:
            yield self.resampler.flush()

    def _pass(self, blocks: Iterator[np.ndarray], limit: int | None) -> Iterator[np.ndarray]:
        for block in blocks:
            if limit is not None and self.frames_in + block.shape[0] > limit:
                block = block[: limit - self.frames_in]
            self.frames_in += block.shape[0]
            if self.channel is not None:
                mono = np.ascontiguousarray(block[:, self.channel])
            else:
                mono = block[:, 0] if block.shape[1] == 1 else channel_mean(block)
            yield mono if self.resampler is None else self.resampler.process(mono)
            if self.progress is not None:
                self.progress(self.frames_in, self.total)
            if limit is not None and self.frames_in >= limit:
                return  # not one read more: the input may be endless


def _known_frames(src: AudioSource, source: object, raw: RawSpec | None) -> int | None:
    """The source's frame count if its header or size tells it (raw files: size / frame size)."""
    if src.frames is not None:
        return src.frames
    if raw is None or src.container != "RAW" or not isinstance(source, (str, os.PathLike)) or str(source) == "-":
        return None
    try:
        size = os.stat(source).st_size
    except OSError:
        return None
    fmt_name, _, channels = raw.resolved()
    if fmt_name in FORMATS:
        frame_bytes = FORMATS[fmt_name].bytes_per_sample * channels
    else:
        frame_bytes = np.dtype(_RAW_PCM[fmt_name][0]).itemsize * channels
    return size // frame_bytes or None


def convert_file(
    source: PathLike,
    destination: PathLike,
    to: str | AudioFormat,
    *,
    container: str | None = None,
    quality: QualityName = "hq",
    raw: RawSpec | None = None,
    chunk_ms: int = 100,
    event_id_prefix: str | None = None,
    block_frames: int = BLOCK_FRAMES,
    progress: Callable[[int, int | None], object] | None = None,
    overwrite: bool = True,
    max_duration_s: object = None,
    channel: int | None = None,
    gain_db: float = 0.0,
    normalize_dbfs: float | None = None,
    ignore_errors: bool = False,
) -> ConvertResult:
    """Convert one audio file (or "-") to the session format `to`, as raw bytes, WAV or JSONL.

    The output never replaces the input (OutputError); with `overwrite=False` it never replaces
    any existing file (OutputExistsError). `max_duration_s` keeps the first
    floor(max_duration_s × input rate) frames. `channel` (0-based) takes one channel instead of
    the mean of all. `gain_db` scales the samples before the one rounding to int16;
    `normalize_dbfs` instead scales so the output's peak is at that level (dBFS): it reads the
    input twice, so it needs a file, not stdin. `progress`, if given, is called after each
    block with (input frames done, input frames expected or None when unknown).
    A damaged or cut-short input raises DamagedFileError (and writes nothing) unless
    `ignore_errors`, which converts what can be read and lists the loss in `warnings`.
    """
    fmt = get_format(to)
    kind = container_for(destination, container)
    source_name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else "-"
    dest_name = os.fspath(destination)
    if source_name != "-":
        plan_outputs([(source_name, dest_name)], "overwrite" if overwrite else "error")
    gain = _gain(gain_db, "gain_db")
    if normalize_dbfs is not None:
        if source_name == "-":
            raise AudioFormatError("normalize reads the input twice: it needs a file, not stdin")
        gain = _normalizing_gain(source, fmt, quality, raw, block_frames, channel, max_duration_s, normalize_dbfs, ignore_errors)
    with open_source(source, raw, block_frames, ignore_errors=ignore_errors) as src:
        max_frames = None if max_duration_s is None else max_frames_for(max_duration_s, src.rate)
        pipe = _Pipeline(
            src, fmt, quality, channel, max_frames, progress, _known_frames(src, source, raw), read_ahead=_is_regular_file(source)
        )
        samples_out = n_clipped = 0
        bytes_per_sample = fmt.bytes_per_sample * (2 if kind == "jsonl" else 1)  # base64 and JSON: < 2x
        with atomic_output(destination, overwrite=overwrite) as out:
            guard = SpaceGuard(out, dest_name)
            if pipe.total is not None:
                guard.check(output_length(pipe.total, src.rate, fmt.rate_hz) * bytes_per_sample)
            sink = SINKS[kind](out, fmt, chunk_ms=chunk_ms, event_id_prefix=event_id_prefix)
            for y in pipe:
                ints, clipped = _to_int16(y if gain == 1.0 else y * gain)
                guard.check(ints.shape[0] * bytes_per_sample)
                sink.write(ints)
                samples_out += ints.shape[0]
                n_clipped += clipped
            sink.close()
        frames_in = pipe.frames_in
        assert samples_out == (frames_in if pipe.resampler is None else output_length(frames_in, src.rate, fmt.rate_hz))
    return ConvertResult(
        src.name,
        dest_name,
        fmt.name,
        kind,
        src.rate,
        src.channels,
        frames_in,
        samples_out,
        n_clipped,
        tuple(src.warnings),
        0.0 if gain == 1.0 else 20 * math.log10(gain),
    )


def _is_regular_file(source: object) -> bool:
    """Read ahead in a thread only from a regular file: a thread blocked on a silent pipe, FIFO
    or device could not be stopped (a signal or an error would wait for it forever)."""
    return isinstance(source, (str, os.PathLike)) and str(source) != "-" and os.path.isfile(source)


def _gain(db: object, what: str) -> float:
    if isinstance(db, bool) or not isinstance(db, (int, float)) or not math.isfinite(db) or abs(db) > 200:
        raise AudioFormatError(f"{what} must be a finite number of dB within ±200; got {db!r}")
    return 1.0 if db == 0 else float(10 ** (db / 20))


def _normalizing_gain(
    source: PathLike,
    fmt: AudioFormat,
    quality: QualityName,
    raw: RawSpec | None,
    block_frames: int,
    channel: int | None,
    max_duration_s: object,
    target_dbfs: float,
    ignore_errors: bool,
) -> float:
    """First pass of normalize: the peak of exactly what the second pass will round (after the
    channel choice, the resampler and the duration limit); the gain that puts it at target_dbfs."""
    target = _gain(target_dbfs, "normalize_dbfs")
    if target_dbfs > 0:
        raise AudioFormatError(f"normalize_dbfs must be at most 0 dBFS; got {target_dbfs!r}")
    with open_source(source, raw, block_frames, ignore_errors=ignore_errors) as src:
        max_frames = None if max_duration_s is None else max_frames_for(max_duration_s, src.rate)
        peak = 0.0
        for y in _Pipeline(src, fmt, quality, channel, max_frames, read_ahead=_is_regular_file(source)):
            if y.shape[0]:
                peak = max(peak, float(np.max(np.abs(y))))
    return target / peak if peak > 0 else 1.0


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
        except BaseException as exc:
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


_DECODE_EXTENSIONS = {".wav": "WAV", ".wave": "WAV", ".flac": "FLAC", ".pcm": "RAW", ".raw": "RAW"}


def _decode_container(destination: PathLike, container: str | None) -> str:
    if container is not None:
        kind = str(container).upper()
        if kind not in ("WAV", "FLAC", "RAW"):
            raise AudioFormatError(f"decode writes wav, flac or raw; got container {container!r}")
    elif str(destination) == "-":
        kind = "RAW"
    else:
        ext = Path(str(destination)).suffix.lower()
        if ext not in _DECODE_EXTENSIONS:
            raise AudioFormatError(f"decode writes .wav, .flac, .pcm or .raw; got {str(destination)!r}")
        kind = _DECODE_EXTENSIONS[ext]
    if kind == "FLAC" and str(destination) == "-":
        raise AudioFormatError("FLAC cannot be written to stdout (its header is written last); use wav or raw")
    return kind


@dataclass(frozen=True)
class DecodeResult:
    """What decode_file did: samples written at rate_hz, audio delta events read (None for raw),
    and samples clipped when resampling overshot the int16 range."""

    source: str
    destination: str
    format: str
    rate_hz: int
    samples: int
    events: int | None
    clipped: int = 0


def decode_file(
    source: PathLike,
    destination: PathLike,
    from_format: str | AudioFormat,
    *,
    rate: int | None = None,
    quality: QualityName = "hq",
    block_bytes: int = 1 << 16,
    container: str | None = None,
    overwrite: bool = True,
) -> DecodeResult:
    """Model output (raw bytes, or JSON Lines of audio delta events) → WAV, FLAC or raw s16le.

    JSONL is recognised by its first non-blank byte "{"; every `response.audio.delta` /
    `response.output_audio.delta` is decoded in order (lines of any length, in bounded memory),
    other events are skipped. Input that holds no model audio is refused, naming what it is and
    the command that reads it: an audio file (WAV, MP3 …), events without deltas (the append
    events `convert` writes), an empty file. The output rate defaults to the format's own rate.
    `container` ("wav", "flac", "raw") defaults to the destination's extension; "-" (stdout)
    defaults to raw and takes WAV (a streamed header) but not FLAC. The output never replaces
    the input; with `overwrite=False` never any existing file.
    """
    import soundfile

    from ..realtime.events import AUDIO_DELTA_TYPES, field
    from ..realtime.streams import OutputDecoder
    from .jsonl_source import jsonl_audio
    from .sinks import WavSink

    fmt = get_format(from_format)
    out_rate = fmt.rate_hz if rate is None else check_rate("rate", rate)
    kind = _decode_container(destination, container)
    name = "<stdin>" if str(source) == "-" else str(source)
    if name != "<stdin>":
        plan_outputs([(str(source), str(destination))], "overwrite" if overwrite else "error")
    if name != "<stdin>" and not os.path.isfile(source):
        raise FileFormatError(f"{name}: no such file" if not os.path.exists(source) else f"{name}: not a regular file")
    decoder = OutputDecoder({"output_audio_format": fmt.name}, rate_hz=out_rate, quality=quality)
    n_samples = n_events = n_appends = 0
    with _input(source) as stream:
        head = stream.peek(4096)[:4096]  # type: ignore[attr-defined]  # a BufferedReader, file or stdin
        what = sniff(head)
        if what not in (None, "JSONL"):
            raise FileFormatError(not_raw_message(name, what, fmt.name, "decode"))
        with atomic_output(destination, overwrite=overwrite) as out:
            guard = SpaceGuard(out, str(destination))
            writer: Any = None
            if kind == "WAV":  # audiofmt's own header: also right on a pipe (sizes unknown)
                writer = WavSink(out, replace(FORMATS["pcm16"], rate_hz=out_rate))
            elif kind == "FLAC":
                writer = soundfile.SoundFile(out, "w", out_rate, 1, "PCM_16", format=kind)
            try:

                def emit(samples: np.ndarray) -> None:
                    nonlocal n_samples
                    guard.check(2 * samples.shape[0])
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
    return DecodeResult(
        name, str(destination), fmt.name, out_rate, n_samples, n_events if what == "JSONL" else None, decoder.n_clipped
    )


def _no_deltas_message(name: str, n_appends: int, fmt_name: str) -> str:
    if n_appends:
        return (
            f"{name} holds {n_appends} input_audio_buffer.append event(s) (audio sent to the model) and no "
            f"response audio deltas: `audiofmt convert {name} --raw-format {fmt_name} ...` reads appended audio"
        )
    return f"{name}: no response audio delta events (response.audio.delta / response.output_audio.delta)"


@contextmanager
def _input(source: PathLike) -> Iterator[BinaryIO]:
    """The input as a buffered binary stream (stdin is left open)."""
    if str(source) == "-":
        yield sys.stdin.buffer
        return
    with open(source, "rb") as stream:
        yield stream
