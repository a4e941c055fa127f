"""resampler.numpy_spectrum: the numpy twin of the FFT engine's spectral step is the kernel bit for
bit, and the engine switches between them without changing a sample."""

from __future__ import annotations

import subprocess
import sys
from math import gcd

import numpy as np
import pytest

from audiofmt.kernels.spectrum import resample_spectrum as kernel
from audiofmt.resampler import numpy_spectrum
from audiofmt.resampler.core import Resampler
from audiofmt.resampler.fft import FFTEngine, _packed_tables
from audiofmt.resampler.filters import get_quality
from audiofmt.resampler.numpy_spectrum import SpectralStep, resample_spectrum

RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 96000)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _kernel_for(dtype: np.dtype) -> object:
    """The kernel for samples of `dtype` (complex spectra of that precision: FFTEngine's choice)."""
    return kernel.variant(np.result_type(dtype, np.complex64), readonly=True)


def _both(z: np.ndarray, tables: tuple[np.ndarray, ...], n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """(kernel's w, twin's w) for real spectra z (rows, Ni) as (re, im) pairs, read as complex
    numbers, and the complex tables (read-only, as the engine's)."""
    dtype = z.dtype
    cdtype = np.result_type(dtype, np.complex64)
    w_kernel = np.full((z.shape[0], n_out), np.nan, dtype=dtype).view(cdtype)
    w_twin = np.full((z.shape[0], n_out), np.nan, dtype=dtype).view(cdtype)
    y = np.empty(n_out // 2 + 1, dtype=cdtype)
    z = z.view(cdtype)
    _kernel_for(dtype)(z, *tables, w_kernel, y)
    resample_spectrum(z, *tables, w_twin, y)
    return w_kernel, w_twin


@pytest.mark.parametrize(("quality", "dtype"), [("hq", np.float32), ("hq", np.float64), ("vhq", np.float64)])  # vhq: float64 only
def test_twin_is_the_kernel_for_every_design(quality, dtype):
    """Every pair of common rates, with the FFT engine's own tables for it, on random spectra of
    several batch sizes (and scales near both ends of the float range)."""
    q = get_quality(quality)
    rng = np.random.default_rng(12)
    checked = 0
    for rate_in in RATES:
        for rate_out in RATES:
            if rate_in == rate_out:
                continue
            g = gcd(rate_in, rate_out)
            l, m = rate_out // g, rate_in // g
            engine = FFTEngine(rate_in, rate_out, l, m, q, np.dtype(dtype))
            tables = _packed_tables(l, m, q, np.dtype(dtype).char)
            for rows, scale in ((1, 1.0), (3, 1e-30), (7, 1e30)):
                z = (rng.standard_normal((rows, engine.n_fft_in)) * scale).astype(dtype)
                w_kernel, w_twin = _both(z, tables, engine.n_fft_out)
                assert _same_bits(w_kernel, w_twin), (rate_in, rate_out, rows, scale)
            checked += 1
    assert checked == len(RATES) * (len(RATES) - 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_twin_is_the_kernel_for_any_sizes(dtype):
    """Arbitrary tables and sizes: n_keep limited by the gains, by the output's Nyquist (n2 + 1)
    or by the input's (n1), down to one bin; special values (zeros, subnormals, huge)."""
    rng = np.random.default_rng(5)
    tiny = np.finfo(dtype).smallest_subnormal
    for case in range(300):
        n1 = int(rng.integers(1, 70))
        n2 = int(rng.integers(1, 70))
        n_gains = int(rng.integers(1, 80))
        rows = int(rng.integers(1, 5))
        parts = [rng.standard_normal(n).astype(dtype) for n in (n_gains,) * 4 + (n2,) * 4]  # (re, im) of 4 tables
        cdtype = np.result_type(dtype, np.complex64)
        tables = tuple(np.ascontiguousarray(parts[i] + 1j * parts[i + 1], dtype=cdtype) for i in range(0, 8, 2))
        for t in tables:
            t.setflags(write=False)
        z = rng.standard_normal((rows, 2 * n1)).astype(dtype)
        if case % 3 == 0:
            z[rng.random(z.shape) < 0.3] = 0
        if case % 5 == 0:
            z[rng.random(z.shape) < 0.3] = tiny
        if case % 7 == 0:
            z *= dtype(1e35 if dtype == np.float32 else 1e300)  # products overflow to inf the same way
        w_kernel, w_twin = _both(z, tables, 2 * n2)
        assert _same_bits(w_kernel, w_twin), (n1, n2, n_gains, rows)


@pytest.mark.parametrize(("rate_in", "rate_out"), [(44100, 24000), (48000, 24000), (16000, 8000), (16000, 24000), (22050, 16000)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_streams_with_the_twin_and_with_the_kernel_are_identical(rate_in, rate_out, dtype):
    """Whole streams through the engine, in uneven chunks, one with the twin, one with the kernel,
    one switching from the twin to the kernel half-way: the same bytes."""
    x = (np.random.default_rng(3).standard_normal(3 * rate_in) * 0.2).astype(dtype)
    chunks = np.cumsum(np.random.default_rng(4).integers(1, 40000, size=200))
    pieces = np.split(x, chunks[chunks < x.shape[0]])
    outputs = []
    for mode in ("twin", "kernel", "switch"):
        stream = Resampler(rate_in, rate_out, "hq")
        out = []
        for i, piece in enumerate(pieces):
            if i == 0:
                out.append(stream.process(piece))
                engine = stream._engines[0]
                assert isinstance(engine, FFTEngine) and isinstance(engine._step, SpectralStep)
                continue
            use_kernel = mode == "kernel" or (mode == "switch" and i >= len(pieces) // 2)
            engine._step = _kernel_for(np.dtype(dtype)) if use_kernel else resample_spectrum
            out.append(stream.process(piece))
        out.append(stream.flush())
        outputs.append(np.concatenate(out))
    assert _same_bits(outputs[0], outputs[1]) and _same_bits(outputs[0], outputs[2])


_POLICY = """
import sys
import numpy as np
from audiofmt.resampler import numpy_spectrum
from audiofmt.resampler.core import Resampler
numpy_spectrum.TWIN_BUDGET = int(sys.argv[1])
x = np.random.default_rng(1).standard_normal(44100 * 20) * 0.1
stream = Resampler(44100, 24000, "hq")
y = np.concatenate([stream.process_decoded(x[i : i + 65536]) for i in range(0, x.shape[0], 65536)] + [stream.flush()])
print("numba" in sys.modules, numpy_spectrum._twin_points > 0, y.tobytes().hex()[-64:], len(y))
"""


def test_an_fft_only_stream_loads_numba_only_after_the_twin_budget():
    """In a fresh process an hq 44.1 kHz -> 24 kHz stream needs no numba until its twins have
    done TWIN_BUDGET points; then the kernel takes over, and the samples are the same."""
    def run(budget: int) -> list[str]:
        out = subprocess.run([sys.executable, "-c", _POLICY, str(budget)], capture_output=True, text=True, check=True)
        return out.stdout.split()

    within, beyond, kernel_only = run(1 << 30), run(1 << 18), run(0)
    assert within[:2] == ["False", "True"]
    assert beyond[:2] == ["True", "True"]
    assert kernel_only[:2] == ["True", "False"]
    assert within[2:] == beyond[2:] == kernel_only[2:]


def test_the_kernel_is_used_at_once_when_numba_is_loaded():
    import numba  # noqa: F401  (already loaded by the other tests; said here)

    engine = FFTEngine(44100, 24000, 240, 441, get_quality("hq"), np.dtype(np.float64))
    assert isinstance(engine._step, SpectralStep) and engine._step._kernel is _kernel_for(np.dtype(np.float64))
    assert numpy_spectrum.TWIN_BUDGET == 1 << 25


@pytest.mark.skipif(sys.version_info >= (3, 14), reason="numba's complex product recovers infinities from Python 3.14 on")
@pytest.mark.parametrize("complex_dtype", [np.complex64, np.complex128])
def test_twin_is_numbas_complex_arithmetic_for_the_complex_form(complex_dtype):
    """The twin gives the kernel's (numba's) complex arithmetic bit for bit on complex spectra
    with signed zeros and subnormals, for the engine's designs and arbitrary sizes."""
    real = np.dtype(complex_dtype).char.lower()
    step = _kernel_for(np.dtype(real))
    rng = np.random.default_rng(9)
    q = get_quality("hq")
    cases = []
    for rate_in, rate_out in ((44100, 24000), (48000, 24000), (16000, 8000), (8000, 24000), (22050, 16000)):
        g = gcd(rate_in, rate_out)
        l, m = rate_out // g, rate_in // g
        engine = FFTEngine(rate_in, rate_out, l, m, q, np.dtype(real))
        cases.append((engine.n_fft_in // 2, engine.n_fft_out // 2, _packed_tables(l, m, q, real)))
    for _ in range(100):
        n1, n2, n_gains = (int(v) for v in rng.integers(1, 60, size=3))
        tables = tuple(
            (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(complex_dtype) for n in (n_gains, n_gains, n2, n2)
        )
        for t in tables:
            t.setflags(write=False)  # as the engine's
        cases.append((n1, n2, tables))
    for i, (n1, n2, tables) in enumerate(cases):
        rows = 1 + i % 4
        z = (rng.standard_normal((rows, n1)) + 1j * rng.standard_normal((rows, n1))).astype(complex_dtype)
        if i % 3 == 0:
            z.real[rng.random(z.shape) < 0.3] = 0
            z.imag[rng.random(z.shape) < 0.3] = -0.0
        if i % 5 == 0:
            z.imag[rng.random(z.shape) < 0.3] = np.finfo(real).smallest_subnormal
        w_numba = np.full((rows, n2), np.nan, dtype=complex_dtype)
        w_twin = np.full((rows, n2), np.nan, dtype=complex_dtype)
        step(z, *tables, w_numba, np.empty(n2 + 1, dtype=complex_dtype))
        resample_spectrum(z, *tables, w_twin, None)
        assert _same_bits(w_numba, w_twin), (i, n1, n2)
