"""The exception hierarchy: every error audiofmt raises on bad input is an AudioFormatError.

Messages name the field or value at fault and say what was expected.
"""

from __future__ import annotations

__all__ = [
    "AudioFormatError",
    "UnknownFormatError",
    "InvalidDataError",
    "InvalidSamplesError",
    "InvalidRateError",
    "ClippingError",
    "StreamStateError",
    "ClippingWarning",
    "OutputError",
    "OutputExistsError",
]


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


class ClippingWarning(UserWarning):
    """Float samples were clipped to the int16 range while encoding."""


class OutputError(AudioFormatError):
    """An output that cannot be written where asked: it would replace an input, two jobs would
    share it, it exists (and overwriting was not allowed), its directory is missing, or its file
    system is nearly full. Messages name the path the caller gave, never a temporary file."""


class OutputExistsError(OutputError):
    """The output exists and overwriting was not allowed."""
