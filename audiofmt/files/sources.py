"""Audio inputs: any file libsndfile reads (container recognised by content), raw dumps described
by a RawSpec, and JSON Lines of audio events, all read as float64 blocks of (frames, channels).

Errors name the file and what is wrong: empty, truncated (a header promising more data than the
file holds), not audio, trailing partial frames.
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Union

import numpy as np

from ..codecs import decode
from ..errors import AudioFormatError
from ..formats import FORMATS
from ..resampler.core import _check_rate

__all__ = ["FileFormatError", "RawSpec", "AudioSource", "open_source", "RAW_FORMATS", "BLOCK_FRAMES", "PathLike"]

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
    from ..realtime.events import AUDIO_DELTA_TYPES, decode_audio, parse_event

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
