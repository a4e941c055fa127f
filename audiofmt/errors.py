"""The exception hierarchy: every error audiofmt raises on bad input is an AudioFormatError.

Messages name the field or value at fault and say what was expected.
"""

from __future__ import annotations

import reprlib
from typing import Any

__all__ = [
    "AudioFormatError",
    "ClippingError",
    "ClippingWarning",
    "DamagedFileError",
    "EventError",
    "FileFormatError",
    "InvalidDataError",
    "InvalidRateError",
    "InvalidSamplesError",
    "OutputError",
    "OutputExistsError",
    "RtpError",
    "SessionError",
    "StreamStateError",
    "UnknownFormatError",
    "UsageError",
]

_short = reprlib.Repr()
_short.maxstring = _short.maxother = 80


def _show(value: object) -> str:
    """A short repr (repr itself can fail, e.g. for ints over 4300 digits)."""
    try:
        return _short.repr(value)
    except Exception:
        return f"<{type(value).__name__} that cannot be shown>"


def _printable(text: str) -> str:
    """`text`, or its repr when it holds line breaks or other unprintable characters."""
    return text if text.isprintable() else repr(text)


class AudioFormatError(ValueError):
    """Root of every error audiofmt raises because of bad input or misuse."""


class UnknownFormatError(AudioFormatError):
    """A format name that is not in the codec registry."""


class InvalidDataError(AudioFormatError):
    """Encoded bytes that cannot be what they claim (odd pcm16 length, wrong type, bad base64)."""


class InvalidSamplesError(AudioFormatError):
    """A sample array of the wrong dtype or shape, or holding NaN/inf."""


class InvalidRateError(AudioFormatError):
    """A sample rate that is not a positive integer in the supported range."""


class ClippingError(AudioFormatError):
    """Float samples outside [-1, 1) when the caller asked for clip='raise'."""


class StreamStateError(AudioFormatError):
    """A streaming object used out of order (process after flush, dtype change mid-stream)."""


class FileFormatError(AudioFormatError):
    """A file that cannot be read as audio, or a raw description that does not fit it."""


class DamagedFileError(FileFormatError):
    """A file whose audio is cut short or corrupt: fewer frames than its container declares,
    or bad data the decoder or demuxer refused. The message says how much was decoded."""


class SessionError(AudioFormatError):
    """A session that breaks the rules; `.problems` lists every (field path, value, allowed)."""

    def __init__(self, problems: list[tuple[str, object, str]]) -> None:
        self.problems = list(problems)
        lines = [f"{_printable(path) or '<session>'}: got {_show(value)}; expected {_printable(allowed)}"
                 for path, value, allowed in self.problems]
        super().__init__(f"invalid Realtime session ({len(lines)} problem(s)):\n  " + "\n  ".join(lines))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.problems,))


class EventError(AudioFormatError):
    """A server event that is not a JSON object with a string `type`, or lacks a needed field."""


class RtpError(AudioFormatError):
    """A datagram that is not a valid RTP packet, or packet fields out of range.

    `reason` is a short fixed string (for counters); the message adds the values at fault.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class UsageError(AudioFormatError):
    """A command line that cannot be carried out as given (the CLI's exit code 2)."""


class ClippingWarning(UserWarning):
    """Float samples were clipped to the int16 range while encoding."""


class OutputError(AudioFormatError):
    """An output that cannot be written where asked: it would replace an input, two jobs would
    share it, it exists (and overwriting was not allowed), its directory is missing, or its file
    system is nearly full. Messages name the path the caller gave, never a temporary file."""


class OutputExistsError(OutputError):
    """The output exists and overwriting was not allowed."""
