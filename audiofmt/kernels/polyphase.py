"""Resampling kernels (numba): the direct-form polyphase FIR.

Positions are exact integers on the common grid of rate in_rate * L = out_rate * M, where
L / M = out_rate / in_rate in lowest terms: input sample n sits at n * L, output sample j at
j * M. No floating-point time register exists anywhere.
"""

from __future__ import annotations

import numpy as np
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


@njit(inline="always")
def _next_input(r, u, m):
    """The plane position (r, u) of the next input index: x[r + M*u] -> x[r + M*u + 1]."""
    r += 1
    if r == m:
        return 0, u + 1
    return r, u


@njit(_SIG, cache=True, nogil=True, boundscheck=False, fastmath={"contract"})
def polyphase(x, x_start, coefs, last_tap, m, l, j_start, out):
    """out[i] = Σ_k coefs[φ, k] · x[n_last - K + 1 + k] for output j = j_start + i.

    With t = j·M, φ = t mod L and n_last = t div L + last_tap[φ] (the last input index the
    filter reaches). The caller guarantees x covers every index read.

    Outputs j, j + L, j + 2L … share a phase and step through the input by M, so after
    splitting x into M interleaved planes each group of four taps is one contiguous vector
    update. Every output sums its taps in the same fixed order (groups of four, k = 0 .. K-1),
    so the result never depends on chunking.

    fastmath is limited to "contract": each multiply-add becomes one FMA (one rounding instead
    of two), in the vector loop and its scalar remainder alike, so streaming still equals
    one-shot bit for bit (tests/test_resampler.py checks it under hypothesis). No reassociation.
    """
    n_out = out.shape[0]
    n_taps = coefs.shape[1]
    n_cols = (x.shape[0] + m - 1) // m + 1
    planes = np.zeros((m, n_cols))
    for r in range(m):  # planes[r, u] = x[r + M*u]
        row = planes[r]
        for u in range((x.shape[0] - r + m - 1) // m):
            row[u] = x[r + m * u]
    acc = np.empty((n_out + l - 1) // l)
    t0 = j_start * m
    phase = t0 % l
    base = t0 // l
    for p in range(min(l, n_out)):
        count = (n_out - p + l - 1) // l
        first = base + last_tap[phase] - n_taps + 1 - x_start
        r = first % m  # x index first + k lives at planes[r, u]; r, u step along with k
        u = first // m
        a = acc[:count]
        a[:] = 0.0
        c = coefs[phase]
        n4 = n_taps - n_taps % 4
        for k in range(0, n4, 4):
            s0 = planes[r, u : u + count]
            r, u = _next_input(r, u, m)
            s1 = planes[r, u : u + count]
            r, u = _next_input(r, u, m)
            s2 = planes[r, u : u + count]
            r, u = _next_input(r, u, m)
            s3 = planes[r, u : u + count]
            r, u = _next_input(r, u, m)
            g0 = c[k]; g1 = c[k + 1]; g2 = c[k + 2]; g3 = c[k + 3]
            for s in range(count):
                a[s] = a[s] + g0 * s0[s] + g1 * s1[s] + g2 * s2[s] + g3 * s3[s]
        for k in range(n4, n_taps):
            seg = planes[r, u : u + count]
            r, u = _next_input(r, u, m)
            g = c[k]
            for s in range(count):
                a[s] += g * seg[s]
        for s in range(count):
            out[p + l * s] = a[s]
        phase += m  # next output: t += M
        while phase >= l:
            phase -= l
            base += 1


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
    The odd-indexed samples are first copied into one contiguous plane, so the sample loop
    (inside the tap loop) vectorizes; every output still adds its terms in the same order,
    whatever the chunking.
    """
    base = 2 * j_start - x_start  # index in x of output 0's centre sample
    n = out.shape[0]
    n_taps = odd_taps.shape[0]
    first_odd = base - 2 * n_taps + 1  # odd[v] = x[first_odd + 2v]
    odd = np.empty(n + 2 * n_taps - 1)
    for v in range(odd.shape[0]):
        odd[v] = x[first_odd + 2 * v]
    for i in range(n):
        out[i] = 0.5 * x[base + 2 * i]
    for k in range(n_taps):
        g = odd_taps[k]
        lo = odd[n_taps - 1 - k : n_taps - 1 - k + n]  # x[2j - 2k - 1]
        hi = odd[n_taps + k : n_taps + k + n]  # x[2j + 2k + 1]
        for i in range(n):
            out[i] += g * (lo[i] + hi[i])
