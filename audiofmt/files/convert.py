"""Files: read any audio file in blocks, convert it to a session format, decode model output.

Pipeline per file (`convert_file`): read blocks (libsndfile through soundfile, FFmpeg through
PyAV, or a raw description) → downmix to mono (the mean of the channels) → resample to the target format's
rate (streaming, so the result equals converting the whole array at once) → one rounding to
int16 (clipped samples are counted) → encode → raw bytes, WAV or JSON Lines of append events.
Memory stays bounded by the block size. Outputs follow files.outputs' rules: never over an input,
written atomically (a temporary file renamed into place when complete), devices written straight.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .._checks import QualityName
from ..errors import AudioFormatError
from ..formats import FORMATS, AudioFormat, get_format
from .outputs import SpaceGuard, atomic_output, plan_outputs
from .pipeline import Pipeline, gain_factor, is_regular_file
from .sinks import CONTAINER_EXTENSIONS, SINKS
from .sources import (
    _RAW_PCM,
    BLOCK_FRAMES,
    AudioSource,
    DamagedFileError,
    FileFormatError,
    PathLike,
    RawSpec,
    open_source,
)

__all__ = [
    "AudioSource",
    "ConvertResult",
    "DamagedFileError",
    "FileFormatError",
    "RawSpec",
    "atomic_output",
    "container_for",
    "convert_file",
    "exact_seconds",
    "max_frames_for",
    "open_source",
]

# names that lived here before decode_file and probe got modules of their own (files.decode,
# files.info): still importable from here, loaded on first use
_MOVED = {"DecodeResult": "decode", "decode_file": "decode", "probe": "info", "ProbeResult": "info"}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        from importlib import import_module

        return getattr(import_module(f"{__package__}.{_MOVED[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def container_for(path: PathLike, container: str | None = None) -> str:
    """The output container: given, or from the extension (.wav, .jsonl, .pcm/.ulaw/.alaw/.raw)."""
    if container is not None:
        if container not in SINKS:
            raise AudioFormatError(f"unknown container {container!r}; expected one of {', '.join(SINKS)}")
        return container
    ext = Path(str(path)).suffix.lower()
    if ext in CONTAINER_EXTENSIONS:
        return CONTAINER_EXTENSIONS[ext]
    raise AudioFormatError(
        f"cannot tell the container from {str(path)!r}; use an extension "
        f"({', '.join(sorted(CONTAINER_EXTENSIONS))}) or --container {'|'.join(SINKS)}"
    )


@dataclass(frozen=True)
class ConvertResult:
    """What a conversion did: frames read (after any max_duration_s cut), samples written,
    clipped samples, seconds of audio, what `ignore_errors` let through (damage skipped, audio
    lost, one line each), and the gain applied (dB; from gain_db or normalize_dbfs)."""

    source: str
    destination: str
    format: str
    container: str
    rate_in: int
    channels_in: int
    frames_in: int
    samples_out: int
    n_clipped: int
    warnings: tuple[str, ...] = ()
    gain_db: float = 0.0

    @property
    def duration_s(self) -> float:
        return self.frames_in / self.rate_in


def exact_seconds(value: object, what: str = "max_duration_s") -> Fraction:
    """A positive duration in seconds as an exact fraction. A float counts as the decimal it
    prints as (0.1 is 1/10, not the binary number next to it); str, int, Decimal, Fraction too."""
    if isinstance(value, bool):
        raise AudioFormatError(f"{what} must be a positive number of seconds; got {value!r}")
    try:
        seconds = Fraction(repr(value)) if isinstance(value, float) else Fraction(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, ZeroDivisionError):
        raise AudioFormatError(f"{what} must be a positive number of seconds; got {value!r}") from None
    if seconds <= 0:
        raise AudioFormatError(f"{what} must be a positive number of seconds; got {value!r}")
    return seconds


def max_frames_for(duration_s: object, rate_hz: int) -> int:
    """Input frames a duration limit keeps: floor(duration_s × rate_hz), the whole frames that
    fit in it (`-t 1` at 44100 Hz keeps 44100 frames; `-t 0.5` at 11025 Hz keeps 5512)."""
    return math.floor(exact_seconds(duration_s) * rate_hz)



def _known_frames(src: AudioSource, source: object, raw: RawSpec | None) -> int | None:
    """The source's frame count if its header or size tells it (raw files: size / frame size)."""
    if src.frames is not None:
        return src.frames
    if raw is None or src.container != "RAW" or not isinstance(source, (str, os.PathLike)) or str(source) == "-":
        return None
    try:
        size = os.stat(source).st_size
    except OSError:
        return None
    fmt_name, _, channels = raw.resolved()
    if fmt_name in FORMATS:
        frame_bytes = FORMATS[fmt_name].bytes_per_sample * channels
    else:
        frame_bytes = np.dtype(_RAW_PCM[fmt_name][0]).itemsize * channels
    return size // frame_bytes or None


def _parallelism(source: object, known_frames: int | None, block_frames: int) -> tuple[bool, int | None]:
    """(read ahead in a thread?, resampler threads or None for the Pipeline's choice). A file of
    at most two blocks gets neither: starting threads and handing over one or two blocks costs
    more than they overlap (200 files of 2 s, in one process: 1.9 s with them, 0.8 s without)."""
    if known_frames is not None and known_frames <= 2 * block_frames:
        return False, 1
    return is_regular_file(source), None


def convert_file(
    source: PathLike,
    destination: PathLike,
    to: str | AudioFormat,
    *,
    container: str | None = None,
    quality: QualityName = "hq",
    raw: RawSpec | None = None,
    chunk_ms: int = 100,
    event_id_prefix: str | None = None,
    block_frames: int = BLOCK_FRAMES,
    progress: Callable[[int, int | None], object] | None = None,
    overwrite: bool = True,
    max_duration_s: object = None,
    channel: int | None = None,
    gain_db: float = 0.0,
    normalize_dbfs: float | None = None,
    ignore_errors: bool = False,
) -> ConvertResult:
    """Convert one audio file (or "-") to the session format `to`, as raw bytes, WAV or JSONL.

    The output never replaces the input (OutputError); with `overwrite=False` it never replaces
    any existing file (OutputExistsError). `max_duration_s` keeps the first
    floor(max_duration_s × input rate) frames. `channel` (0-based) takes one channel instead of
    the mean of all. `gain_db` scales the samples before the one rounding to int16;
    `normalize_dbfs` instead scales so the output's peak is at that level (dBFS): it reads the
    input twice, so it needs a file, not stdin. `progress`, if given, is called after each
    block with (input frames done, input frames expected or None when unknown).
    A damaged or cut-short input raises DamagedFileError (and writes nothing) unless
    `ignore_errors`, which converts what can be read and lists the loss in `warnings`.
    """
    fmt = get_format(to)
    kind = container_for(destination, container)
    source_name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else "-"
    dest_name = os.fspath(destination)
    if source_name != "-":
        plan_outputs([(source_name, dest_name)], "overwrite" if overwrite else "error")
    gain = gain_factor(gain_db, "gain_db")
    if normalize_dbfs is not None:
        if source_name == "-":
            raise AudioFormatError("normalize reads the input twice: it needs a file, not stdin")
        gain = _normalizing_gain(source, fmt, quality, raw, block_frames, channel, max_duration_s, normalize_dbfs, ignore_errors)
    with open_source(source, raw, block_frames, ignore_errors=ignore_errors) as src:
        max_frames = None if max_duration_s is None else max_frames_for(max_duration_s, src.rate_hz)
        known = _known_frames(src, source, raw)
        ahead, threads = _parallelism(source, known, block_frames)
        pipe = Pipeline(src, fmt, quality, channel, max_frames, progress, known, read_ahead=ahead, threads=threads)
        samples_out = n_clipped = 0
        bytes_per_sample = fmt.bytes_per_sample * (2 if kind == "jsonl" else 1)  # base64 and JSON: < 2x
        with atomic_output(destination, overwrite=overwrite) as out:
            guard = SpaceGuard(out, dest_name)
            if pipe.total is not None:
                guard.check(pipe.output_length(pipe.total) * bytes_per_sample)
            sink = SINKS[kind](out, fmt, chunk_ms=chunk_ms, event_id_prefix=event_id_prefix)
            for y in pipe:
                ints, clipped = pipe.round(y if gain == 1.0 else y * gain)
                guard.check(ints.shape[0] * bytes_per_sample)
                sink.write(ints)
                samples_out += ints.shape[0]
                n_clipped += clipped
            sink.close()
        frames_in = pipe.frames_in
        assert samples_out == pipe.output_length(frames_in)
    return ConvertResult(
        src.name,
        dest_name,
        fmt.name,
        kind,
        src.rate_hz,
        src.channels,
        frames_in,
        samples_out,
        n_clipped,
        tuple(src.warnings),
        0.0 if gain == 1.0 else 20 * math.log10(gain),
    )




def _normalizing_gain(
    source: PathLike,
    fmt: AudioFormat,
    quality: QualityName,
    raw: RawSpec | None,
    block_frames: int,
    channel: int | None,
    max_duration_s: object,
    target_dbfs: float,
    ignore_errors: bool,
) -> float:
    """First pass of normalize: the peak of exactly what the second pass will round (after the
    channel choice, the resampler and the duration limit); the gain that puts it at target_dbfs."""
    target = gain_factor(target_dbfs, "normalize_dbfs")
    if target_dbfs > 0:
        raise AudioFormatError(f"normalize_dbfs must be at most 0 dBFS; got {target_dbfs!r}")
    with open_source(source, raw, block_frames, ignore_errors=ignore_errors) as src:
        max_frames = None if max_duration_s is None else max_frames_for(max_duration_s, src.rate_hz)
        peak = 0.0
        ahead, threads = _parallelism(source, _known_frames(src, source, raw), block_frames)
        for y in Pipeline(src, fmt, quality, channel, max_frames, read_ahead=ahead, threads=threads):
            if y.shape[0]:
                peak = max(peak, float(np.max(np.abs(y))))
    return target / peak if peak > 0 else 1.0


