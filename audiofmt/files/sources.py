"""Audio inputs, all read as float64 blocks of (frames, channels), full scale ±1.0.

Two readers, chosen by the file's content, never its name: libsndfile (through soundfile) for
what it reads well (WAV incl. G.711/24-bit/float, RF64, W64, AIFF, CAF, AU, FLAC), and FFmpeg
(through PyAV, audiofmt.av_source) for everything else (MP3, Ogg Vorbis/Opus, AAC in M4A/MP4,
WebM, AMR, WMA …) and for every container read from a pipe. Headerless raw dumps are described
by a RawSpec; JSON Lines of audio events are read by audiofmt.jsonl_source.

Errors name the file and what is wrong: empty, not audio, damaged or cut short (DamagedFileError:
decoded less than declared, or bad data), a container or event file given as raw, trailing
partial frames.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np

from .._checks import check_rate
from ..codecs import decode, int16_to_float
from ..errors import (
    DamagedFileError,
    FileFormatError,
    StreamStateError,
)
from ..formats import FORMATS

__all__ = [
    "FileFormatError",
    "DamagedFileError",
    "RawSpec",
    "AudioSource",
    "open_source",
    "sniff",
    "raw_chunks",
    "RAW_FORMATS",
    "BLOCK_FRAMES",
    "PathLike",
]

PathLike = str | os.PathLike[str]
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
# Containers libsndfile reads well, by their sniffed name. Everything else goes to FFmpeg, MP3
# included: libsndfile 1.2.2's MP3 decoder returns wrong samples when a file is read in several
# calls (RMS error 3e-4 to 4e-3 against ffmpeg), so it could only read MP3 whole.
LIBSNDFILE_CONTAINERS = frozenset({"WAV", "RF64", "W64", "AIFF", "CAF", "AU", "FLAC"})
_HEAD_BYTES = 4096


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
        return self.format, check_rate("raw rate", rate), self.channels


BlockMaker = Callable[[list[str]], Iterator[np.ndarray]]


@dataclass
class AudioSource:
    """An open audio input: rate (Hz), channels, frames (None when unknown), and blocks.

    Use it as a context manager (or call close()). `blocks()` starts from the beginning each
    time it is called on a file; a stream (stdin, a pipe) can be read once. `warnings` lists
    what `ignore_errors=True` let through (damage skipped, audio lost), filled while reading.
    """

    name: str
    rate: int
    channels: int
    frames: int | None
    container: str
    subtype: str
    _make_blocks: BlockMaker = field(repr=False)
    _close: Callable[[], object] | None = field(repr=False, default=None)
    declared_frames: int | None = None
    warnings: list[str] = field(default_factory=list)

    def blocks(self) -> Iterator[np.ndarray]:
        """float64 blocks of shape (frames, channels), full scale ±1.0."""
        return self._make_blocks(self.warnings)

    def close(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None

    def __enter__(self) -> AudioSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Unreadable(FileFormatError):
    """A reader could not open the file at all (another reader may)."""


# --- recognising content -------------------------------------------------------------------

_W64_GUID = b"riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb\x04\xc1\x00\x00"
_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_MP3_KBPS = {1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
             2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mp3_frame_bytes(head: bytes, pos: int) -> int:
    """Length of the MPEG-1/2/2.5 Layer III frame whose header starts at `pos`, 0 if none."""
    if len(head) < pos + 4 or head[pos] != 0xFF or head[pos + 1] & 0xE0 != 0xE0:
        return 0
    version, layer = (head[pos + 1] >> 3) & 3, (head[pos + 1] >> 1) & 3
    bitrate_index, rate_index = head[pos + 2] >> 4, (head[pos + 2] >> 2) & 3
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return 0
    kbps = _MP3_KBPS[1 if version == 3 else 2][bitrate_index]
    rate = _MP3_RATES[version][rate_index]
    return (144 if version == 3 else 72) * kbps * 1000 // rate + ((head[pos + 2] >> 1) & 1)


def _adts_frame_bytes(head: bytes, pos: int) -> int:
    if len(head) < pos + 7 or head[pos] != 0xFF or head[pos + 1] & 0xF6 != 0xF0:
        return 0
    return ((head[pos + 3] & 3) << 11) | (head[pos + 4] << 3) | (head[pos + 5] >> 5)


def sniff(head: bytes) -> str | None:
    """The container a file's first bytes announce ("WAV", "MP3", "OGG", "MP4", "JSONL" …), or None.

    Bare MPEG audio and ADTS AAC need two consecutive valid frame headers, so raw μ-law or
    PCM that happens to start with 0xFF is not taken for them.
    """
    if head[8:12] == b"WAVE" and head[:4] in (b"RIFF", b"RIFX"):
        return "WAV"
    if head[8:12] == b"WAVE" and head[:4] in (b"RF64", b"BW64"):
        return "RF64"
    if head[:16] == _W64_GUID:
        return "W64"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
    simple = {b"caff": "CAF", b".snd": "AU", b"fLaC": "FLAC", b"OggS": "OGG", b"\x1a\x45\xdf\xa3": "MATROSKA"}
    if head[:4] in simple:
        kind = simple[head[:4]]
        return "WEBM" if kind == "MATROSKA" and b"webm" in head[:64] else kind
    if head[:3] == b"ID3":
        return "MP3"
    if head[4:8] == b"ftyp":
        return "MP4"
    if head[:5] == b"#!AMR":
        return "AMR"
    if head[:16] == _ASF_GUID:
        return "ASF"
    for kind, frame_bytes in (("MP3", _mp3_frame_bytes), ("AAC", _adts_frame_bytes)):
        n = frame_bytes(head, 0)
        if n > 7 and frame_bytes(head, n):
            return kind
    if head.lstrip()[:1] == b"{":
        return "JSONL"
    return None


def _peek(stream: BinaryIO) -> bytes:
    peek = getattr(stream, "peek", None)
    return peek(_HEAD_BYTES)[:_HEAD_BYTES] if callable(peek) else b""


def not_raw_message(name: str, kind: str, fmt_name: str, command: str) -> str:
    """Why a container file is refused as headerless input, and which command reads it."""
    if command == "decode":
        return (f"{name} is a {kind} file, not raw {fmt_name} bytes: `audiofmt decode` reads raw model output "
                f"or JSONL deltas; `audiofmt convert {name} --to FORMAT` reads audio files")
    return f"{name} is a {kind} file, not raw {fmt_name} audio: leave out --raw-format and its header is read"


# --- headerless and event input ---------------------------------------------------------------

def raw_chunks(stream: BinaryIO, frame_bytes: int, chunk_frames: int, name: str, what: str) -> Iterator[bytes]:
    """Whole frames of a headerless stream, `chunk_frames` at a time; a trailing partial frame
    is an error naming `what` (the coding) and the frame size."""
    carry = b""
    while True:
        data = stream.read(chunk_frames * frame_bytes)
        if not data:
            break
        data = carry + data if carry else data
        usable = len(data) - len(data) % frame_bytes
        carry = data[usable:]
        if usable:
            yield data[:usable]
    if carry:
        raise FileFormatError(f"{name}: {len(carry)} trailing byte(s) are not a whole {what} frame of {frame_bytes} bytes")


def _once(name: str, make: Callable[[], Iterator[np.ndarray]], rewind: Callable[[], object] | None) -> BlockMaker:
    used = False

    def blocks(_: list[str]) -> Iterator[np.ndarray]:
        nonlocal used
        if used:
            if rewind is None:
                raise StreamStateError(f"{name}: a stream can be read only once")
            rewind()
        used = True
        return make()

    return blocks


def _open_jsonl(
    name: str, stream: BinaryIO, spec: RawSpec, block_frames: int, rewind: Callable[[], object] | None
) -> AudioSource:
    """JSON Lines of audio events (`input_audio_buffer.append` "audio", or audio deltas "delta"),
    their payloads read as `spec.format`; other events are skipped."""
    from .jsonl_source import jsonl_audio

    fmt_name, rate, channels = spec.resolved()
    if fmt_name not in FORMATS or channels != 1:
        raise FileFormatError(f"{name}: JSONL events carry a mono session format; got --raw-format {fmt_name}")
    sample_bytes = FORMATS[fmt_name].bytes_per_sample

    def blocks() -> Iterator[np.ndarray]:
        pending = bytearray()
        n_lines = n_audio = 0
        for line_no, _, audio in jsonl_audio(stream, name):
            n_lines = line_no
            if audio is None:
                continue
            n_audio += 1
            pending += audio
            if len(pending) >= block_frames * sample_bytes:
                usable = len(pending) - len(pending) % sample_bytes
                yield _raw_to_float(bytes(pending[:usable]), fmt_name, 1)
                del pending[:usable]
        if pending:
            yield _raw_to_float(bytes(pending), fmt_name, 1)
        if n_audio == 0:
            raise FileFormatError(
                f"{name}: no audio events (input_audio_buffer.append or response audio deltas) in {n_lines} line(s)"
            )

    return AudioSource(name, rate, 1, None, "JSONL", fmt_name, _once(name, blocks, rewind))


def _open_raw(name: str, stream: BinaryIO, spec: RawSpec, block_frames: int, rewind: Callable[[], object] | None) -> AudioSource:
    kind = sniff(_peek(stream))
    if kind == "JSONL":
        return _open_jsonl(name, stream, spec, block_frames, rewind)
    fmt_name, rate, channels = spec.resolved()
    if kind is not None:
        raise FileFormatError(not_raw_message(name, kind, fmt_name, "convert"))
    if fmt_name in FORMATS:
        frame_bytes = FORMATS[fmt_name].bytes_per_sample * channels
    else:
        frame_bytes = np.dtype(_RAW_PCM[fmt_name][0]).itemsize * channels

    def blocks() -> Iterator[np.ndarray]:
        for data in raw_chunks(stream, frame_bytes, block_frames, name, fmt_name):
            yield _raw_to_float(data, fmt_name, channels)

    return AudioSource(name, rate, channels, None, "RAW", fmt_name, _once(name, blocks, rewind))


def _raw_to_float(data: bytes, fmt_name: str, channels: int) -> np.ndarray:
    if fmt_name in FORMATS:
        samples = int16_to_float(decode(data, fmt_name))
    else:
        dtype, scale = _RAW_PCM[fmt_name]
        raw = np.frombuffer(data, dtype=dtype)
        samples = (raw.astype(np.float64) - 128) / 128 if scale is None else raw.astype(np.float64) / scale
    return samples.reshape(-1, channels)


# --- opening -----------------------------------------------------------------------------------


def open_source(
    path: PathLike | BinaryIO,
    raw: RawSpec | None = None,
    block_frames: int = BLOCK_FRAMES,
    *,
    ignore_errors: bool = False,
) -> AudioSource:
    """Open an audio file (its container recognised from its content) or a raw input.

    `path` "-" reads standard input; a binary stream is read as it comes (FFmpeg reads every
    container it can stream). Damaged or cut-short files raise DamagedFileError unless
    `ignore_errors`, which keeps what can be read and says what was lost in `warnings`.
    Errors name the file and what is wrong.
    """
    name = "<stdin>" if path == "-" else str(getattr(path, "name", path))
    is_stream = path == "-" or hasattr(path, "read")
    if is_stream:
        stream: BinaryIO = sys.stdin.buffer if path == "-" else path  # type: ignore[assignment]
        if raw is not None:
            return _open_raw(name, stream, raw, block_frames, None)
        head = _peek(stream)
        kind = sniff(head)
        if kind == "JSONL":
            raise FileFormatError(_events_message(name))
        try:
            return _open_av(name, stream, block_frames, ignore_errors, head)
        except (_Unreadable, DamagedFileError) as exc:
            seekable = getattr(stream, "seekable", lambda: False)()
            if kind == "MP4" and not seekable:
                raise FileFormatError(
                    f"{name}: cannot read this MP4/M4A from a pipe: its index (moov) is not before "
                    "the audio, so FFmpeg would have to seek back; pass the file itself"
                ) from None
            if isinstance(exc, DamagedFileError):
                raise
            raise FileFormatError(f"{name}: not a readable audio file ({exc})") from None
    if not os.path.exists(path):  # type: ignore[arg-type]
        raise FileFormatError(f"{name}: no such file")
    if os.path.isdir(path):  # type: ignore[arg-type]
        raise FileFormatError(f"{name}: is a directory, not an audio file")
    if raw is not None:
        handle: BinaryIO = open(path, "rb")  # type: ignore[arg-type,assignment]  # noqa: SIM115 - closed by AudioSource.close
        try:
            source = _open_raw(name, handle, raw, block_frames, lambda: handle.seek(0))
        except BaseException:
            handle.close()
            raise
        source._close = handle.close
        return source
    if os.path.getsize(path) == 0:  # type: ignore[arg-type]
        raise FileFormatError(f"{name}: the file is empty (0 bytes)")
    with open(path, "rb") as f:  # type: ignore[arg-type]
        head = f.read(_HEAD_BYTES)
    kind = sniff(head)
    if kind == "JSONL":
        raise FileFormatError(_events_message(name))
    readers = [_open_libsndfile, _open_av] if kind in LIBSNDFILE_CONTAINERS else [_open_av, _open_libsndfile]
    failures = []
    for reader in readers:
        try:
            return reader(name, os.fspath(path), block_frames, ignore_errors, head)  # type: ignore[arg-type]
        except _Unreadable as exc:
            failures.append(str(exc))
    raise FileFormatError(f"{name}: not a readable audio file ({failures[0]}; {failures[1]})")


def _events_message(name: str) -> str:
    return (
        f"{name} holds JSON Lines of realtime events, not an audio file: read their audio with "
        "--raw-format pcm16|g711_ulaw|g711_alaw (RawSpec) naming the events' format"
    )


def _open_av(name: str, target: str | BinaryIO, block_frames: int, ignore_errors: bool, head: bytes) -> AudioSource:
    from .av_source import _AvUnreadable, open_av

    try:
        info, make_blocks, close = open_av(name, target, block_frames, ignore_errors=ignore_errors, head=head)
    except _AvUnreadable as exc:
        raise _Unreadable(f"FFmpeg: {exc}") from None
    return AudioSource(
        name,
        info["rate"],
        info["channels"],
        info["frames"],
        info["container"],
        info["subtype"],
        make_blocks,
        close,
        info["declared_frames"],
    )


def _open_libsndfile(name: str, path: str, block_frames: int, ignore_errors: bool, head: bytes) -> AudioSource:
    import soundfile

    try:
        handle = soundfile.SoundFile(path)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
        raise _Unreadable(f"libsndfile: {_libsndfile_message(exc)}") from None
    if handle.frames <= 0:
        handle.close()
        raise FileFormatError(f"{name}: no audio frames (truncated or empty {handle.format} file)")
    rate, present = handle.samplerate, handle.frames
    declared = _declared_frames(handle)
    cut = declared is not None and declared > present
    if cut and not ignore_errors:
        handle.close()
        raise DamagedFileError(
            f"{name}: truncated: the header declares {_amount(declared, rate)} "  # type: ignore[arg-type]
            f"but only {_amount(present, rate)} are present"
        )
    used = False

    def blocks(warnings: list[str]) -> Iterator[np.ndarray]:
        nonlocal used
        if used:
            handle.seek(0)
        used = True
        n_read = 0
        try:
            while True:
                block = handle.read(block_frames, dtype="float64", always_2d=True)
                if block.shape[0] == 0:
                    break
                n_read += block.shape[0]
                yield block
        except (soundfile.LibsndfileError, RuntimeError) as exc:
            if not ignore_errors:
                raise DamagedFileError(
                    f"{name}: damaged: read error after {_amount(n_read, rate)} "
                    f"of {_amount(present, rate)} ({_libsndfile_message(exc)})"
                ) from None
            warnings.append(f"{name}: read error after {_amount(n_read, rate)} ({_libsndfile_message(exc)})")
        expected = declared if cut else present
        if expected is not None and n_read < expected:
            message = f"decoded {_amount(n_read, rate)} of {_amount(expected, rate)} declared"
            if not ignore_errors:
                raise DamagedFileError(f"{name}: damaged or cut short: {message}")
            warnings.append(
                f"{name}: damaged or cut short, kept what could be read: {message}, {_amount(expected - n_read, rate)} lost"
            )

    return AudioSource(
        name,
        rate,
        handle.channels,
        handle.frames,
        handle.format,
        handle.subtype,
        blocks,
        handle.close,
        declared if declared is not None else present,
    )


def _amount(n_frames: int, rate: int) -> str:
    return f"{n_frames} frames ({n_frames / rate:.3f} s)"


def _libsndfile_message(exc: Exception) -> str:
    text = str(exc)
    return text.split(": ", 1)[-1] if text.startswith("Error opening") else text


_DATA_SIZE = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
_STREAMED_SIZES = (0, 0x7FFFFFFF, 0xFFFFFFFF)  # what writers that cannot seek put in the header


def _declared_frames(handle: Any) -> int | None:
    """Frames a WAV's header declares when its data chunk runs past the end of the file.

    libsndfile opens such a file and silently shortens it; its log says "data : N (should be
    M)". Sizes that mark a streamed WAV (unknown length) declare nothing."""
    match = _DATA_SIZE.search(getattr(handle, "extra_info", "") or "")
    if match:
        declared, present = int(match.group(1)), int(match.group(2))
        if declared > present and declared not in _STREAMED_SIZES and handle.frames > 0:
            return declared // (present // handle.frames)
    return None
