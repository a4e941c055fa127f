"""Files: read any audio file in blocks, convert it to a session format, decode model output.

Pipeline per file (`convert_file`): read blocks (libsndfile through soundfile, or a raw
description) → downmix to mono (the mean of the channels) → resample to the target format's
rate (streaming, so the result equals converting the whole array at once) → one rounding to
int16 (clipped samples are counted) → encode → raw bytes, WAV or JSON Lines of append events.
Memory stays bounded by the block size (MP3 excepted: see _READ_WHOLE). Outputs are written atomically: to a temporary file in
the destination directory, renamed into place only when complete.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np

from .codecs import decode, float_to_int16
from .errors import AudioFormatError
from .formats import FORMATS, AudioFormat, get_format
from .resampler import Resampler, _check_rate, channel_mean, output_length
from .sinks import CONTAINER_EXTENSIONS, SINKS

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

PathLike = Union[str, os.PathLike]
BLOCK_FRAMES = 1 << 16
# raw sample codings: numpy dtype and the divisor to full scale ±1.0
_RAW_PCM = {
    "s16le": ("<i2", 32768.0),
    "s16be": (">i2", 32768.0),
    "s32le": ("<i4", 2147483648.0),
    "f32le": ("<f4", 1.0),
    "f64le": ("<f8", 1.0),
    "u8": ("u1", None),
}
RAW_FORMATS = (*FORMATS, *_RAW_PCM)
# libsndfile 1.2.2's MP3 decoder returns wrong samples when a file is read in several calls
# (RMS error 3e-4 to 4e-3 against ffmpeg; one whole-file read matches ffmpeg to 5e-8), so MP3
# is read in one call (as float32, which MP3 does not exceed) and then cut into blocks.
_READ_WHOLE = frozenset({"MP3"})


class FileFormatError(AudioFormatError):
    """A file that cannot be read as audio, or a raw description that does not fit it."""


@dataclass(frozen=True)
class RawSpec:
    """A headerless input: a session format (pcm16, g711_ulaw, g711_alaw) or a PCM coding
    (s16le, s16be, s32le, f32le, f64le, u8) with its rate in Hz (session formats default to
    their own rate) and channel count."""

    format: str
    rate: int | None = None
    channels: int = 1

    def resolved(self) -> tuple[str, int, int]:
        if self.format not in RAW_FORMATS:
            raise FileFormatError(f"unknown raw format {self.format!r}; expected one of {', '.join(RAW_FORMATS)}")
        rate = self.rate if self.rate is not None else FORMATS[self.format].rate_hz if self.format in FORMATS else None
        if rate is None:
            raise FileFormatError(f"raw format {self.format!r} needs a rate (Hz)")
        if isinstance(self.channels, bool) or not isinstance(self.channels, int) or self.channels < 1:
            raise FileFormatError(f"raw channels must be a positive integer; got {self.channels!r}")
        return self.format, _check_rate("raw rate", rate), self.channels


@dataclass
class AudioSource:
    """An open audio input: rate (Hz), channels, frames (None when unknown), and blocks."""

    name: str
    rate: int
    channels: int
    frames: int | None
    container: str
    subtype: str
    _blocks: Iterator[np.ndarray] = field(repr=False)
    _close: object = field(repr=False, default=None)

    def blocks(self) -> Iterator[np.ndarray]:
        """float64 blocks of shape (frames, channels), full scale ±1.0."""
        return self._blocks

    def close(self) -> None:
        if callable(self._close):
            self._close()


def _open_jsonl(name: str, stream: BinaryIO, spec: RawSpec, block_frames: int) -> AudioSource:
    """JSON Lines of audio events (`input_audio_buffer.append` "audio", or audio deltas "delta"),
    their payloads read as `spec.format`; other events are skipped."""
    from .events import AUDIO_DELTA_TYPES, decode_audio, parse_event

    fmt_name, rate, channels = spec.resolved()
    if fmt_name not in FORMATS or channels != 1:
        raise FileFormatError(f"{name}: JSONL events carry a mono session format; got --raw-format {fmt_name}")

    def blocks() -> Iterator[np.ndarray]:
        pending = b""
        for line_no, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                event = parse_event(line)
                key = "audio" if event["type"] == "input_audio_buffer.append" else "delta" if event["type"] in AUDIO_DELTA_TYPES else None
                if key is None:
                    continue
                pending += decode_audio(event.get(key), f"{event['type']}.{key}")
            except AudioFormatError as exc:
                raise FileFormatError(f"{name}, line {line_no}: {exc}") from None
            if len(pending) >= block_frames * FORMATS[fmt_name].bytes_per_sample:
                usable = len(pending) - len(pending) % FORMATS[fmt_name].bytes_per_sample
                yield _raw_to_float(pending[:usable], fmt_name, 1)
                pending = pending[usable:]
        if pending:
            yield _raw_to_float(pending, fmt_name, 1)

    return AudioSource(name, rate, 1, None, "JSONL", fmt_name, blocks())


def _open_raw(name: str, stream: BinaryIO, spec: RawSpec, block_frames: int) -> AudioSource:
    if stream.peek(64)[:64].lstrip()[:1] == b"{" if hasattr(stream, "peek") else False:
        return _open_jsonl(name, stream, spec, block_frames)
    fmt_name, rate, channels = spec.resolved()
    if fmt_name in FORMATS:
        fmt = FORMATS[fmt_name]
        frame_bytes = fmt.bytes_per_sample * channels
    else:
        dtype, _ = _RAW_PCM[fmt_name]
        frame_bytes = np.dtype(dtype).itemsize * channels

    def blocks() -> Iterator[np.ndarray]:
        carry = b""
        while True:
            data = stream.read(block_frames * frame_bytes)
            if not data:
                break
            data = carry + data
            usable = len(data) - len(data) % frame_bytes
            carry = data[usable:]
            yield _raw_to_float(data[:usable], fmt_name, channels)
        if carry:
            raise FileFormatError(
                f"{name}: {len(carry)} trailing byte(s) are not a whole {fmt_name} frame of {frame_bytes} bytes"
            )

    return AudioSource(name, rate, channels, None, "RAW", fmt_name, blocks())


def _raw_to_float(data: bytes, fmt_name: str, channels: int) -> np.ndarray:
    if fmt_name in FORMATS:
        samples = decode(data, fmt_name).astype(np.float64) * (1 / 32768)
    else:
        dtype, scale = _RAW_PCM[fmt_name]
        raw = np.frombuffer(data, dtype=dtype)
        samples = (raw.astype(np.float64) - 128) / 128 if scale is None else raw.astype(np.float64) / scale
    return samples.reshape(-1, channels)


def open_source(path: PathLike | BinaryIO, raw: RawSpec | None = None, block_frames: int = BLOCK_FRAMES) -> AudioSource:
    """Open an audio file (container detected from its content by libsndfile) or raw input.

    `path` "-" reads standard input. Errors name the file and what is wrong.
    """
    import soundfile

    name = "<stdin>" if path == "-" else str(getattr(path, "name", path))
    if raw is not None:
        if path == "-" or hasattr(path, "read"):
            return _open_raw(name, sys.stdin.buffer if path == "-" else path, raw, block_frames)  # type: ignore[arg-type]
        stream = open(path, "rb")  # noqa: SIM115 - closed by AudioSource.close
        source = _open_raw(name, stream, raw, block_frames)
        source._close = stream.close
        return source
    target: object = io.BytesIO(sys.stdin.buffer.read()) if path == "-" else path
    if isinstance(target, (str, os.PathLike)):
        if not os.path.exists(target):
            raise FileFormatError(f"{name}: no such file")
        if os.path.getsize(target) == 0:
            raise FileFormatError(f"{name}: the file is empty (0 bytes)")
    try:
        handle = soundfile.SoundFile(target)  # type: ignore[arg-type]
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
        raise FileFormatError(f"{name}: not a readable audio file ({_libsndfile_message(exc)})") from None
    if handle.frames <= 0:
        handle.close()
        raise FileFormatError(f"{name}: no audio frames (truncated or empty {handle.format} file)")
    problem = _truncation(handle)
    if problem:
        handle.close()
        raise FileFormatError(f"{name}: {problem}")

    def blocks() -> Iterator[np.ndarray]:
        try:
            if handle.format in _READ_WHOLE:
                whole = handle.read(dtype="float32", always_2d=True)
                for start in range(0, whole.shape[0], block_frames):
                    yield whole[start : start + block_frames].astype(np.float64)
                return
            while True:
                block = handle.read(block_frames, dtype="float64", always_2d=True)
                if block.shape[0] == 0:
                    return
                yield block
        except (soundfile.LibsndfileError, RuntimeError) as exc:
            raise FileFormatError(f"{name}: read failed ({_libsndfile_message(exc)})") from None

    return AudioSource(name, handle.samplerate, handle.channels, handle.frames, handle.format, handle.subtype, blocks(), handle.close)


def _libsndfile_message(exc: Exception) -> str:
    text = str(exc)
    return text.split(": ", 1)[-1] if text.startswith("Error opening") else text


_DATA_SIZE = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
_STREAMED_SIZES = (0, 0x7FFFFFFF, 0xFFFFFFFF)  # what writers that cannot seek put in the header


def _truncation(handle: object) -> str | None:
    """libsndfile opens a WAV whose data chunk runs past the end of the file and silently
    shortens it; its log says "data : N (should be M)". Report that instead of converting
    part of a file. Sizes that mark a streamed WAV (unknown length) are not truncation."""
    match = _DATA_SIZE.search(getattr(handle, "extra_info", "") or "")
    if match:
        declared, present = int(match.group(1)), int(match.group(2))
        if declared > present and declared not in _STREAMED_SIZES:
            return f"truncated: the header declares {declared} bytes of audio data but only {present} are present"
    return None


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
        resampler = None if src.rate == fmt.rate_hz else Resampler(src.rate, fmt.rate_hz, quality)
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

