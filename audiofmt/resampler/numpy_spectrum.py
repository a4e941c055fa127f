"""The FFT engine's spectral step without numba: a numpy twin of kernels.spectrum.resample_spectrum,
and the choice between the two.

Importing numba and loading a kernel costs a process 0.2-0.3 s of CPU, more than a conversion
of a few minutes of audio spends in the spectral step; a plan made of the FFT engine alone
(hq 44.1 or 48 kHz → 24 kHz, 16 kHz → 8 kHz, 16 kHz → 24 kHz …) needs no other kernel. So the
step runs in numpy until numba is worth loading:

- `resample_spectrum` computes what the kernel computes, bit for bit: the same IEEE operations
  on the same values in the same order (each product rounded, then the sums from left to right;
  no fused multiply-add in either: numba compiles the kernel without fastmath), vectorised over
  the rows and bins of a batch instead of looped. tests/test_numpy_spectrum.py compares the two
  over many sizes, ratios and both dtypes, and whole conversions. It takes the kernel's
  arguments: complex spectra and tables, computed as numba's complex arithmetic computes them.
- `SpectralStep` (one per engine) calls the kernel when numba is already imported in the process
  (loading one kernel then costs a few ms), else the twin, until the twins of the process have
  done TWIN_BUDGET points of work; then it loads the kernel (ski rental: the twin's extra cost
  up to then is about what loading numba costs, so neither choice ever costs more than twice
  the better one). The samples do not depend on which one ran, so switching mid-stream changes
  nothing in the output.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["resample_spectrum", "SpectralStep", "TWIN_BUDGET"]

# Points (rows x No of the inverse transforms: ~1.2 per output sample) the twins may compute
# before the kernel is loaded. Measured on the 2-core VM against the kernel written with numba's
# complex arithmetic: importing numba and loading the kernel take 0.23 s of CPU (best of 7
# processes); the twin costs 17-22 ns more per point (hq 44.1/48 kHz -> 24 kHz, 16 kHz -> 8 or
# 24 kHz, float64), so CPU time alone breaks even at 10-13 Mi points. A whole conversion weighs
# the other way: 10 min of 44.1 kHz FLAC -> pcm16 (16.8 Mi points) took 0.94 s wall / 1.64 s CPU
# with the twin throughout against 1.09 s / 1.57 s with the kernel from the start (best of 7,
# interleaved): numba's start-up sits on the critical path, the twin's work beside the decoding
# thread. 2^25 points, about 20 min of 24 kHz output, keeps such files numba-free; past it the
# kernel is loaded once (the most a late switch can add is that one load).
TWIN_BUDGET = 1 << 25
_twin_points = 0
_kernels: dict[np.dtype, Callable[..., None]] = {}
_load_lock = threading.Lock()


def resample_spectrum(
    z: np.ndarray, ga: np.ndarray, gb: np.ndarray, c: np.ndarray, d: np.ndarray, w: np.ndarray, y: np.ndarray | None = None
) -> None:
    """kernels.spectrum.resample_spectrum in numpy, with its arguments: W = C·Y + D·conj(Y
    mirrored) from Y = GA·Z + GB·conj(Z mirrored), as numba computes complex products and sums:
    (a+bi)(c+di) = (ac - bd) + (ad + bc)i, conj(x+yi) = x + (-0.0 - y)i, then the two products
    added part by part. `y`, the kernel's scratch, is not used: the twin needs a whole batch of
    scratch."""
    rows, n1, n2 = z.shape[0], z.shape[1], w.shape[1]
    n_keep = min(ga.shape[0], n2 + 1, n1)
    real = z.real.dtype
    spectrum = np.empty((2, rows, n2 + 1), dtype=real)
    spectrum[:, :, n_keep:] = 0.0
    scratch = np.empty((2, rows, max(n_keep, n2)), dtype=real)
    for lo, hi, b in ((0, 1, z[:, :1]), (1, n_keep, z[:, n1 - 1 : n1 - n_keep : -1])):
        if hi <= lo:
            continue
        part = slice(lo, hi)
        _complex_terms(spectrum[0, :, part], spectrum[1, :, part], ga[part], z[:, part], gb[part], b, scratch[:, :, : hi - lo])
    p = spectrum[0, :, :n2], spectrum[1, :, :n2]
    q = spectrum[0, :, n2:0:-1], spectrum[1, :, n2:0:-1]
    out = w.view(real)
    _complex_terms(out[:, 0::2], out[:, 1::2], c, p, d, q, scratch[:, :, :n2])


def _complex_terms(
    out_re: np.ndarray, out_im: np.ndarray, g: np.ndarray, a: Any, h: np.ndarray, b: Any, scratch: np.ndarray
) -> None:
    """out = g·a + h·conj(b) in numba's complex arithmetic; a and b complex arrays or (re, im) pairs.

    conj(b) = b_re - (-0.0 - b_im)i, so h·conj(b) = (h_re·b_re - h_im·(-b_im)) + (h_re·(-b_im) +
    h_im·b_re)i; a product's sign follows its factors' exactly and x - (-y) = x + y, -x + y = y - x
    exactly, so that is (h_re·b_re + h_im·b_im) + (h_im·b_re - h_re·b_im)i, bit for bit."""
    a_re, a_im = (a.real, a.imag) if isinstance(a, np.ndarray) else a
    b_re, b_im = (b.real, b.imag) if isinstance(b, np.ndarray) else b
    g_re, g_im = _parts(g)
    h_re, h_im = _parts(h)
    t, u = scratch[0], scratch[1]
    # real: (g_re·a_re - g_im·a_im) + (h_re·b_re + h_im·b_im)
    np.multiply(g_re, a_re, out=out_re)
    np.multiply(g_im, a_im, out=t)
    np.subtract(out_re, t, out=out_re)
    np.multiply(h_re, b_re, out=t)
    np.multiply(h_im, b_im, out=u)
    np.add(t, u, out=t)
    np.add(out_re, t, out=out_re)
    # imaginary: (g_re·a_im + g_im·a_re) + (h_im·b_re - h_re·b_im)
    np.multiply(g_re, a_im, out=out_im)
    np.multiply(g_im, a_re, out=u)
    np.add(out_im, u, out=out_im)
    np.multiply(h_im, b_re, out=t)
    np.multiply(h_re, b_im, out=u)
    np.subtract(t, u, out=t)
    np.add(out_im, t, out=out_im)


_table_parts: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _parts(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A complex table's real and imaginary parts as contiguous arrays, kept for the engine's own
    read-only tables (lru-cached in fft.py, so a few), made anew for any other."""
    if table.flags.writeable:
        return np.ascontiguousarray(table.real), np.ascontiguousarray(table.imag)
    kept = _table_parts.get(id(table))
    if kept is None or kept[0] is not table:
        if len(_table_parts) > 256:
            _table_parts.clear()
        kept = _table_parts[id(table)] = (table, np.ascontiguousarray(table.real), np.ascontiguousarray(table.imag))
    return kept[1], kept[2]


def _kernel(dtype: np.dtype) -> Callable[..., None]:
    kernel = _kernels.get(dtype)
    if kernel is None:
        with _load_lock:
            kernel = _kernels.get(dtype)
            if kernel is None:
                from ..kernels.spectrum import resample_spectrum as numba_kernel

                kernel = _kernels[dtype] = numba_kernel.variant(dtype, readonly=True)  # its gain tables are read-only
    return kernel


class SpectralStep:
    """The spectral step for samples of `dtype`, called like the kernel: the kernel once numba
    is imported or the process's twins have spent TWIN_BUDGET points, the twin until then."""

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = np.dtype(dtype)
        self._kernel: Callable[..., None] | None = _kernels.get(self.dtype)
        if self._kernel is None and "numba" in sys.modules:
            self._kernel = _kernel(self.dtype)

    def __call__(self, z: np.ndarray, *args: Any) -> None:
        kernel = self._kernel
        if kernel is None:
            global _twin_points
            if _twin_points < TWIN_BUDGET and "numba" not in sys.modules:
                w = args[-2]  # the inverse transforms' input: No reals, or No/2 complex numbers, per row
                _twin_points += w.shape[0] * w.shape[1] * (2 if w.dtype.kind == "c" else 1)
                resample_spectrum(z, *args)
                return
            kernel = self._kernel = _kernel(self.dtype)
        kernel(z, *args)
