"""Files: input readers (sources.py), output writers (sinks.py), output safety (outputs.py),
conversion (convert.py), batch runs (batch.py)."""

from .convert import (
    ConvertResult,
    atomic_output,
    container_for,
    convert_file,
    decode_file,
    exact_seconds,
    max_frames_for,
    probe,
)
from .sources import RAW_FORMATS, AudioSource, FileFormatError, RawSpec, open_source

__all__ = [
    "FileFormatError",
    "RawSpec",
    "RAW_FORMATS",
    "AudioSource",
    "open_source",
    "ConvertResult",
    "convert_file",
    "decode_file",
    "atomic_output",
    "container_for",
    "probe",
    "exact_seconds",
    "max_frames_for",
]
