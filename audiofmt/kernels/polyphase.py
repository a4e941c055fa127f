"""Resampling kernels (numba): the direct-form polyphase FIR and the half-band 2:1 decimator
and 1:2 interpolator.

Positions are exact integers on the common grid of rate in_rate * L = out_rate * M, where
L / M = out_rate / in_rate in lowest terms: input sample n sits at n * L, output sample j at
j * M. No floating-point time register exists anywhere.

Each kernel is compiled for float32 or float64 (samples and taps of one dtype) on request,
by `compiled(kernel, dtype_code)`. A kernel computes every output with the same sequence of
operations wherever it falls in a call, so streaming equals one-shot bit for bit. fastmath is
limited to "contract": a multiply-add becomes one FMA (one rounding) in the vector loops and
their remainders alike; nothing is reassociated.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
from numba import njit, types
from numba.core.typing import Signature  # type: ignore[attr-defined]

from . import jit_entry

_BLOCK = 1024  # outputs accumulated at a time: the accumulator stays in L1 cache


def _polyphase_sig(dtype: types.Float) -> Signature:
    return types.void(
        types.Array(dtype, 1, "C"),  # x: input samples, x[0] is absolute input index `x_start`
        types.int64,  # x_start
        types.Array(dtype, 2, "C", readonly=True),  # coefs[phase, tap]
        types.Array(types.int64, 1, "C", readonly=True),  # last_tap[phase]: offset of the last tap's input index
        types.Array(types.int64, 1, "C", readonly=True),  # unit_tap[phase]: k if the phase is a unit impulse at k, else -1
        types.int64,  # M
        types.int64,  # L
        types.int64,  # j_start: absolute index of out[0]
        types.Array(dtype, 1, "C"),  # out
        types.Array(dtype, 1, "C"),  # work: polyphase_work(len(x), M) samples of scratch space
    )


def polyphase_work(n_x: int, m: int) -> int:
    """Scratch samples `polyphase` needs for an x of n_x samples: the M planes and one block."""
    return (m * ((n_x + m - 1) // m + 1) if m > 1 else 0) + _BLOCK


@njit(inline="always")
def _take(planes, r, u, n, m):
    """The n samples from plane position (r, u) on (x[r + M*u], x[r + M*(u+1)], ...), and the
    plane position of the next input index."""
    segment = planes[r, u : u + n]
    r += 1
    if r == m:
        return segment, 0, u + 1
    return segment, r, u


def polyphase(x, x_start, coefs, last_tap, unit_tap, m, l, j_start, out, work):
    """out[i] = Σ_k coefs[φ, k] · x[n_last - K + 1 + k] for output j = j_start + i.

    With t = j·M, φ = t mod L and n_last = t div L + last_tap[φ] (the last input index the
    filter reaches). The caller guarantees x covers every index read.

    Outputs j, j + L, j + 2L … share a phase and step through the input by M, so after
    splitting x into M interleaved planes each group of eight taps (and a last group of four)
    is one contiguous vector update over a block of outputs (design tables pad K to a
    multiple of 4 with zero taps, which add exactly nothing). A phase whose taps are a unit
    impulse (an output that falls on an input sample, with a filter that is zero at every
    other input) is a copy.
    """
    n_out = out.shape[0]
    n_taps = coefs.shape[1]
    if m == 1:
        planes = x.reshape((1, x.shape[0]))
        acc = work[:_BLOCK]
    else:
        n_cols = (x.shape[0] + m - 1) // m + 1
        planes = work[: m * n_cols].reshape((m, n_cols))
        acc = work[m * n_cols : m * n_cols + _BLOCK]
        n_full = x.shape[0] // m  # columns every plane has
        if m < 16:  # few planes: one strided pass over x for each
            for r in range(m):  # planes[r, u] = x[r + M*u]
                row = planes[r]
                for u in range(n_full):
                    row[u] = x[r + m * u]
        else:  # many: read x once in order, each plane's next cache line stays in L1
            for u in range(n_full):
                column = x[m * u : m * u + m]
                for r in range(m):
                    planes[r, u] = column[r]
        for r in range(m):  # the last, partial column; the rest of each row is never read
            planes[r, n_full:] = 0.0
            if m * n_full + r < x.shape[0]:
                planes[r, n_full] = x[m * n_full + r]
    n8 = n_taps - n_taps % 8
    zero = out.dtype.type(0.0)
    t0 = j_start * m
    phase = t0 % l
    base = t0 // l
    for p in range(min(l, n_out)):
        count = (n_out - p + l - 1) // l
        first = base + last_tap[phase] - n_taps + 1 - x_start
        unit = unit_tap[phase]
        if unit >= 0:
            for s in range(count):
                out[p + l * s] = x[first + unit + m * s]
        else:
            c = coefs[phase]
            for s0 in range(0, count, _BLOCK):
                n_block = min(_BLOCK, count - s0)
                r = first % m  # x index first + k lives at planes[r, u]; _take steps r, u along with k
                u = first // m + s0
                a = acc[:n_block]
                if n8 == 0:
                    a[:] = 0.0
                for k in range(0, n8, 8):
                    s_0, r, u = _take(planes, r, u, n_block, m)
                    s_1, r, u = _take(planes, r, u, n_block, m)
                    s_2, r, u = _take(planes, r, u, n_block, m)
                    s_3, r, u = _take(planes, r, u, n_block, m)
                    s_4, r, u = _take(planes, r, u, n_block, m)
                    s_5, r, u = _take(planes, r, u, n_block, m)
                    s_6, r, u = _take(planes, r, u, n_block, m)
                    s_7, r, u = _take(planes, r, u, n_block, m)
                    g0, g1, g2, g3, g4, g5, g6, g7 = c[k], c[k + 1], c[k + 2], c[k + 3], c[k + 4], c[k + 5], c[k + 6], c[k + 7]
                    for s in range(n_block):  # the first group starts the sums: no pass to zero them
                        a[s] = (
                            (a[s] if k else zero)
                            + g0 * s_0[s]
                            + g1 * s_1[s]
                            + g2 * s_2[s]
                            + g3 * s_3[s]
                            + g4 * s_4[s]
                            + g5 * s_5[s]
                            + g6 * s_6[s]
                            + g7 * s_7[s]
                        )
                if n8 < n_taps:  # the last group of four
                    s_0, r, u = _take(planes, r, u, n_block, m)
                    s_1, r, u = _take(planes, r, u, n_block, m)
                    s_2, r, u = _take(planes, r, u, n_block, m)
                    s_3, r, u = _take(planes, r, u, n_block, m)
                    g0, g1, g2, g3 = c[n8], c[n8 + 1], c[n8 + 2], c[n8 + 3]
                    for s in range(n_block):
                        a[s] = a[s] + g0 * s_0[s] + g1 * s_1[s] + g2 * s_2[s] + g3 * s_3[s]
                for s in range(n_block):
                    out[p + l * (s0 + s)] = a[s]
        phase += m  # next output: t += M
        while phase >= l:
            phase -= l
            base += 1


def _halfband_sig(dtype: types.Float) -> Signature:
    return types.void(
        types.Array(dtype, 1, "C"),  # x: input samples, x[0] is absolute input index `x_start`
        types.int64,  # x_start
        types.Array(dtype, 1, "C", readonly=True),  # odd taps g[k] = h[2k + 1], a multiple of 4 of them
        types.int64,  # j_start: absolute index of out[0]
        types.Array(dtype, 1, "C"),  # out
        types.Array(dtype, 1, "C"),  # work: halfband_work(len(out), len(odd_taps)) samples of scratch space
    )


def halfband_work(n_out: int, n_taps: int) -> int:
    """Scratch samples the half-band kernels need for n_out outputs (either direction)."""
    return min(n_out, _BLOCK) * 2 + 4 * n_taps


@njit(inline="always")
def _pair_sums(plane, c, taps, o):
    """o[i] = Σ_k taps[k] · (plane[c + i - k] + plane[c + i + 1 + k]) for i < len(o).

    The sum runs from the outermost (smallest) taps inwards, which keeps the running sum small
    while most terms are added (less rounding in float32); four tap pairs per vector pass, the
    first pass starting the sums (len(taps) is a multiple of 4).
    """
    n = o.shape[0]
    zero = o.dtype.type(0.0)
    first = True
    for k in range(taps.shape[0] - 1, -1, -4):
        g0 = taps[k]
        g1 = taps[k - 1]
        g2 = taps[k - 2]
        g3 = taps[k - 3]
        lo0 = plane[c - k : c - k + n]
        hi0 = plane[c + 1 + k : c + 1 + k + n]
        lo1 = plane[c - k + 1 : c - k + 1 + n]
        hi1 = plane[c + k : c + k + n]
        lo2 = plane[c - k + 2 : c - k + 2 + n]
        hi2 = plane[c + k - 1 : c + k - 1 + n]
        lo3 = plane[c - k + 3 : c - k + 3 + n]
        hi3 = plane[c + k - 2 : c + k - 2 + n]
        for i in range(n):
            o[i] = (
                (zero if first else o[i])
                + g0 * (lo0[i] + hi0[i])
                + g1 * (lo1[i] + hi1[i])
                + g2 * (lo2[i] + hi2[i])
                + g3 * (lo3[i] + hi3[i])
            )
        first = False


def halfband_decimate(x, x_start, odd_taps, j_start, out, work):
    """2:1 decimation by a zero-phase half-band FIR (h[0] = 1/2, h[even] = 0 elsewhere).

    out[i] = Σ_k odd_taps[k] · (x[2j - 2k - 1] + x[2j + 2k + 1]) + x[2j] / 2 with j = j_start + i,
    the pairs summed from the outermost taps inwards and the centre added last. For each block
    of outputs the samples it reads are split into their odd- and even-indexed ones (two
    small contiguous planes that stay in L1 cache), so every pass over it is a vector loop.
    """
    n = out.shape[0]
    n_taps = odd_taps.shape[0]
    half = x.dtype.type(0.5)
    for i0 in range(0, n, _BLOCK):
        o = out[i0 : min(n, i0 + _BLOCK)]
        n_pairs = o.shape[0] + 2 * n_taps - 2
        first = 2 * (j_start + i0) - x_start - 2 * n_taps + 1  # x index of the block's first odd sample
        pairs = x[first : first + 2 * n_pairs]
        odd = work[: n_pairs + 1]  # odd[v] = x[first + 2v]
        even = work[n_pairs + 1 : 2 * n_pairs + 1]  # even[v] = x[first + 2v + 1]; centres from v = n_taps - 1
        for v in range(n_pairs):
            odd[v] = pairs[2 * v]
            even[v] = pairs[2 * v + 1]
        odd[n_pairs] = x[first + 2 * n_pairs]
        _pair_sums(odd, n_taps - 1, odd_taps, o)
        centre = even[n_taps - 1 : n_taps - 1 + o.shape[0]]
        for i in range(o.shape[0]):
            o[i] += half * centre[i]


def halfband_interpolate(x, x_start, odd_taps, j_start, out, work):
    """1:2 interpolation by a zero-phase half-band FIR: output j sits at input time j / 2.

    Even outputs are the input samples themselves, out = x[n] for j = 2n; odd outputs are
    out = Σ_k odd_taps[k] · (x[n - k] + x[n + 1 + k]) for j = 2n + 1, with the taps already
    scaled by 2 (the gain of zero-stuffing), summed from the outermost taps inwards.
    """
    first_n = j_start // 2  # input index of the first even output (or of the odd one after it)
    parity = j_start & 1  # out[parity::2] are the even outputs, out[1 - parity::2] the odd ones
    n = out.shape[0]
    n_odd = (n + parity) // 2  # odd outputs 2n + 1 for n = first_n ..
    n_even = n - n_odd
    even_in = x[first_n + parity - x_start :]  # the even outputs, in order
    # Each block's odd outputs and the even ones beside them are stored pairwise in one loop
    # (a vector loop of interleaving stores; two strided loops cost 3x as much).
    for i0 in range(0, n_odd, _BLOCK):
        o = work[: min(_BLOCK, n_odd - i0)]
        _pair_sums(x, first_n + i0 - x_start, odd_taps, o)
        if parity == 0:  # out[2i] even, out[2i + 1] odd
            dst = out[2 * i0 : 2 * (i0 + o.shape[0])]
            src = even_in[i0 : i0 + o.shape[0]]
            for i in range(o.shape[0]):
                dst[2 * i] = src[i]
                dst[2 * i + 1] = o[i]
        else:  # out[2i] odd, out[2i + 1] even (an odd output may end the call)
            k = min(o.shape[0], n_even - i0)
            dst = out[2 * i0 : 2 * (i0 + k)]
            src = even_in[i0 : i0 + k]
            for i in range(k):
                dst[2 * i] = o[i]
                dst[2 * i + 1] = src[i]
            if k < o.shape[0]:
                out[2 * (i0 + k)] = o[k]
    if n_even > n_odd:  # parity 0 and an even output ends the call
        out[n - 1] = even_in[n_even - 1]


_SIGNATURES = {polyphase: _polyphase_sig, halfband_decimate: _halfband_sig, halfband_interpolate: _halfband_sig}


@cache
def compiled(kernel: Callable[..., None], dtype_code: str) -> Callable[..., None]:
    """`kernel` (one of this module's three) compiled for float32 ("f") or float64 ("d") samples.

    Compiled on first request, from numba's on-disk cache after the first run: a process
    that only ever resamples float64 never loads the float32 code, and the other way round.
    The arguments must match the signature exactly (no type dispatch per call).
    """
    dtype = types.float32 if dtype_code == "f" else types.float64
    return jit_entry(kernel, _SIGNATURES[kernel](dtype), nogil=True, boundscheck=False, fastmath={"contract"})


# -- fused streaming steps for 20 ms telephony frames ------------------------------------------
# One call per message does what the bridge's pcm16 paths otherwise do in several: decode the
# codec, append to a polyphase stage's input history, compute every output now complete (the
# `polyphase` kernel above, same arithmetic, so the same bits), round to int16 by audiofmt's
# float rule, and encode. The filter table and the history are the caller's data, taken from a
# PolyphaseEngine (audiofmt.bridge._fused), so a new filter design changes nothing here.
# They live in this file so that numba's cache, keyed on this file, is rebuilt with `polyphase`.
#
# ints (int64): lo, hi (the history is hist[lo:hi]), start (absolute input index of hist[lo]),
# n_out (outputs so far), n_in (inputs so far), n_clipped (outputs clipped to int16 so far), then
# the stage's M, L, T (half-length) and the outputs `work` holds at its front (y), then
# last_tap[L] and unit_tap[L] (`fused_ints` builds it). A step returns the number of outputs
# written, or -1 if `hist`, `out` or `work` is too small (then nothing has changed: the caller
# grows them and calls again). Samples and taps are float32 or float64 (hist, work, coefs and the
# decode table of one dtype), as the engine's. The message's data comes last, so that a caller
# can bind every other argument once; few arguments, as each costs time at every call.

_N_INTS = 10  # ints before last_tap


def fused_ints(lo: int, hi: int, start: int, n_out: int, n_in: int, m: int, l: int, half: int,
               last_tap: np.ndarray, unit_tap: np.ndarray) -> np.ndarray:
    """The `ints` array of a fused step (n_clipped 0, no room for outputs yet)."""
    return np.concatenate((np.array([lo, hi, start, n_out, n_in, 0, m, l, half, 0], dtype=np.int64), last_tap, unit_tap))


_SUMS = _BLOCK + 16  # _interpolate3's sums lie this far apart in its scratch space


def fused_work(n_x: int, m: int, n_y: int) -> int:
    """work samples a fused step needs for a history of n_x samples and up to n_y outputs."""
    return n_y + max(polyphase_work(n_x, m), 3 * _SUMS)


_polyphase_inline = njit(boundscheck=False, fastmath={"contract"})(polyphase)


@njit(boundscheck=False, fastmath={"contract"})
def _interpolate3(x, first, coefs, nb, out, work):
    """The L = 3, M = 1 polyphase stage where every phase's last tap reaches the same input (the
    8 → 24 kHz plans): out[3s + φ] = Σ_k coefs[φ, k] · x[first + s + k] for s < nb (≤ _BLOCK).

    The three phases read the same inputs, so one pass over a group of four taps updates all
    three sums from four loads. Each output is the same chain of multiply-adds, in the same
    order (k ascending, from 0), as `polyphase` computes it, so the same bits.
    """
    n_taps = coefs.shape[1]
    a0 = work[:nb]  # three sums at constant distances (one alias check), not 4 KiB (one cache set)
    a1 = work[_SUMS : _SUMS + nb]
    a2 = work[2 * _SUMS : 2 * _SUMS + nb]
    c0, c1, c2 = coefs[0], coefs[1], coefs[2]
    zero = out.dtype.type(0.0)
    for k in range(0, n_taps, 4):  # K is a multiple of 4 (design tables pad it)
        s_0 = x[first + k : first + k + nb]
        s_1 = x[first + k + 1 : first + k + 1 + nb]
        s_2 = x[first + k + 2 : first + k + 2 + nb]
        s_3 = x[first + k + 3 : first + k + 3 + nb]
        p0, p1, p2, p3 = c0[k], c0[k + 1], c0[k + 2], c0[k + 3]
        q0, q1, q2, q3 = c1[k], c1[k + 1], c1[k + 2], c1[k + 3]
        r0, r1, r2, r3 = c2[k], c2[k + 1], c2[k + 2], c2[k + 3]
        for s in range(nb):
            v0, v1, v2, v3 = s_0[s], s_1[s], s_2[s], s_3[s]
            a0[s] = (a0[s] if k else zero) + p0 * v0 + p1 * v1 + p2 * v2 + p3 * v3
            a1[s] = (a1[s] if k else zero) + q0 * v0 + q1 * v1 + q2 * v2 + q3 * v3
            a2[s] = (a2[s] if k else zero) + r0 * v0 + r1 * v1 + r2 * v2 + r3 * v3
    for s in range(nb):
        out[3 * s] = a0[s]
        out[3 * s + 1] = a1[s]
        out[3 * s + 2] = a2[s]


@njit(inline="always")
def _polyphase_step(x, x_start, coefs, last_tap, unit_tap, m, l, j_start, out, work):
    """`polyphase`, the 8 → 24 kHz shape by `_interpolate3` (the same bits, 1.5x faster)."""
    n_out = out.shape[0]
    if (
        m == 1
        and l == 3
        and coefs.shape[1] % 4 == 0
        and last_tap[0] == last_tap[1]
        and last_tap[1] == last_tap[2]
        and unit_tap[0] < 0
        and unit_tap[1] < 0
        and unit_tap[2] < 0
        and work.shape[0] >= 3 * _SUMS
    ):
        b_lo = -(-j_start // 3)  # outputs 3b + φ for b_lo <= b < b_hi: every phase of each b
        b_hi = (j_start + n_out) // 3
        nb = b_hi - b_lo
        if 0 < nb <= _BLOCK:
            head, tail = 3 * b_lo - j_start, 3 * b_hi - j_start
            _interpolate3(x, b_lo + last_tap[0] - coefs.shape[1] + 1 - x_start, coefs, nb, out[head:tail], work)
            if head > 0:
                _polyphase_inline(x, x_start, coefs, last_tap, unit_tap, m, l, j_start, out[:head], work)
            if tail < n_out:
                _polyphase_inline(x, x_start, coefs, last_tap, unit_tap, m, l, j_start + tail, out[tail:], work)
            return
    _polyphase_inline(x, x_start, coefs, last_tap, unit_tap, m, l, j_start, out, work)


@njit(inline="always")
def _make_room(hist, state, n_new):
    """Move the kept history to the front if n_new samples do not fit after it; False if they
    cannot fit at all."""
    lo, hi = state[0], state[1]
    if hi + n_new <= hist.shape[0]:
        return True
    if hi - lo + n_new > hist.shape[0]:
        return False
    for i in range(hi - lo):
        hist[i] = hist[lo + i]
    state[0] = 0
    state[1] = hi - lo
    return True


@njit(inline="always")
def _run_stage(hist, state, n_new, coefs, work):
    """After n_new samples were written at hist[hi:]: the outputs now complete into
    work[:count] (count returned, -1 if work is too small, the new samples then not taken)."""
    lo, start, n_out = state[0], state[2], state[3]
    m, l, half, n_y = state[6], state[7], state[8], state[9]
    hi = state[1] + n_new
    n_x = hi - lo
    end = -((half - (start + n_x) * l) // m)  # outputs whose last input has arrived
    count = end - n_out
    if count < 0:
        count = 0
    need_work = n_y + max((m * ((n_x + m - 1) // m + 1) if m > 1 else 0) + _BLOCK, 3 * _SUMS)
    if count > n_y or need_work > work.shape[0]:
        return -1
    state[1] = hi
    state[4] += n_new
    if count > 0:
        last_tap = state[_N_INTS : _N_INTS + l]
        unit_tap = state[_N_INTS + l : _N_INTS + 2 * l]
        _polyphase_step(hist[lo:hi], start, coefs, last_tap, unit_tap, m, l, n_out, work[:count], work[n_y:])
        state[3] = end
        first = (end * m + half) // l - coefs.shape[1] + 1  # first input the next output reads
        if first > start:
            state[0] = lo + first - start
            state[2] = first
    return count


@njit(inline="always")
def _rounded(v):
    """audiofmt's float rule before the cast: rint(v * 32768) clipped to the int16 range (exact for
    float32 and float64 alike), and 1 if it was clipped, else 0. Branch-free: the loops that
    call it are vector loops."""
    r = np.rint(v * np.float32(32768.0))  # in v's own dtype: float32 * float32 stays float32 (exact)
    clipped = np.int64((r > np.float32(32767.0)) | (r < np.float32(-32768.0)))
    return min(max(r, np.float32(-32768.0)), np.float32(32767.0)), clipped


def codes_to_pcm16_step(table, hist, state, coefs, out, work, codes):
    """G.711 codes → float by `table` (each code's sample / 32768) → polyphase → int16 →
    pcm16 bytes in out[: 2 * count] (native byte order: the caller uses it on a little-endian
    machine only)."""
    n_new = len(codes)  # a uint8 array or the message's bytes as they are
    if not _make_room(hist, state, n_new) or out.shape[0] < 2 * state[9]:
        return -1
    hi = state[1]
    for i in range(n_new):
        hist[hi + i] = table[codes[i]]
    count = _run_stage(hist, state, n_new, coefs, work)
    y = work
    samples = out[: 2 * count].view(np.int16)
    clipped = 0
    for i in range(count):
        r, c = _rounded(y[i])
        samples[i] = np.int16(r)
        clipped += c
    state[5] += clipped
    return count


@njit(inline="always")
def _to_codes(encode_table, hist, state, coefs, out, work, n_new):
    """The rest of a step to G.711 codes, once n_new samples were written at hist[hi:]."""
    count = _run_stage(hist, state, n_new, coefs, work)
    clipped = 0
    for i in range(count):
        r, c = _rounded(work[i])
        out[i] = encode_table[np.uint16(np.int16(r))]
        clipped += c
    state[5] += clipped
    return count


def pcm16_to_codes_step(encode_table, hist, state, coefs, out, work, pcm):
    """little-endian pcm16 bytes → float (/ 32768, exact) → polyphase → int16 → codes by the
    65536-entry `encode_table`, in out[:count]."""
    n_new = len(pcm) // 2  # a uint8 array or the message's bytes as they are
    if not _make_room(hist, state, n_new) or out.shape[0] < state[9]:
        return -1
    hi = state[1]
    scale = 1.0 / 32768.0
    for i in range(n_new):
        v = np.int16(np.uint16(pcm[2 * i]) | (np.uint16(pcm[2 * i + 1]) << 8))
        hist[hi + i] = np.float64(v) * scale
    return _to_codes(encode_table, hist, state, coefs, out, work, n_new)


def int16_to_codes_step(encode_table, hist, state, coefs, out, work, samples):
    """pcm16_to_codes_step for int16 samples (an array) instead of their bytes."""
    n_new = len(samples)
    if not _make_room(hist, state, n_new) or out.shape[0] < state[9]:
        return -1
    hi = state[1]
    scale = 1.0 / 32768.0
    for i in range(n_new):
        hist[hi + i] = np.float64(samples[i]) * scale
    return _to_codes(encode_table, hist, state, coefs, out, work, n_new)


@cache
def compiled_step(kernel: Callable[..., int], arg_types: tuple) -> Callable[..., int]:
    """`kernel` (one of the three steps above) compiled for these numba argument
    types (numba.typeof of the arrays the caller passes), on first request."""
    return jit_entry(kernel, types.int64(*arg_types), nogil=True, boundscheck=False, fastmath={"contract"})
