"""The overlap-save FFT resampling engine (the hq and vhq presets): blocks at absolute positions.

Block b turns input [b*Bi - P, b*Bi - P + Ni) into output [b*Bo, (b+1)*Bo); every block is
positioned on absolute sample indices, so streaming equals one-shot bit for bit.

The transforms are numpy's pocketfft (which computes float32 in float32 since numpy 2.0), a
batch of blocks per call, called through numpy's gufuncs with a scale in the samples' dtype
(numpy.fft.rfft and fft run float32 through their float64 loops). Each block is transformed
with the same operations whatever batch it falls in, so the batching (which depends on the
chunking) changes no sample; the tests check it. scipy.fft (the same pocketfft) once looked
1.25-1.41x faster: that was numpy.fft.rfft's float64 cast; against the float32 loop it is
0.86-1.07x per ratio, so it stays a bench-only switch (`BACKEND`, which also turns the packed
transforms off), see docs/resampling.md.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from functools import lru_cache
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .filters import Quality, kaiser_beta, kaiser_length, windowed_sinc

__all__ = ["FFTEngine"]

_FLOAT64 = np.dtype(np.float64)
BACKEND = "numpy"  # "scipy" only for bench/compare_resample.py's comparison (other rounding)


try:  # numpy >= 2.0: the gufuncs behind numpy.fft (pocketfft C++)
    _POCKETFFT: Any = importlib.import_module("numpy.fft._pocketfft_umath")
except ImportError:  # pragma: no cover - another numpy layout: the public function
    _POCKETFFT = None


def _numpy_rfft(frames: np.ndarray, axis: int, out: np.ndarray | None = None) -> np.ndarray:
    """numpy.fft.rfft along the last axis, computed in the frames' own dtype.

    numpy.fft.rfft (numpy 2.0-2.4 at least) passes its scale factor as the Python int 1, which
    makes its gufunc pick the float64 loop: a float32 batch is cast to float64 and the bins
    back to complex64 through the ufunc's buffers, 5-8x slower than the transform itself
    (11-14 ns per point against 2 here). Calling the gufunc with a scale of the frames' dtype
    runs the float32 loop; for float64 it is the same loop as numpy.fft.rfft's."""
    n = frames.shape[-1]
    if _POCKETFFT is None or n % 2 or axis not in (-1, frames.ndim - 1):
        return np.fft.rfft(frames, axis=axis, out=out)
    return _POCKETFFT.rfft_n_even(frames, frames.dtype.type(1), axes=[(-1,), (), (-1,)], out=out)


def _fft_functions() -> tuple[object, object]:
    """(rfft, irfft) of the backend (scipy imported on first use only)."""
    if BACKEND == "numpy":
        return _numpy_rfft, np.fft.irfft
    import scipy.fft

    return scipy.fft.rfft, scipy.fft.irfft

_MAX_FFT = 1 << 21
# Blocks per numpy call, unpacked transforms: 2^17 points of the larger transform (real samples).
# Measured (interleaved A/B, CPU time): 2^18 input samples per call, as before, was up to 1.7x
# slower for 8k -> 24k, whose output blocks are 3x the input ones; 2^17 points beat 2^16 at 5-6
# ratios of 7 in two runs by 2-14 % (96k -> 24k 6 % slower; noise is about 10 %).
_BATCH_POINTS = 1 << 17
# Packed transforms: blocks per call such that their forward bins, spectra and inverse outputs
# take at most this many bytes (within a core's L2 cache beside the tables and the signal).
# Measured (CPU time, best of 7 interleaved rounds, 10 s per ratio): 768 KB is within noise of
# the fastest at every ratio; 1 MB (about what 2^17 points gave) makes 8k -> 24k 1.8x slower
# (13.2 -> 23.5 ns per input sample), 256 KB makes 44.1k -> 24k 1.4x slower.
_BATCH_BYTES = 3 << 18
_GROUP = 4  # rows pocketfft transforms at once (float32 in SSE registers; float64 takes 2)


def _fft_cost(n: int, itemsize: int) -> float:
    """Relative time of a real FFT of size n (n even: a complex FFT of n/2 points) of reals of
    `itemsize` bytes on this class of machine (measured, rough). pocketfft's complex64 FFTs
    take 0.21-0.25 ns per point and log2 point up to 1920 points, whose data and scratch space
    (2 × 15 KB) fit a 32 KB L1 cache; beyond, 0.26-0.38 (numpy 2.4, AMD EPYC). The steps are
    taken by size in bytes, so float64 blocks are half as long (and have half the latency)."""
    half = max(n // 2, 2)
    n_bytes = half * 2 * itemsize
    per_point = 1.0 if n_bytes <= 15360 else 1.2 if n_bytes <= 32768 else 1.35 if n_bytes <= 131072 else 1.7
    if half % 4:  # no radix-4 pass (e.g. 1470 = 2·3·5·7²): 10-20 % more per point and log2 point
        per_point *= 1.15
    return per_point * half * math.log2(half)


# Candidate block factors k (FFT sizes M·k and L·k): {1, 3, 5} × 2^s, sizes pocketfft runs with
# radix-4, 2, 3 and 5 passes.
_BLOCK_FACTORS = sorted({base << shift for base in (1, 3, 5) for shift in range(40) if (base << shift) <= _MAX_FFT})


def _block_factor(l: int, m: int, pad: int, itemsize: int = 4) -> int:
    """k for FFT sizes Ni = M·k, No = L·k: the cheapest per input sample by _fft_cost, with
    the spectral step's pass over the No/2 output bins.

    Measured against this choice (whole resample() calls, CPU time, best of 7-11 interleaved
    rounds, float32): at 1:3 (8k -> 24k) k = 1280 (No = 3840) beat the former choice 2048
    by 7-20 % in three scans, at 2:1 (48k -> 24k) k = 1536 beat 2048 by 8-17 % in four; at
    the other ratios sizes within 2x of the choice are within noise (10 %) of each other."""
    best: tuple[float, int] | None = None
    for k in _BLOCK_FACTORS:
        n_in, n_out = m * k, l * k
        if n_in < 2 * pad + m:
            continue
        if max(n_in, n_out) > _MAX_FFT and best is not None:
            break
        cost = (_fft_cost(n_in, itemsize) + _fft_cost(n_out, itemsize) + n_out) / (n_in - 2 * pad)
        if best is None or cost < best[0]:
            best = (cost, k)
    assert best is not None
    return best[1]


@lru_cache(maxsize=64)
def _fft_design(l: int, m: int, quality: Quality, dtype_code: str = "d") -> tuple[int, int, int, np.ndarray]:
    """(P, Ni, No, H) for the overlap-save engine: pad, FFT sizes in and out, bin gains
    (in float32 for dtype_code "f", float64 for "d")."""
    lower, higher = min(l, m), max(l, m)
    ratio = lower / higher  # lower Nyquist as a fraction of the higher one
    transition = (quality.stopband_begin - quality.passband_end) * ratio / 2  # × the higher rate
    cutoff = (quality.stopband_begin + quality.passband_end) * ratio / 4
    attenuation = quality.attenuation_for(dtype_code)
    half = kaiser_length(attenuation, transition) // 2
    taps = windowed_sinc(half, cutoff, kaiser_beta(attenuation))
    half_in = half if m >= l else -(-half * m // l)  # filter half-length in input samples
    pad = -(-half_in // m) * m
    k = _block_factor(l, m, pad, np.dtype(dtype_code).itemsize)
    n_in, n_out = m * k, l * k
    n_high = max(n_in, n_out)
    circular = np.zeros(n_high)
    circular[: half + 1] = taps[half:]
    circular[n_high - half :] = taps[:half]
    n_bins = min(n_in, n_out) // 2 + 1
    gains = (np.fft.rfft(circular)[:n_bins].real * (n_out / n_in)).astype(dtype_code)
    gains.setflags(write=False)
    return pad, n_in, n_out, gains


@lru_cache(maxsize=64)
def _packed_tables(l: int, m: int, quality: Quality, dtype_code: str) -> tuple[np.ndarray, ...]:
    """(G·A, G·B, C, D) for kernels.spectrum.resample_spectrum (see there), complex in
    dtype_code's precision: the gains below the lower Nyquist (the bin at it, which the stop
    band's edge leaves below -150 dB, is dropped: the packed inverse needs it real)."""
    _, n_in, n_out, gains = _fft_design(l, m, quality, dtype_code)
    g = gains[:-1].astype(np.float64)
    j = np.arange(g.shape[0])
    w_in = np.exp(-2j * np.pi * j / n_in)
    k = np.arange(n_out // 2)
    w_out = np.exp(2j * np.pi * k / n_out)
    scale = 1.0 / (n_out // 2)  # the inverse complex FFT's 1 / (No/2)
    tables = (g * (1 - 1j * w_in) / 2, g * (1 + 1j * w_in) / 2, (1 + 1j * w_out) * scale / 2, (1 - 1j * w_out) * scale / 2)
    complex_type = np.result_type(np.dtype(dtype_code), np.complex64)
    result = tuple(np.ascontiguousarray(t.astype(complex_type)) for t in tables)
    for t in result:
        t.setflags(write=False)
    return result


class FFTEngine:
    """Overlap-save resampling in the frequency domain (the hq and vhq presets).

    Block b turns input [b*Bi - P, b*Bi - P + Ni) into output [b*Bo, (b+1)*Bo): rfft of size Ni,
    multiply the bins below the lower Nyquist by the filter's gains, irfft of size No = Ni*L/M,
    keep the Bo samples the filter fully covers. Block positions are absolute sample indices.
    With Ni and No even (every built-in preset) the real transforms run packed: a complex FFT
    of Ni/2 points over the block read as (even, odd) sample pairs, kernels.spectrum's one pass
    (real spectrum, gains, packing for the inverse), a complex inverse FFT of No/2 points read
    as No samples: 3-17 % faster end to end than rfft, multiply and irfft (bench, CPU time).
    Samples, gains and transforms are all in `dtype` (float32 or float64). `threads` > 1 splits
    each batch of blocks across that many threads (each block is transformed the same way:
    the same samples).
    """

    def __init__(
        self, in_rate: int, out_rate: int, l: int, m: int, quality: Quality, dtype: np.dtype = _FLOAT64
    ) -> None:
        self.in_rate, self.out_rate, self.l, self.m = in_rate, out_rate, l, m
        self._dtype = np.dtype(dtype)
        self.pad, self.n_fft_in, self.n_fft_out, self.gains = _fft_design(l, m, quality, self._dtype.char)
        self.hop_in = self.n_fft_in - 2 * self.pad
        self.hop_out = self.hop_in * l // m
        self.out_offset = self.pad * l // m
        self.threads = 1
        self._buffers: dict[int, tuple[np.ndarray, ...]] = {}
        self._reuse: np.ndarray | None = None  # set by reuse_outputs(): the output buffer
        self._group = 1  # blocks per push are a multiple of this (for_throughput(): _GROUP)
        self._rfft, self._irfft = _fft_functions()
        self._complex = np.result_type(self._dtype, np.complex64)
        # Both sizes even (always, for the built-in presets): the transforms run packed, two
        # samples per complex number, with the spectral step in one numba pass.
        self._packed = BACKEND == "numpy" and _POCKETFFT is not None and not (self.n_fft_in | self.n_fft_out) % 2
        self._tables = _packed_tables(l, m, quality, self._dtype.char) if self._packed else ()
        self._step: Callable[..., None] | None = None
        if self._packed:  # kernels.spectrum's kernel, or its numpy twin while numba is not loaded
            from .numpy_spectrum import SpectralStep

            self._step = SpectralStep(self._complex)
        self._one = self._dtype.type(1)
        self._buffer = np.zeros(self.pad, dtype=self._dtype)  # holds input from absolute index self._start
        self._start = -self.pad
        self._next_block = 0

    def reuse_outputs(self) -> None:
        """From now on push() and finish() return views into one buffer that the next call
        overwrites (for a consumer that copies what it keeps, e.g. the next stage of a chain):
        fresh memory for every chunk's output costs page faults."""
        self._reuse = np.empty(0, dtype=self._dtype)

    def set_threads(self, n: int) -> None:
        self.threads = max(1, n)

    def for_throughput(self) -> None:
        """One-shot use: each push transforms whole groups of 4 blocks (pocketfft transforms 4
        rows at once in vector registers, a remainder row by row at 3-4x the cost per row) and
        holds up to 3 complete blocks back for the next push or finish(). The same samples,
        later: not for a live stream."""
        self._group = _GROUP

    @property
    def lookahead(self) -> int:
        """Input samples that may arrive after an output's time before that output is emitted."""
        return self.hop_in + self.pad

    def push(self, x: np.ndarray, into: np.ndarray | None = None) -> np.ndarray:
        """As the FIR engines' push: the outputs the input completes (whole blocks), written to
        the start of `into` if given (C-contiguous, long enough), else to a new array."""
        n_buffered = self._start + self._buffer.shape[0]  # absolute index where x begins
        n_avail = n_buffered + x.shape[0]
        n_blocks = (n_avail + self.pad - self.n_fft_in) // self.hop_in + 1 - self._next_block
        n_blocks -= n_blocks % self._group  # throughput mode: whole groups, the rest held back
        if n_blocks <= 0:
            if x.shape[0]:
                self._buffer = np.concatenate((self._buffer, x))
            return np.zeros(0, dtype=self._dtype)
        # Blocks whose window starts inside x read x itself; only the first few, which straddle
        # the buffered tail and x, need a (short) joined copy.
        first_start = self._next_block * self.hop_in - self.pad
        n_straddling = min(n_blocks, max(0, -((first_start - n_buffered) // self.hop_in)))
        n_straddling = min(n_blocks, -(-n_straddling // self._group) * self._group)  # whole groups too
        count = n_blocks * self.hop_out
        if into is not None:
            out = into[:count]
        elif self._reuse is None:
            out = np.empty(count, dtype=self._dtype)
        else:
            if self._reuse.shape[0] < count:
                self._reuse = np.empty(max(count, 2 * self._reuse.shape[0]), dtype=self._dtype)
            out = self._reuse[:count]
        split = n_straddling * self.hop_out
        tasks: list[Callable[[int], None]] = []
        if n_straddling:
            span = (n_straddling - 1) * self.hop_in + self.n_fft_in
            joined = np.concatenate((self._buffer, x[: first_start + span - n_buffered]))
            tasks += self._tasks(joined[first_start - self._start :], n_straddling, out[:split])
        if n_blocks > n_straddling:
            inside_start = first_start + n_straddling * self.hop_in - n_buffered
            tasks += self._tasks(x[inside_start:], n_blocks - n_straddling, out[split:])
        if self.threads > 1 and len(tasks) > 1:  # the joined blocks run beside the others
            from .threads import run_parallel

            run_parallel(tasks, self.threads)
        else:
            for task in tasks:
                task(0)
        self._next_block += n_blocks
        keep_from = self._next_block * self.hop_in - self.pad
        if keep_from >= n_buffered:
            self._buffer = x[keep_from - n_buffered :].copy()
        else:
            self._buffer = np.concatenate((self._buffer[keep_from - self._start :], x))
        self._start = keep_from
        return out

    def finish(self, total: int | None) -> np.ndarray:
        """Emit the rest: `total` outputs in all, the input being zero after what was pushed;
        total=None (inside a chain): every output whose filter reaches an input sample, those
        at input times before n_in + pad."""
        self._group = 1  # every block that is left, now
        n_in = self._start + self._buffer.shape[0]
        if total is None:
            total = -(-(n_in + self.pad) * self.l // self.m) if n_in > 0 else 0
        n_blocks = -(-(total - self._next_block * self.hop_out) // self.hop_out)
        if n_blocks <= 0:
            return np.zeros(0, dtype=self._dtype)
        needed = (self._next_block + n_blocks - 1) * self.hop_in - self.pad + self.n_fft_in
        out = self.push(np.zeros(max(0, needed - n_in), dtype=self._dtype))
        return out[: out.shape[0] - ((self._next_block * self.hop_out) - total)]

    def _tasks(self, signal: np.ndarray, n_blocks: int, dest: np.ndarray) -> list[Callable[[int], None]]:
        """Tasks that together set dest[:] = the outputs of `n_blocks` consecutive blocks whose
        first window starts at signal[0]: one, or with threads, runs of whole groups of 4 blocks
        (pocketfft transforms 4 rows at once, a remainder row by row), at least 2 blocks each,
        several per thread. A task is called with its thread's slot (scratch space)."""
        span = (n_blocks - 1) * self.hop_in + self.n_fft_in
        if signal.shape[0] < span:
            raise ValueError("FFTEngine._tasks: the signal does not cover the blocks")
        if self._packed:  # block i is signal[i*hop : i*hop + Ni] read as Ni/2 complex pairs
            pairs = np.ascontiguousarray(signal[: span - span % 2]).view(self._complex)
            step = pairs.strides[0]
            frames = as_strided(pairs, (n_blocks, self.n_fft_in // 2), (self.hop_in // 2 * step, step), writeable=False)
            rows = self._transform_rows_packed
        else:
            step = signal.strides[0]  # block i is signal[i*hop : i*hop + Ni], a read-only view
            frames = as_strided(signal, (n_blocks, self.n_fft_in), (self.hop_in * step, step), writeable=False)
            rows = self._transform_rows
        out = dest.reshape(n_blocks, self.hop_out)
        if self.threads <= 1 or n_blocks < 4:
            return [lambda slot: rows(frames, out, slot)]
        from .threads import TASKS_PER_THREAD

        groups = -(-n_blocks // _GROUP)
        parts = min(self.threads * TASKS_PER_THREAD, groups, n_blocks // 2)
        bounds = [min(n_blocks, _GROUP * (groups * i // parts)) for i in range(parts + 1)]

        def task(a: int, b: int) -> Callable[[int], None]:
            return lambda slot: rows(frames[a:b], out[a:b], slot)

        return [task(a, b) for a, b in pairwise(bounds)]

    def _scratch(self, slot: int, rows: int) -> tuple[np.ndarray, ...]:
        """Reused buffers of at least `rows` rows for one thread's transforms (slot: its task
        number): forward bins, the zero-padded product, the blocks. Fresh memory costs page
        faults that take about as long as the transforms; grown on demand, so a stream of small
        chunks keeps small buffers."""
        buffers = self._buffers.get(slot)
        if buffers is None or buffers[0].shape[0] < rows:
            buffers = (
                np.empty((rows, self.n_fft_in // 2 + 1), dtype=self._complex),
                np.zeros((rows, self.n_fft_out // 2 + 1), dtype=self._complex),  # bins above n_bins stay 0
                np.empty((rows, self.n_fft_out), dtype=self._dtype),
            )
            self._buffers[slot] = buffers
        return buffers

    def _transform_rows(self, frames: np.ndarray, out: np.ndarray, slot: int) -> None:
        """out[i] = the kept outputs of the block whose input is frames[i], a batch at a time,
        in the scratch buffers of `slot`."""
        n_blocks = frames.shape[0]
        n_bins = self.gains.shape[0]
        per_batch = min(n_blocks, max(1, _BATCH_POINTS // max(self.n_fft_in, self.n_fft_out)))
        # The product goes into a contiguous buffer that already holds the zero bins above
        # the lower Nyquist, so irfft neither copies a strided view nor pads.
        forward, spectrum, blocks = self._scratch(slot, per_batch)
        rfft, irfft = self._rfft, self._irfft
        reuse = BACKEND == "numpy"  # numpy >= 2.0 writes transforms into `out`; scipy.fft cannot
        for b in range(0, n_blocks, per_batch):
            rows = min(per_batch, n_blocks - b)
            if reuse:
                f = rfft(frames[b : b + rows], axis=1, out=forward[:rows])  # type: ignore[operator]
            else:
                f = rfft(frames[b : b + rows], axis=1)  # type: ignore[operator]
            np.multiply(f[:, :n_bins], self.gains, out=spectrum[:rows, :n_bins])
            if reuse:
                t = irfft(spectrum[:rows], n=self.n_fft_out, axis=1, out=blocks[:rows])  # type: ignore[operator]
            else:
                t = irfft(spectrum[:rows], n=self.n_fft_out, axis=1)  # type: ignore[operator]
            out[b : b + rows] = t[:, self.out_offset : self.out_offset + self.hop_out]

    def _transform_rows_packed(self, frames: np.ndarray, out: np.ndarray, slot: int) -> None:
        """_transform_rows with packed transforms: frames[i] is block i as Ni/2 complex pairs;
        a complex FFT of Ni/2 points, kernels.spectrum's step to the other rate's Nyquist with
        the gains, an inverse complex FFT of No/2 points read as No real samples."""
        step = self._step
        assert step is not None
        n_blocks = frames.shape[0]
        n_half_in, n_half_out = self.n_fft_in // 2, self.n_fft_out // 2
        row_bytes = (n_half_in + 2 * n_half_out) * self._complex.itemsize  # forward, spectrum, blocks
        per_batch = max(1, _BATCH_BYTES // row_bytes)
        if per_batch >= 2 * _GROUP:  # pocketfft transforms 4 rows at once in vector registers, a remainder one by one
            per_batch -= per_batch % _GROUP
        per_batch = min(n_blocks, per_batch)
        buffers = self._buffers.get(slot)
        if buffers is None or buffers[0].shape[0] < per_batch:
            buffers = (
                np.empty((per_batch, n_half_in), dtype=self._complex),
                np.empty((per_batch, n_half_out), dtype=self._complex),
                np.empty((per_batch, n_half_out), dtype=self._complex),
                np.empty(n_half_out + 1, dtype=self._complex),
            )
            self._buffers[slot] = buffers
        forward, spectrum, blocks, scratch = buffers
        tables = self._tables
        one, axes = self._one, [(-1,), (), (-1,)]
        for b in range(0, n_blocks, per_batch):
            rows = min(per_batch, n_blocks - b)
            _POCKETFFT.fft(frames[b : b + rows], one, axes=axes, out=forward[:rows])
            step(forward[:rows], *tables, spectrum[:rows], scratch)
            _POCKETFFT.ifft(spectrum[:rows], one, axes=axes, out=blocks[:rows])
            samples = blocks[:rows].view(self._dtype)
            out[b : b + rows] = samples[:, self.out_offset : self.out_offset + self.hop_out]
