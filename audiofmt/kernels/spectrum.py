"""The spectral step of the overlap-save resampler (numba): from the forward transform of a
block, packed two samples per complex number, to the inverse transform's input at the other
rate, with the filter's gains applied, in one pass.

A real block x of Ni samples is transformed as z[n] = x[2n] + i·x[2n+1] (a complex FFT of
Ni/2 points, Z). Its real spectrum is X[j] = A[j]·Z[j] + B[j]·conj(Z[Ni/2 - j]) with
A[j] = (1 - i·e^(-2πij/Ni)) / 2 and B[j] = (1 + i·e^(-2πij/Ni)) / 2 (indices mod Ni/2). The
filtered spectrum is Y[j] = G[j]·X[j] for j < n_keep and 0 above: `ga` = G·A, `gb` = G·B. The
output block y of No samples is made by an inverse complex FFT of No/2 points whose result,
read as interleaved (real, imaginary) pairs, is y: its input is
W[k] = C[k]·Y[k] + D[k]·conj(Y[No/2 - k]) with C[k] = (1 + i·e^(2πik/No)) / 2 and
D[k] = (1 - i·e^(2πik/No)) / 2 (the inverse's 1 / (No/2) scale folded into C and D).

That is what numpy.fft.rfft and irfft do around their complex FFTs, plus the gain multiply,
but for the bins below the lower Nyquist only and without the three passes over memory.
Every block (row) is computed by the same operations, whatever batch it is in.
"""

from __future__ import annotations

import numpy as np
from numba import types
from numba.core.typing import Signature  # type: ignore[attr-defined]

from . import lazy_njit


def _signature(real_type: types.Float) -> Signature:
    table = types.Array(real_type, 1, "C", readonly=True)
    return types.void(
        types.Array(real_type, 2, "C"),  # z[rows, Ni]: forward transforms of the packed blocks, (re, im) pairs
        table,  # ga_re[n_keep], ga_im[n_keep]: G·A
        table,
        table,  # gb_re, gb_im: G·B
        table,
        table,  # c_re[No/2], c_im, d_re, d_im: C and D
        table,
        table,
        table,
        types.Array(real_type, 2, "C"),  # w[rows, No]: the inverse transform's input, (re, im) pairs (written)
        types.Array(real_type, 1, "C"),  # y: No + 2 values of scratch space
    )


@lazy_njit([_signature(types.float32), _signature(types.float64)], nogil=True, boundscheck=False)
def resample_spectrum(z, ga_re, ga_im, gb_re, gb_im, c_re, c_im, d_re, d_im, w, y):
    """w[r] = the inverse transform's input for block r, from its forward transform z[r].

    Complex numbers are (re, im) pairs of reals, the tables split into real and imaginary
    parts. Indices are unsigned: numba then drops its negative-index wraparound test, which
    otherwise makes this loop 3-6x slower."""
    one = np.uint64(1)
    two = np.uint64(2)
    n1 = np.uint64(z.shape[1] // 2)
    n2 = np.uint64(w.shape[1] // 2)
    n_keep = np.uint64(min(ga_re.shape[0], w.shape[1] // 2 + 1, z.shape[1] // 2))
    for r in range(z.shape[0]):
        zr = z[r]
        wr = w[r]
        # Y[j] = GA[j]·Z[j] + GB[j]·conj(Z[n1 - j]), Z[n1] being Z[0]
        y[0] = ga_re[0] * zr[0] - ga_im[0] * zr[1] + gb_re[0] * zr[0] + gb_im[0] * zr[1]
        y[1] = ga_re[0] * zr[1] + ga_im[0] * zr[0] - gb_re[0] * zr[1] + gb_im[0] * zr[0]
        for j in range(one, n_keep):
            mirror = two * (n1 - j)
            a_re = zr[two * j]
            a_im = zr[two * j + one]
            b_re = zr[mirror]
            b_im = zr[mirror + one]
            y[two * j] = ga_re[j] * a_re - ga_im[j] * a_im + gb_re[j] * b_re + gb_im[j] * b_im
            y[two * j + one] = ga_re[j] * a_im + ga_im[j] * a_re - gb_re[j] * b_im + gb_im[j] * b_re
        for i in range(two * n_keep, two * n2 + two):
            y[i] = 0.0
        # W[k] = C[k]·Y[k] + D[k]·conj(Y[n2 - k])
        for k in range(n2):
            mirror = two * (n2 - k)
            p_re = y[two * k]
            p_im = y[two * k + one]
            q_re = y[mirror]
            q_im = y[mirror + one]
            wr[two * k] = c_re[k] * p_re - c_im[k] * p_im + d_re[k] * q_re + d_im[k] * q_im
            wr[two * k + one] = c_re[k] * p_im + c_im[k] * p_re - d_re[k] * q_im + d_im[k] * q_re
