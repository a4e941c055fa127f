"""audiofmt: audio codecs and format conversion for realtime voice APIs.

The public API loads lazily: `import audiofmt` imports neither numba nor any kernel; the first
use of a function that needs one loads it (and numba's on-disk cache makes that fast).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._moved import MOVED_MODULES, install_aliases
from .errors import (
    AudioFormatError,
    ClippingError,
    ClippingWarning,
    DamagedFileError,
    EventError,
    FileFormatError,
    InvalidDataError,
    InvalidRateError,
    InvalidSamplesError,
    OutputError,
    OutputExistsError,
    RtpError,
    SessionError,
    StreamStateError,
    UnknownFormatError,
    UsageError,
)
from .formats import FORMATS, AudioFormat, get_format

__version__ = "0.1.0"

# public name -> module that defines it, imported on first access
_LAZY = {
    "encode": "codecs",
    "decode": "codecs",
    "transcode": "codecs",
    "float_to_int16": "codecs",
    "int16_to_float": "codecs",
    "resample": "resampler.core",
    "Resampler": "resampler.core",
    "downmix": "resampler.core",
    "output_length": "resampler.core",
    "Session": "realtime.session",
    "InputEncoder": "realtime.encoder",
    "OutputDecoder": "realtime.decoder",
    "convert_file": "files.convert",
    "decode_file": "files.decode",
    "RawSpec": "files.sources",
}

__all__ = [
    "FORMATS",
    "AudioFormat",
    "AudioFormatError",
    "ClippingError",
    "ClippingWarning",
    "DamagedFileError",
    "EventError",
    "FileFormatError",
    "InputEncoder",
    "InvalidDataError",
    "InvalidRateError",
    "InvalidSamplesError",
    "OutputDecoder",
    "OutputError",
    "OutputExistsError",
    "RawSpec",
    "Resampler",
    "RtpError",
    "Session",
    "SessionError",
    "StreamStateError",
    "UnknownFormatError",
    "UsageError",
    "convert_file",
    "decode",
    "decode_file",
    "downmix",
    "encode",
    "float_to_int16",
    "get_format",
    "int16_to_float",
    "output_length",
    "resample",
    "transcode",
]

install_aliases()

if TYPE_CHECKING:
    from .codecs import decode, encode, float_to_int16, int16_to_float, transcode
    from .files.convert import RawSpec, convert_file
    from .files.decode import decode_file
    from .realtime.decoder import OutputDecoder
    from .realtime.encoder import InputEncoder
    from .realtime.session import Session
    from .resampler.core import Resampler, downmix, output_length, resample


# submodules reachable as attributes (audiofmt.events.truncate_event …), imported on first access;
# the names before 0.2's regrouping into subpackages map to where those modules live now
_SUBMODULES = {
    "codecs": "codecs",
    "formats": "formats",
    "errors": "errors",
    "files": "files",
    "realtime": "realtime",
    "resampler": "resampler",
    "bridge": "bridge",
    **MOVED_MODULES,
}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return import_module(f".{_SUBMODULES[name]}", __name__)
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'audiofmt' has no attribute {name!r}")
    value = getattr(import_module(f".{module_name}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
