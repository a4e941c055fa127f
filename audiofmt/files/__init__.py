"""Files: inputs (sources.py opens them: content.py recognises them, read by sndfile_source.py,
av_source.py, raw_source.py, jsonl_source.py), the conversion (convert.py around pipeline.py),
outputs (sinks.py writes them, outputs.py keeps them safe), decode.py (model output → audio),
probe.py (what a file holds), batch runs (batch.py)."""

from .convert import ConvertResult, atomic_output, container_for, convert_file, exact_seconds, max_frames_for
from .decode import DecodeResult, decode_file
from .probe import ProbeResult, probe
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
    "DecodeResult",
    "atomic_output",
    "container_for",
    "probe",
    "ProbeResult",
    "exact_seconds",
    "max_frames_for",
]
