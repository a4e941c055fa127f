"""Files: inputs (sources.py opens them: content.py recognises them, read by sndfile_source.py,
av_source.py, raw_source.py, jsonl_source.py), the conversion (convert.py around pipeline.py),
outputs (sinks.py writes them, outputs.py keeps them safe), decode.py (model output → audio),
info.py (probe: what a file holds), batch runs (batch.py).

Loaded lazily: importing the package (or files.outputs) loads neither numba nor FFmpeg.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

__all__ = [
    "FileFormatError",
    "RawSpec",
    "RAW_FORMATS",
    "AudioSource",
    "open_source",
    "ConvertResult",
    "convert_file",
    "decode_file",
    "DecodeResult",
    "atomic_output",
    "container_for",
    "probe",
    "ProbeResult",
    "exact_seconds",
    "max_frames_for",
]

_LAZY = {
    "FileFormatError": "sources",
    "RawSpec": "sources",
    "RAW_FORMATS": "sources",
    "AudioSource": "sources",
    "open_source": "sources",
    "ConvertResult": "convert",
    "convert_file": "convert",
    "container_for": "convert",
    "exact_seconds": "convert",
    "max_frames_for": "convert",
    "atomic_output": "outputs",
    "decode_file": "decode",
    "DecodeResult": "decode",
    "probe": "info",
    "ProbeResult": "info",
}

if TYPE_CHECKING:
    from .convert import ConvertResult, container_for, convert_file, exact_seconds, max_frames_for
    from .decode import DecodeResult, decode_file
    from .info import ProbeResult, probe
    from .outputs import atomic_output
    from .sources import RAW_FORMATS, AudioSource, FileFormatError, RawSpec, open_source

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
