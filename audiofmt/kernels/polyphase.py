"""Resampling kernels (numba): the direct-form polyphase FIR.

Positions are exact integers on the common grid of rate in_rate * L = out_rate * M, where
L / M = out_rate / in_rate in lowest terms: input sample n sits at n * L, output sample j at
j * M. No floating-point time register exists anywhere.
"""

from __future__ import annotations

from numba import njit, types

_F64 = types.Array(types.float64, 1, "C")
_SIG = types.void(
    _F64,  # x: input samples, x[0] is absolute input index `x_start`
    types.int64,  # x_start
    types.Array(types.float64, 2, "C", readonly=True),  # coefs[phase, tap]
    types.Array(types.int64, 1, "C", readonly=True),  # last_tap[phase]: offset of the last tap's input index
    types.int64,  # M
    types.int64,  # L
    types.int64,  # j_start: absolute index of out[0]
    _F64,  # out
)


@njit(_SIG, cache=True, nogil=True, boundscheck=False)
def polyphase(x, x_start, coefs, last_tap, m, l, j_start, out):
    """out[i] = Σ_k coefs[φ, k] · x[n_last - K + 1 + k] for output j = j_start + i.

    With t = j·M, φ = t mod L and n_last = t div L + last_tap[φ] (the last input index the
    filter reaches). The caller guarantees x covers every index read. Four partial sums keep
    the arithmetic order fixed, so an output never depends on how the input was chunked.
    """
    n_taps = coefs.shape[1]
    n4 = n_taps - n_taps % 4
    for i in range(out.shape[0]):
        t = (j_start + i) * m
        phase = t % l
        first = t // l + last_tap[phase] - n_taps + 1 - x_start
        c = coefs[phase]
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        a3 = 0.0
        for k in range(0, n4, 4):
            a0 += c[k] * x[first + k]
            a1 += c[k + 1] * x[first + k + 1]
            a2 += c[k + 2] * x[first + k + 2]
            a3 += c[k + 3] * x[first + k + 3]
        for k in range(n4, n_taps):
            a0 += c[k] * x[first + k]
        out[i] = (a0 + a1) + (a2 + a3)



@njit(
    types.void(
        _F64,  # x: input samples, x[0] is absolute input index `x_start`
        types.int64,  # x_start
        types.Array(types.float64, 1, "C", readonly=True),  # odd taps g[k] = h[2k + 1]
        types.int64,  # j_start: absolute index of out[0]
        _F64,  # out
    ),
    cache=True,
    nogil=True,
    boundscheck=False,
)
def halfband_decimate(x, x_start, odd_taps, j_start, out):
    """2:1 decimation by a zero-phase half-band FIR (h[0] = 1/2, h[even] = 0 elsewhere).

    out[i] = x[2j] / 2 + Σ_k odd_taps[k] · (x[2j - 2k - 1] + x[2j + 2k + 1]) with j = j_start + i.
    The tap loop is outside the sample loop so the sample loop vectorizes; every output still
    adds its terms in the same order, whatever the chunking.
    """
    base = 2 * j_start - x_start
    n = out.shape[0]
    for i in range(n):
        out[i] = 0.5 * x[base + 2 * i]
    for k in range(odd_taps.shape[0]):
        g = odd_taps[k]
        lo = base - 2 * k - 1
        hi = base + 2 * k + 1
        for i in range(n):
            out[i] += g * (x[lo + 2 * i] + x[hi + 2 * i])
