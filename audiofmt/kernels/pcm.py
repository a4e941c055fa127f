"""PCM sample conversion kernels (numba)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import LazyKernel, lazy_njit

# Signatures are built on first use (numba is imported then, not with this module).


def _round_sigs() -> list[Any]:
    from numba import types

    return [
        types.UniTuple(types.int64, 2)(types.Array(dtype, 1, "C", readonly=ro), types.Array(types.int16, 1, "C"))
        for dtype in (types.float32, types.float64)
        for ro in (False, True)
    ]


def _nonfinite_sigs() -> list[Any]:
    from numba import types

    return [
        types.boolean(types.Array(dtype, 1, "C", readonly=ro))
        for dtype in (types.float32, types.float64)
        for ro in (False, True)
    ]


@lazy_njit(_round_sigs, nogil=True)
def float_to_int16(x, out):
    """out = clip(rint(x * 32768), -32768, 32767); returns (n_clipped, n_nonfinite).

    Rounding is to nearest, ties to even. A non-finite sample is written as 0 and counted.
    """
    n_clipped = 0
    n_nonfinite = 0
    for i in range(x.shape[0]):
        v = np.float64(x[i]) * 32768.0
        if not np.isfinite(v):
            n_nonfinite += 1
            out[i] = 0
            continue
        r = np.rint(v)
        if r > 32767.0:
            n_clipped += 1
            r = 32767.0
        elif r < -32768.0:
            n_clipped += 1
            r = -32768.0
        out[i] = np.int16(r)
    return n_clipped, n_nonfinite


@lazy_njit(_nonfinite_sigs, nogil=True, fastmath={"reassoc"})
def any_nonfinite(x):
    """True if a sample of x is NaN or ±inf.

    x - x is exactly 0 for every finite x and NaN otherwise, so the sum of those is 0 or NaN
    whatever order it is taken in: "reassoc" lets it vectorize without changing the answer.
    """
    total = x.dtype.type(0.0)
    for i in range(x.shape[0]):
        total += x[i] - x[i]
    return total != 0.0


_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)


def float_entry(kernel: LazyKernel, x: np.ndarray) -> Callable[..., Any]:
    """`kernel` (float_to_int16 or any_nonfinite) compiled for x alone, when x is a C-contiguous
    1-D native float32/float64 array: only that signature is loaded. Otherwise the kernel
    itself, which dispatches on the argument types (and refuses types it was not built for)."""
    if x.ndim == 1 and x.flags.c_contiguous and (x.dtype == _F64 or x.dtype == _F32):
        return kernel.variant(x.dtype, readonly=not x.flags.writeable)
    return kernel
