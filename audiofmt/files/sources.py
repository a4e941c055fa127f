"""Audio inputs, all read as float64 blocks of (frames, channels), full scale ±1.0.

Two readers, chosen by the file's content (files.content.sniff), never its name: libsndfile
(files.sndfile_source) for what it reads well (WAV incl. G.711/24-bit/float, RF64, W64, AIFF,
CAF, AU, FLAC), and FFmpeg through PyAV (files.av_source) for everything else (MP3, Ogg
Vorbis/Opus, AAC in M4A/MP4, WebM, AMR, WMA …) and for every container read from a pipe.
Headerless raw dumps are described by a RawSpec and JSON Lines of audio events are read as
one (files.raw_source, files.jsonl_source).

Errors name the file and what is wrong: empty, not audio, damaged or cut short (DamagedFileError:
decoded less than declared, or bad data), a container or event file given as raw, trailing
partial frames.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from .._checks import MAX_CHANNELS, check_int, check_rate
from .._moved import RenamedAttribute, renamed_keywords
from ..errors import AudioFormatError, DamagedFileError, FileFormatError, InvalidSamplesError
from ..formats import FORMATS
from .content import HEAD_BYTES, not_audio_message, not_raw_message, peek, raw_chunks, sniff

__all__ = [
    "FileFormatError",
    "DamagedFileError",
    "RawSpec",
    "AudioSource",
    "open_source",
    "sniff",
    "raw_chunks",
    "not_raw_message",
    "RAW_FORMATS",
    "BLOCK_FRAMES",
    "PathLike",
    "check_finite",
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


@dataclass(frozen=True)
class RawSpec:
    """A headerless input: a session format (pcm16, g711_ulaw, g711_alaw) or a PCM coding
    (s16le, s16be, s32le, f32le, f64le, u8) with its rate in Hz (session formats default to
    their own rate) and channel count."""

    format: str
    rate_hz: int | None = None
    channels: int = 1

    rate = RenamedAttribute("rate_hz")

    def resolved(self) -> tuple[str, int, int]:
        if self.format not in RAW_FORMATS:
            raise FileFormatError(f"unknown raw format {self.format!r}; expected one of {', '.join(RAW_FORMATS)}")
        rate = self.rate_hz if self.rate_hz is not None else FORMATS[self.format].rate_hz if self.format in FORMATS else None
        if rate is None:
            raise FileFormatError(f"raw format {self.format!r} needs a rate (Hz)")
        channels = check_int("raw channels", self.channels, 1, MAX_CHANNELS, error=FileFormatError)
        return self.format, check_rate("raw rate", rate), channels


RawSpec.__init__ = renamed_keywords(rate="rate_hz")(RawSpec.__init__)  # type: ignore[method-assign]

# (warnings to append to, whether to yield int16 instead of float64) -> blocks
BlockMaker = Callable[[list[str], bool], Iterator[np.ndarray]]


@dataclass
class AudioSource:
    """An open audio input: rate_hz, channels, frames (None when unknown), and blocks.

    Use it as a context manager (or call close()). `blocks()` starts from the beginning each
    time it is called on a file; a stream (stdin, a pipe) can be read once. `warnings` lists
    what `ignore_errors=True` let through (damage skipped, audio lost), filled while reading.
    """

    name: str
    rate_hz: int
    channels: int
    frames: int | None
    container: str
    subtype: str
    _make_blocks: BlockMaker = field(repr=False)
    _close: Callable[[], object] | None = field(repr=False, default=None)
    declared_frames: int | None = None
    warnings: list[str] = field(default_factory=list)
    int16_exact: bool = False  # the samples are 16-bit integers: blocks(int16=True) reads them as they are

    rate = RenamedAttribute("rate_hz")

    def blocks(self, int16: bool = False) -> Iterator[np.ndarray]:
        """float64 blocks of shape (frames, channels), full scale ±1.0. With `int16=True` (a source
        whose samples are 16-bit integers: `int16_exact`) the same samples as int16, each exactly
        32768 times the float64 one; decoding them costs less and so does their mean."""
        if int16 and not self.int16_exact:
            raise AudioFormatError(f"{self.name}: its samples ({self.subtype}) are not 16-bit integers; read them as float64")
        return self._make_blocks(self.warnings, int16)

    def close(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None

    def __enter__(self) -> AudioSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_finite(name: str, samples: np.ndarray, first_frame: int, rate_hz: int,
                 block: np.ndarray | None = None, channel: int | None = None) -> None:
    """Raise InvalidSamplesError naming the file, the frame (counted from the file's start), its
    time and its channel at the first NaN or ±inf in `samples`: a (frames, channels) block, or
    the mono taken from `block` (its mean, or its `channel`) that starts at frame `first_frame`."""
    finite = np.isfinite(samples)
    if finite.all():
        return
    i = int(np.argmin(finite if finite.ndim == 1 else finite.all(axis=1)))
    frame = samples if samples.ndim == 2 else block
    if channel is None and frame is not None and not np.isfinite(frame[i]).all():
        channel = int(np.argmin(np.isfinite(frame[i])))
    value = samples[i] if samples.ndim == 1 else samples[i, channel]
    where = "" if channel is None else f", channel {channel}"
    raise InvalidSamplesError(
        f"{name}: frame {first_frame + i} ({(first_frame + i) / rate_hz:.3f} s){where}, "
        f"is {'NaN' if np.isnan(value) else 'infinite'}; float samples must be finite"
    )


class _Unreadable(FileFormatError):
    """A reader could not open the file at all (another reader may). Internal: open_source
    turns it into a FileFormatError naming every reader's reason."""





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
            from .raw_source import open_raw

            return open_raw(name, stream, raw, block_frames, None)
        head = peek(stream)
        kind = sniff(head)
        refused = not_audio_message(name, kind)
        if refused:
            raise FileFormatError(refused)
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
            if kind == "CAF" and not seekable and b"free" in head:
                raise FileFormatError(
                    f"{name}: cannot read this CAF from a pipe: FFmpeg misreads its 'free' chunk (written by "
                    "libsndfile and sox) when it cannot seek; pass the file itself"
                ) from None
            raise FileFormatError(f"{name}: not a readable audio file ({exc})") from None
    if not os.path.exists(path):  # type: ignore[arg-type]
        raise FileFormatError(f"{name}: no such file")
    if os.path.isdir(path):  # type: ignore[arg-type]
        raise FileFormatError(f"{name}: is a directory, not an audio file")
    if raw is not None:
        handle: BinaryIO = open(path, "rb")  # type: ignore[arg-type,assignment]  # noqa: SIM115 - closed by AudioSource.close
        try:
            from .raw_source import open_raw

            source = open_raw(name, handle, raw, block_frames, lambda: handle.seek(0))
        except BaseException:
            handle.close()
            raise
        source._close = handle.close
        return source
    if os.path.getsize(path) == 0:  # type: ignore[arg-type]
        raise FileFormatError(f"{name}: the file is empty (0 bytes)")
    with open(path, "rb") as f:  # type: ignore[arg-type]
        head = f.read(HEAD_BYTES)
    kind = sniff(head)
    refused = not_audio_message(name, kind)
    if refused:
        raise FileFormatError(refused)
    from .sndfile_source import open_libsndfile

    # MP3 is FFmpeg's alone (see LIBSNDFILE_CONTAINERS); anything else FFmpeg cannot open gets libsndfile too
    readers = ([open_libsndfile, _open_av] if kind in LIBSNDFILE_CONTAINERS
               else [_open_av] if kind == "MP3" else [_open_av, open_libsndfile])
    failures = []
    for reader in readers:
        try:
            return reader(name, os.fspath(path), block_frames, ignore_errors, head)  # type: ignore[arg-type]
        except _Unreadable as exc:
            failures.append(str(exc))
    raise FileFormatError(f"{name}: not a readable audio file ({'; '.join(failures)})")



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
        int16_exact=info["int16_exact"],
    )
