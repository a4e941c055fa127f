"""Packet loss concealment kernels (numba), after ITU-T G.711 Appendix I.

Pitch-based waveform substitution: a pitch search by normalized cross-correlation, cyclic
read-out of a pitch buffer under a linear gain ramp, and a linear cross-fade (overlap-add).
Every kernel works on float64 arrays in int16 units (a sample of 1000.0 is int16 1000) that the
caller allocated; all state (history, pitch, offsets, erasure count) and all validation live in
`audiofmt.bridge.plc.Concealer`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

__all__ = ["find_pitch", "synthesize", "overlap_add", "to_int16"]

_F64 = types.Array(types.float64, 1, "C")
_I16 = types.Array(types.int16, 1, "C")


@njit(inline="always")
def _match(history, c0, t0, corr_len, step, min_power):
    """Σ c·t / sqrt(max(Σ c², min_power)) over every `step`-th sample of the windows at c0, t0."""
    energy = 0.0
    corr = 0.0
    for i in range(0, corr_len, step):
        c = history[c0 + i]
        energy += c * c
        corr += c * history[t0 + i]
    return corr / np.sqrt(max(energy, min_power))


@njit(
    types.int64(
        _F64,  # history: the signal; its last `corr_len` samples are the target
        types.int64,  # corr_len: target length (160 = 20 ms)
        types.int64,  # lag_min (40 = 5 ms)
        types.int64,  # lag_max (120 = 15 ms)
        types.int64,  # ndec: decimation of the coarse search (2)
        types.float64,  # min_power: floor of a candidate's energy (250)
    ),
    cache=True,
    nogil=True,
)
def find_pitch(history, corr_len, lag_min, lag_max, ndec, min_power):
    """The lag in [lag_min, lag_max] whose past window best matches the most recent signal.

    The target is t = history[n - corr_len : n]; the candidate at lag τ is the window of the same
    length τ samples earlier. Score(τ) = Σ c·t / sqrt(max(Σ c², min_power)), i.e. the normalized
    cross-correlation up to the target's constant norm; the floor keeps near-silent candidates
    from winning by division. Coarse pass: lags lag_max, lag_max - ndec, … ≥ lag_min, sums over
    every ndec-th sample. Fine pass: full resolution over best ± (ndec - 1). Lags are scanned
    from long to short and a tie goes to the shorter lag (so an exactly periodic signal gives
    its period, not a multiple). The caller guarantees n ≥ corr_len + lag_max.
    """
    n = history.shape[0]
    t0 = n - corr_len
    best = lag_max
    best_score = -np.inf
    lag = lag_max
    while lag >= lag_min:
        score = _match(history, t0 - lag, t0, corr_len, ndec, min_power)
        if score >= best_score:
            best_score = score
            best = lag
        lag -= ndec
    hi = min(best + ndec - 1, lag_max)
    lo = max(best - ndec + 1, lag_min)
    best_score = -np.inf
    for lag in range(hi, lo - 1, -1):
        score = _match(history, t0 - lag, t0, corr_len, 1, min_power)
        if score >= best_score:
            best_score = score
            best = lag
    return best


@njit(
    types.int64(
        _F64,  # buf: pitch buffer
        types.int64,  # start: index in buf of the first sample of the repeated segment
        types.int64,  # length: samples in the repeated segment (a whole number of periods)
        types.int64,  # offset: read position inside the segment, 0 <= offset < length
        types.float64,  # gain: gain of out[0]
        types.float64,  # gain_step: gain decrease per sample
        _F64,  # out
    ),
    cache=True,
    nogil=True,
)
def synthesize(buf, start, length, offset, gain, gain_step, out):
    """out[i] = (gain - i·gain_step) · buf[start + (offset + i) mod length]; returns the new offset.

    The segment buf[start : start + length] is read cyclically, continuing at `offset`.
    """
    k = offset
    for i in range(out.shape[0]):
        out[i] = (gain - i * gain_step) * buf[start + k]
        k += 1
        if k == length:
            k = 0
    return k


@njit(types.void(_F64, _F64, types.float64, _F64), cache=True, nogil=True)
def overlap_add(fade_out, fade_in, gain_out, out):
    """Linear cross-fade over n = len(out): out[i] = gain_out·(1 - w)·fade_out[i] + w·fade_in[i].

    w = (i + 1) / n, so the last sample is fade_in's alone. `out` may be either input.
    """
    n = out.shape[0]
    step = 1.0 / n
    for i in range(n):
        w = (i + 1) * step
        out[i] = gain_out * (1.0 - w) * fade_out[i] + w * fade_in[i]


@njit(types.void(_F64, _I16), cache=True, nogil=True)
def to_int16(x, out):
    """out = clip(rint(x), -32768, 32767): round to nearest (ties to even), saturate."""
    for i in range(x.shape[0]):
        r = np.rint(x[i])
        if r > 32767.0:
            r = 32767.0
        elif r < -32768.0:
            r = -32768.0
        out[i] = np.int16(r)
