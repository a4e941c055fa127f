"""Low-pass filter design for the resampler: quality presets as data, Kaiser-windowed sinc.

All frequencies here are fractions of the *lower* Nyquist frequency, min(in_rate, out_rate) / 2,
which is where the anti-alias / anti-image filter has to cut.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import AudioFormatError

__all__ = ["Quality", "QUALITIES", "get_quality", "kaiser_beta", "kaiser_length", "windowed_sinc", "windowed_sinc_at"]


@dataclass(frozen=True)
class Quality:
    """A resampling quality preset.

    engine "fft": overlap-save in the frequency domain, output in blocks (hq, vhq).
    engine "polyphase": direct-form polyphase FIR, output sample by sample, for streaming in
    small frames; its filter length is set by `max_latency_ms` and the passband follows.
    """

    name: str
    engine: str
    attenuation_db: float
    passband_end: float
    stopband_begin: float
    max_latency_ms: float | None = None


QUALITIES: dict[str, Quality] = {
    q.name: q
    for q in (
        Quality("hq", "fft", attenuation_db=150.0, passband_end=0.925, stopband_begin=1.0),
        Quality("vhq", "fft", attenuation_db=200.0, passband_end=0.93, stopband_begin=1.0),
        Quality(
            "low_latency",
            "polyphase",
            attenuation_db=122.0,
            passband_end=math.nan,  # derived from the length the latency allows
            stopband_begin=1.0,
            max_latency_ms=5.5,
        ),
    )
}


def get_quality(name: str | Quality) -> Quality:
    """The preset called `name`; an unknown name raises an AudioFormatError listing the valid ones."""
    if isinstance(name, Quality):
        return name
    try:
        return QUALITIES[name]
    except (KeyError, TypeError):
        valid = ", ".join(repr(n) for n in QUALITIES)
        raise AudioFormatError(f"unknown resampling quality {name!r}; expected one of {valid}") from None


def kaiser_beta(attenuation_db: float) -> float:
    """Kaiser window β for a stopband attenuation in dB (Kaiser's empirical formula)."""
    a = attenuation_db
    if a > 50:
        return 0.1102 * (a - 8.7)
    if a >= 21:
        return 0.5842 * (a - 21) ** 0.4 + 0.07886 * (a - 21)
    return 0.0


def kaiser_length(attenuation_db: float, transition: float) -> int:
    """Taps for `attenuation_db` with a transition band of `transition` × the sample rate."""
    return int(math.ceil((attenuation_db - 7.95) / (2.285 * 2 * math.pi * transition))) + 1


def windowed_sinc(half_length: int, cutoff: float, beta: float) -> np.ndarray:
    """Zero-phase low-pass taps h[-half_length .. half_length], float64, DC gain 1.

    `cutoff` is the −6 dB frequency as a fraction of the sample rate at which the taps run.
    """
    taps = windowed_sinc_at(np.arange(-half_length, half_length + 1), half_length, cutoff, beta)
    return taps / taps.sum()


def windowed_sinc_at(offsets: np.ndarray, half_length: int, cutoff: float, beta: float) -> np.ndarray:
    """The same Kaiser-windowed sinc evaluated at integer `offsets` (0 where |offset| > half_length),
    unnormalised; lets a polyphase table be filled without building the whole filter."""
    n = offsets.astype(np.float64)
    inside = np.abs(n) <= half_length
    ratio = np.where(inside, n / max(half_length, 1), 0.0)
    window = np.i0(beta * np.sqrt(1.0 - ratio * ratio)) / np.i0(beta)
    return np.where(inside, 2 * cutoff * np.sinc(2 * cutoff * n) * window, 0.0)
