"""The libsndfile reader (through soundfile): WAV, RF64, W64, AIFF, CAF, AU, FLAC, in blocks.

A WAV whose header declares more data than the file holds is cut short (libsndfile alone would
silently shorten it); a read error part-way is damage. Both raise DamagedFileError unless
`ignore_errors`, which keeps what can be read and records the loss.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import DamagedFileError, FileFormatError
from .sources import AudioSource, _Unreadable

# libsndfile codings read as 16-bit integers, whose float reads are those integers / 32768 exactly
INT16_SUBTYPES = frozenset({"PCM_16", "ULAW", "ALAW"})


def open_libsndfile(name: str, path: str, block_frames: int, ignore_errors: bool, head: bytes) -> AudioSource:
    import soundfile

    try:
        handle = soundfile.SoundFile(path)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
        raise _Unreadable(f"libsndfile: {_libsndfile_message(exc)}") from None
    if handle.frames <= 0:
        handle.close()
        if _unfinished_wav(head, path):
            raise _Unreadable("libsndfile: the WAV header's data size is 0 but audio follows it")
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

    def blocks(warnings: list[str], int16: bool) -> Iterator[np.ndarray]:
        dtype = "int16" if int16 else "float64"
        nonlocal used
        if used:
            handle.seek(0)
        used = True
        n_read = 0
        try:
            while True:
                block = handle.read(block_frames, dtype=dtype, always_2d=True)
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
        int16_exact=handle.subtype in INT16_SUBTYPES,
    )


def _unfinished_wav(head: bytes, path: str) -> bool:
    """A WAV whose data chunk declares 0 bytes but has bytes after it: the header of a recording
    that was never completed (a writer that could not seek back, or stopped first). libsndfile
    reads no frames from it; FFmpeg, like sox, reads the audio to the end of the file."""
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return False
    at = 12
    while at + 8 <= len(head):
        size = int.from_bytes(head[at + 4 : at + 8], "little")
        if head[at : at + 4] == b"data":
            return size == 0 and os.path.getsize(path) > at + 8
        at += 8 + size + (size & 1)
    return False


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
