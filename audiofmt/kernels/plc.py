"""Packet loss concealment kernels (numba), sample-exact to ITU-T G.711 Appendix I.

The arithmetic is that of the ITU-T STL reference (G.191 `g711iplc`, `lowcfe.c` built with
`USEDOUBLES`): the pitch buffer and every weight are IEEE double (float64), the weights of a
cross-fade and the fade gain are stepped by repeated addition/subtraction (not recomputed as
i/n), and every conversion back to int16 truncates toward zero (C's `(short)` cast), after
saturation where the reference saturates. No fastmath, no fused multiply-add: each product and
sum is rounded on its own, as in the reference compiled for plain x86-64 SSE2.

All state (history, pitch buffer, pitch, offsets, erasure count) and all validation live in
`audiofmt.bridge.plc.Concealer`; these are small pure functions over arrays the caller owns.
"""

from __future__ import annotations

import numpy as np
from numba import types

from . import lazy_njit

__all__ = ["cross_fade", "fade", "find_pitch", "overlap_add", "read_cyclic"]

_F64 = types.Array(types.float64, 1, "C")
_I16 = types.Array(types.int16, 1, "C")
_I16A = types.Array(types.int16, 1, "A")  # may be a slice of a frame


@lazy_njit(
    [
        types.int64(
            _F64,  # buf: the signal (int16 values as float64); its last `corr_len` samples are the target
            types.int64,  # corr_len: target length (160 = 20 ms)
            types.int64,  # lag_min (40 = 5 ms)
            types.int64,  # lag_max (120 = 15 ms)
            types.int64,  # ndec: decimation of the coarse search (2)
            types.float64,  # min_power: floor of a candidate's energy (250)
        ),
    ],
    nogil=True,
)
def find_pitch(buf, corr_len, lag_min, lag_max, ndec, min_power):
    """The lag (samples) in [lag_min, lag_max] whose past window best matches the newest signal.

    Target t = buf[n - corr_len : n]; the candidate at lag τ is the window τ samples earlier.
    Score(τ) = Σ c·t / sqrt(max(Σ c², min_power)). Coarse pass: every ndec-th sample, lags
    lag_max, lag_max - ndec, … down to lag_min, the candidate energy updated by one sample out
    and one in per step; a tie goes to the shorter lag. Fine pass: every sample, lags from
    best + (ndec - 1) down to best - (ndec - 1) (clipped to the range); a tie keeps the longer
    lag. The caller guarantees n ≥ corr_len + lag_max.
    """
    n = buf.shape[0]
    t0 = n - corr_len  # the target
    r0 = t0 - lag_max  # the candidate at lag_max; candidate j starts at r0 + j, lag = lag_max - j
    span = lag_max - lag_min
    energy = 0.0
    corr = 0.0
    for i in range(0, corr_len, ndec):
        c = buf[r0 + i]
        energy += c * c
        corr += c * buf[t0 + i]
    best_corr = corr / np.sqrt(max(energy, min_power))
    best = 0
    j = ndec
    while j <= span:
        old = buf[r0 + j - ndec]
        new = buf[r0 + j - ndec + corr_len]
        energy -= old * old
        energy += new * new
        corr = 0.0
        for i in range(0, corr_len, ndec):
            corr += buf[r0 + j + i] * buf[t0 + i]
        corr /= np.sqrt(max(energy, min_power))
        if corr >= best_corr:
            best_corr = corr
            best = j
        j += ndec
    lo = max(best - (ndec - 1), 0)
    hi = min(best + (ndec - 1), span)
    energy = 0.0
    corr = 0.0
    for i in range(corr_len):
        c = buf[r0 + lo + i]
        energy += c * c
        corr += c * buf[t0 + i]
    best_corr = corr / np.sqrt(max(energy, min_power))
    best = lo
    for j in range(lo + 1, hi + 1):
        old = buf[r0 + j - 1]
        new = buf[r0 + j - 1 + corr_len]
        energy -= old * old
        energy += new * new
        corr = 0.0
        for i in range(corr_len):
            corr += buf[r0 + j + i] * buf[t0 + i]
        corr /= np.sqrt(max(energy, min_power))
        if corr > best_corr:
            best_corr = corr
            best = j
    return lag_max - best


@lazy_njit(
    [
        types.int64(
            _F64,  # buf: pitch buffer
            types.int64,  # start: index in buf of the repeated segment's first sample
            types.int64,  # length: samples in the repeated segment
            types.int64,  # offset: read position in the segment, 0 <= offset < length
            _I16A,  # out
        ),
    ],
    nogil=True,
)
def read_cyclic(buf, start, length, offset, out):
    """out[i] = trunc(buf[start + (offset + i) mod length]); returns the new offset.

    The segment is read cyclically; each value is truncated toward zero to int16 (the values
    are already within the int16 range).
    """
    k = offset
    for i in range(out.shape[0]):
        out[i] = np.int16(np.int64(buf[start + k]))
        k += 1
        if k == length:
            k = 0
    return k


@lazy_njit([types.void(_I16A, types.float64, types.float64)], nogil=True)
def fade(x, gain, gain_step):
    """x[i] = trunc(x[i] · g), g = gain, then g -= gain_step after each sample (in place)."""
    g = gain
    for i in range(x.shape[0]):
        x[i] = np.int16(np.int64(x[i] * g))
        g -= gain_step


@lazy_njit([types.void(_F64, _F64, _F64)], nogil=True)
def overlap_add(fade_out, fade_in, out):
    """Float cross-fade over n = len(out): out[i] = clip(lw·fade_out[i] + rw·fade_in[i]).

    lw starts at 1 - 1/n and rw at 1/n, each stepped by 1/n per sample (by subtraction and
    addition, not recomputed); the sum is saturated to [-32768, 32767] and kept as float64.
    `out` may be either input.
    """
    n = out.shape[0]
    if n == 0:
        return
    incr = 1.0 / n
    lw = 1.0 - incr
    rw = incr
    for i in range(n):
        t = lw * fade_out[i] + rw * fade_in[i]
        if t > 32767.0:
            t = 32767.0
        elif t < -32768.0:
            t = -32768.0
        out[i] = t
        lw -= incr
        rw += incr


@lazy_njit([types.void(_I16A, _I16A, types.float64, _I16A)], nogil=True)
def cross_fade(fade_out, fade_in, gain, out):
    """int16 cross-fade over n = len(out): out[i] = trunc(clip(lw·fade_out[i] + rw·fade_in[i])).

    rw starts at 1/n and grows by 1/n per sample; lw starts at (1 - 1/n)·gain and falls by
    (1/n)·gain per sample, both stepped by addition/subtraction. gain = 1 is the plain
    cross-fade. `out` may be either input.
    """
    n = out.shape[0]
    if n == 0:
        return
    incr = 1.0 / n
    incr_gain = incr * gain
    lw = (1.0 - incr) * gain
    rw = incr
    for i in range(n):
        t = lw * fade_out[i] + rw * fade_in[i]
        if t > 32767.0:
            t = 32767.0
        elif t < -32768.0:
            t = -32768.0
        out[i] = np.int16(np.int64(t))
        lw -= incr_gain
        rw += incr
