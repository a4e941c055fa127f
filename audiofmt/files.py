"""Files: read any audio file in blocks, convert it to a session format, decode model output.

Pipeline per file (`convert_file`): read blocks (libsndfile through soundfile, or a raw
description) → downmix to mono (the mean of the channels) → resample to the target format's
rate (streaming, so the result equals converting the whole array at once) → one rounding to
int16 (clipped samples are counted) → encode → raw bytes, WAV or JSON Lines of append events.
Memory stays bounded by the block size (MP3 excepted: see sources._READ_WHOLE). Outputs are written atomically: to a temporary file in
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

from .codecs import float_to_int16
from .errors import AudioFormatError
from .formats import AudioFormat, get_format
from .resampler import Resampler, _check_rate, channel_mean, output_length
from .sinks import CONTAINER_EXTENSIONS, SINKS
from .sources import BLOCK_FRAMES, AudioSource, FileFormatError, PathLike, RawSpec, open_source

__all__ = [
    "FileFormatError",
    "RawSpec",
    "AudioSource",
    "open_source",
    "ConvertResult",
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
    """What a conversion did: frames read, samples written, clipped samples, seconds of audio."""

    source: str
    destination: str
    format: str
    container: str
    rate_in: int
    channels_in: int
    frames_in: int
    samples_out: int
    n_clipped: int

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
) -> ConvertResult:
    """Convert one audio file (or "-") to the session format `to`, as raw bytes, WAV or JSONL.

    `progress`, if given, is called with the number of input frames of each block read.
    """
    fmt = get_format(to)
    kind = container_for(destination, container)
    src = open_source(source, raw, block_frames)
    try:
        resampler = None if src.rate == fmt.rate_hz else Resampler(src.rate, fmt.rate_hz, quality, threads=0)  # all cores
        frames_in = samples_out = n_clipped = 0
        with atomic_output(destination) as out:
            sink = SINKS[kind](out, fmt, chunk_ms=chunk_ms, event_id_prefix=event_id_prefix)
            for block in src.blocks():
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
    finally:
        src.close()
    return ConvertResult(
        src.name, str(destination), fmt.name, kind, src.rate, src.channels, frames_in, samples_out, n_clipped
    )


def _to_int16(x: np.ndarray) -> tuple[np.ndarray, int]:
    if x.shape[0] == 0:
        return np.zeros(0, dtype=np.int16), 0
    return float_to_int16(np.ascontiguousarray(x, dtype=np.float64), clip="ignore")


def probe(path: PathLike, raw: RawSpec | None = None) -> dict[str, object]:
    """container, subtype, rate_hz, channels, frames, duration_s, peak_dbfs, rms_dbfs of a file."""
    src = open_source(path, raw)
    try:
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
        }
    finally:
        src.close()


def decode_file(
    source: PathLike,
    destination: PathLike,
    from_format: str | AudioFormat,
    *,
    rate: int | None = None,
    quality: str = "hq",
    block_bytes: int = 1 << 16,
) -> dict[str, object]:
    """Model output (raw bytes, or JSON Lines of audio delta events) → WAV, FLAC or raw s16le.

    JSONL is recognised by its first non-blank byte "{"; every `response.audio.delta` /
    `response.output_audio.delta` is decoded in order, other events are skipped. The output
    rate defaults to the format's own rate.
    """
    import soundfile

    from .realtime import OutputDecoder

    fmt = get_format(from_format)
    out_rate = fmt.rate_hz if rate is None else _check_rate("rate", rate)
    name = "<stdin>" if str(source) == "-" else str(source)
    stream = sys.stdin.buffer if str(source) == "-" else open(source, "rb")  # noqa: SIM115
    ext = Path(str(destination)).suffix.lower()
    kind = {".wav": "WAV", ".flac": "FLAC", ".pcm": "RAW", ".raw": "RAW"}.get(ext)
    if kind is None:
        raise AudioFormatError(f"decode writes .wav, .flac, .pcm or .raw; got {str(destination)!r}")
    decoder = OutputDecoder({"output_audio_format": fmt.name}, rate=out_rate, quality=quality)
    n_samples = n_events = 0
    try:
        head = stream.read(block_bytes)
        is_jsonl = head.lstrip()[:1] == b"{"
        with atomic_output(destination) as out:
            writer = None if kind == "RAW" else soundfile.SoundFile(out, "w", out_rate, 1, "PCM_16", format=kind)
            try:
                write = out.write if writer is None else None

                def emit(samples: np.ndarray) -> None:
                    nonlocal n_samples
                    n_samples += samples.shape[0]
                    if writer is None:
                        write(samples.astype("<i2").tobytes())  # type: ignore[misc]
                    else:
                        writer.write(samples)

                if is_jsonl:
                    buffer = head
                    line_no = 0
                    while True:
                        more = stream.read(block_bytes)
                        buffer += more
                        lines = buffer.split(b"\n")
                        buffer = lines.pop() if more else b""
                        for line in lines + ([] if more or not buffer else [buffer]):
                            line_no += 1
                            if line.strip():
                                try:
                                    emit(decoder.process(line))
                                except AudioFormatError as exc:
                                    raise AudioFormatError(f"{name}, line {line_no}: {exc}") from None
                                n_events += 1
                        if not more:
                            break
                    emit(decoder.flush())
                else:
                    data, carry = head, b""
                    while data:
                        data = carry + data
                        usable = len(data) - len(data) % fmt.bytes_per_sample
                        carry = data[usable:]
                        if usable:
                            emit(decoder.feed(data[:usable]))
                        data = stream.read(block_bytes)
                    if carry:
                        raise AudioFormatError(f"{name}: odd trailing byte: {fmt.name} needs whole 2-byte samples")
                    emit(decoder.flush())
            finally:  # close the writer before the temporary file is closed or removed
                if writer is not None:
                    writer.close()

    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    return {"source": name, "destination": str(destination), "format": fmt.name, "rate_hz": out_rate,
            "samples": n_samples, "events": n_events if is_jsonl else None}

