"""Low-pass filter design for the resampler: quality presets as data, Kaiser-windowed sinc.

A preset's band edges are fractions of the *lower* Nyquist frequency N = min(in_rate,
out_rate) / 2: the response is flat up to `passband_end` × N and rejects by
`attenuation_db` from `stopband_begin` × N on. Every preset stops at N itself
(stopband_begin = 1.0): nothing between N and the higher rate's Nyquist aliases or images
into the output band. (Half-band 2:1 stages therefore only appear where there is room
around them, as cheap first stages at higher rates; see `_plan`.)
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, wraps
from typing import Any

import numpy as np

from ..errors import AudioFormatError

__all__ = [
    "Quality",
    "QUALITIES",
    "get_quality",
    "kaiser_beta",
    "kaiser_length",
    "windowed_sinc",
    "windowed_sinc_at",
    "halfband_taps",
    "polyphase_table",
]


@dataclass(frozen=True)
class Quality:
    """A resampling quality preset.

    engine "fir": one direct-form polyphase FIR stage, output sample by sample (low_latency).
    engine "fft": overlap-save in the frequency domain, output in blocks, behind cheap half-band
    2:1 stages when the input rate is >= 3 × the output rate (hq, vhq). `max_latency_ms` caps
    the filter's look-ahead (the transition widens towards the passband, the stopband edge
    stays). `float64_only`: computed in float64 whatever the samples' dtype (vhq).
    """

    name: str
    engine: str
    attenuation_db: float
    passband_end: float
    stopband_begin: float
    max_latency_ms: float | None = None
    float32_attenuation_db: float | None = None  # the design for float32 arithmetic, if it differs
    float64_only: bool = False

    def attenuation_for(self, dtype_code: str) -> float:
        """The stopband attenuation (dB) the filters are designed for in float32 ("f") or
        float64 ("d") arithmetic."""
        if dtype_code == "f" and self.float32_attenuation_db is not None:
            return self.float32_attenuation_db
        return self.attenuation_db

    @property
    def symmetric(self) -> bool:
        """True if the transition band is centred on N (cutoff exactly at the lower Nyquist)."""
        return abs(self.passband_end + self.stopband_begin - 2.0) < 1e-12


QUALITIES: dict[str, Quality] = {
    q.name: q
    for q in (
        # hq: passband 0.92 puts the -3 dB point at 0.954 N. float32 FFT rounding leaves a floor
        # near -140 dB whatever the filter: a longer design would buy nothing there, while
        # float64 delivers what the design promises.
        Quality("hq", "fft", attenuation_db=160.0, passband_end=0.92, stopband_begin=1.0, float32_attenuation_db=150.0),
        Quality("vhq", "fft", attenuation_db=200.0, passband_end=0.93, stopband_begin=1.0, float64_only=True),
        # low_latency: at the 8 kHz ratios the 6 ms cap binds (289 taps on a 24 kHz grid); the
        # transition then widens towards the passband, which stays flat to ±0.002 dB at 0.85 N.
        Quality("low_latency", "fir", attenuation_db=116.0, passband_end=0.86, stopband_begin=1.0, max_latency_ms=6.0),
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
    return math.ceil((attenuation_db - 7.95) / (2.285 * 2 * math.pi * transition)) + 1


def kaiser_transition(attenuation_db: float, n_taps: int) -> float:
    """The transition band (× the sample rate) that `n_taps` taps allow: kaiser_length inverted."""
    return (attenuation_db - 7.95) / (2.285 * 2 * math.pi * (n_taps - 1))


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


@lru_cache(maxsize=64)
def halfband_taps(rate_hz: int, transition_hz: float, attenuation_db: float, dtype: str, gain: int = 1) -> np.ndarray:
    """Odd taps g[k] = h[2k + 1] of a zero-phase half-band low-pass at rate_hz (cutoff rate_hz / 4).

    h[0] is exactly 1/2 and every other even tap exactly 0; the band from
    rate_hz / 4 - transition_hz / 2 to rate_hz / 4 + transition_hz / 2 is the transition.
    The odd taps are scaled so that the DC gain is `gain` × 1 (h[0] + 2 Σ g = 1): gain 2 for
    1:2 interpolation, where the centre tap becomes exactly 1 and only the odd taps are used.
    `dtype` is a numpy type code ("f" float32, "d" float64). Zero taps pad the outer end to a
    multiple of 4 (the kernels' group), which adds exactly nothing.
    """
    half = kaiser_length(attenuation_db, transition_hz / rate_hz) // 2
    half += 1 - half % 2  # odd, so the outermost tap is a non-zero one
    taps = windowed_sinc(half, 0.25, kaiser_beta(attenuation_db))
    odd = taps[half + 1 :: 2]
    odd = odd * (gain * 0.25 / odd.sum())  # exactly 2 Σ g = gain / 2 (before rounding to dtype)
    odd = np.concatenate((odd, np.zeros(-odd.shape[0] % 4)))  # outermost zero taps: a multiple of 4
    odd = np.ascontiguousarray(odd, dtype=dtype)
    odd.setflags(write=False)
    return odd


def _cached_by_size(max_bytes: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """lru_cache for functions returning numpy arrays, bounded by the arrays' total size:
    awkward ratios (a reduced L in the hundreds of thousands) make tables of hundreds of MB."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        cache: OrderedDict[tuple[Any, ...], tuple[Any, int]] = OrderedDict()
        lock = threading.Lock()

        @wraps(function)
        def cached(*args: Any) -> Any:
            with lock:
                if args in cache:
                    cache.move_to_end(args)
                    return cache[args][0]
            value = function(*args)
            size = sum(v.nbytes for v in (value if isinstance(value, tuple) else (value,)) if isinstance(v, np.ndarray))
            with lock:
                cache[args] = (value, size)
                while len(cache) > 1 and sum(entry[1] for entry in cache.values()) > max_bytes:
                    cache.popitem(last=False)
            return value

        return cached

    return decorate


@_cached_by_size(256 << 20)
def polyphase_table(
    in_rate: int, l: int, m: int, cutoff_hz: float, transition_hz: float, attenuation_db: float,
    max_half: int | None, dtype: str,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """(T, coefs[L, K], last_tap[L], unit_tap[L]) for a polyphase stage on the grid of rate in_rate * L.

    T is the filter's half-length in grid samples (its look-ahead); phase φ holds the K taps
    an output with t = j·M ≡ φ (mod L) applies, each phase scaled to a DC gain of exactly 1,
    and K is padded to a multiple of 4 with zero taps on the oldest inputs.
    `max_half` caps T: the transition then widens, keeping the stopband edge where it was.
    When the cutoff is exactly in_rate / 2 (an interpolation filter with a symmetric
    transition), taps at multiples of L vanish: phase 0 becomes a unit impulse, and
    unit_tap[0] says which tap (-1 for every phase that is not one). Tables are cached (up
    to 256 MB of them).
    """
    grid_rate = in_rate * l
    half = kaiser_length(attenuation_db, transition_hz / grid_rate) // 2
    if max_half is not None and half > max_half:
        half = max_half
        stopband_hz = cutoff_hz + transition_hz / 2
        transition_hz = kaiser_transition(attenuation_db, 2 * half + 1) * grid_rate
        cutoff_hz = stopband_hz - transition_hz / 2
    nyquist_l = l > 1 and 2 * cutoff_hz == in_rate
    phases = np.arange(l)
    last_tap = (phases + half) // l
    first_tap = -((half - phases) // l)
    n_taps = int((last_tap - first_tap).max()) + 1
    pad = -n_taps % 4  # zero taps in front (on the oldest inputs): K a multiple of the kernel's group of 4
    coefs = np.zeros((l, pad + n_taps), dtype=dtype)
    # Grid offset of tap k of phase φ; every offset in [-T, T] occurs exactly once in the table.
    # Filled a band of phases at a time (in float64, each phase then scaled to a sum of 1), so
    # that awkward ratios need no giant temporaries.
    beta = kaiser_beta(attenuation_db)
    band = max(1, (1 << 20) // n_taps)
    for p0 in range(0, l, band):
        rows = slice(p0, p0 + band)
        offsets = phases[rows, None] - (last_tap[rows, None] - n_taps + 1 + np.arange(n_taps)[None, :]) * l
        taps = windowed_sinc_at(offsets, half, cutoff_hz / grid_rate, beta)
        coefs[rows, pad:] = taps / taps.sum(axis=1, keepdims=True)
    unit_tap = np.full(l, -1, dtype=np.int64)
    if nyquist_l:
        centre = int(last_tap[0] - n_taps + 1)  # tap k of phase 0 sits at offset -(centre + k) * L
        coefs[0] = 0.0
        coefs[0, pad - centre] = 1.0
        unit_tap[0] = pad - centre
    last_tap = last_tap.astype(np.int64)
    for array in (coefs, last_tap, unit_tap):
        array.setflags(write=False)
    return half, coefs, last_tap, unit_tap
