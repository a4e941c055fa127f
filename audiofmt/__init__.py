"""audiofmt: audio codecs and format conversion for realtime voice APIs.

The public API loads lazily: `import audiofmt` imports neither numba nor any kernel; the first
use of a function that needs one loads it (and numba's on-disk cache makes that fast).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import (
    AudioFormatError,
    ClippingError,
    ClippingWarning,
    InvalidDataError,
    InvalidRateError,
    InvalidSamplesError,
    OutputError,
    OutputExistsError,
    StreamStateError,
    UnknownFormatError,
)
from .formats import FORMATS, AudioFormat, get_format

__version__ = "0.1.0"

# public name -> module that defines it, imported on first access
_LAZY = {
    "encode": "codecs",
    "decode": "codecs",
    "transcode": "codecs",
    "float_to_int16": "codecs",
    "resample": "resampler",
    "Resampler": "resampler",
    "downmix": "resampler",
    "output_length": "resampler",
    "Session": "session",
    "SessionError": "session",
    "InputEncoder": "realtime",
    "OutputDecoder": "realtime",
    "convert_file": "files",
    "decode_file": "files",
    "RawSpec": "files",
}

__all__ = [
    "AudioFormat",
    "AudioFormatError",
    "ClippingError",
    "ClippingWarning",
    "FORMATS",
    "InvalidDataError",
    "InvalidRateError",
    "InvalidSamplesError",
    "OutputError",
    "OutputExistsError",
    "StreamStateError",
    "UnknownFormatError",
    "get_format",
    *_LAZY,
]

if TYPE_CHECKING:
    from .codecs import decode, encode, float_to_int16, transcode
    from .resampler import Resampler, downmix, output_length, resample
    from .files import RawSpec, convert_file, decode_file
    from .realtime import InputEncoder, OutputDecoder
    from .session import Session, SessionError


# submodules reachable as attributes (audiofmt.events.truncate_event …), imported on first access
_SUBMODULES = frozenset({"codecs", "events", "files", "batch", "session", "realtime", "resampler", "filters", "sinks", "outputs"})


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return import_module(f".{name}", __name__)
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'audiofmt' has no attribute {name!r}")
    value = getattr(import_module(f".{module_name}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
