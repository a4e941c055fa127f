"""probe: what an audio file holds (the `info` command), read to the end: frames counted, not taken from a header."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .sources import PathLike, RawSpec, check_finite, open_source

__all__ = ["ProbeResult", "probe"]


@dataclass(frozen=True)
class ProbeResult:
    """A file's container and coding, rate (Hz), channels, frames decoded, duration (s), peak and
    RMS level over all channels (dBFS, -inf for silence), and what ignore_errors let through."""

    path: str
    container: str
    subtype: str
    rate_hz: int
    channels: int
    frames: int
    duration_s: float
    peak_dbfs: float
    rms_dbfs: float
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """The fields as a dict (warnings as a list), e.g. for JSON."""
        values = asdict(self)
        values["warnings"] = list(self.warnings)
        return values


def _dbfs(level: float) -> float:
    return 20 * math.log10(level) if level > 0 else float("-inf")


def probe(path: PathLike, raw: RawSpec | None = None, *, ignore_errors: bool = False) -> ProbeResult:
    """Read `path` (or a raw input described by `raw`) to the end and say what it holds.

    A damaged or cut-short file raises DamagedFileError unless `ignore_errors`, which reads
    what it can and lists the loss in `warnings`."""
    with open_source(path, raw, ignore_errors=ignore_errors) as src:
        frames, peak, energy = 0, 0.0, 0.0
        for block in src.blocks():
            check_finite(src.name, block, frames, src.rate_hz)
            frames += block.shape[0]
            if block.size:
                peak = max(peak, float(np.max(np.abs(block))))
                energy += float(np.sum(block * block))
        n_values = frames * src.channels
        rms = (energy / n_values) ** 0.5 if n_values else 0.0
        return ProbeResult(
            path=src.name,
            container=src.container,
            subtype=src.subtype,
            rate_hz=src.rate_hz,
            channels=src.channels,
            frames=frames,
            duration_s=frames / src.rate_hz,
            peak_dbfs=_dbfs(peak),
            rms_dbfs=_dbfs(rms),
            warnings=tuple(src.warnings),
        )
