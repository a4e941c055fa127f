"""pytest-benchmark benchmarks of audiofmt's resampler.

Run (from the repository root):

    .venv/bin/python -m pytest bench/test_bench_resample.py --benchmark-only

The default test run does not collect this file (pyproject's `testpaths` is `tests/`).
Ratios against soxr come from `bench/compare_resample.py`, which times both in one run;
these are the per-path numbers for tracking audiofmt itself:

* one-shot `resample()` of 10 s of float32 and float64 noise at the seven ratios the README
  reports, hq preset;
* one 20 ms frame through a streaming low_latency `Resampler` (8k <-> 24k), the way a
  telephony bridge calls it.

Every benchmarked callable runs once before timing (numba's cache load, first-touch pages).
"""

from __future__ import annotations

import numpy as np
import pytest

import audiofmt

RATIOS = [(8000, 24000), (16000, 24000), (22050, 24000), (44100, 24000), (48000, 24000), (96000, 24000), (24000, 8000)]
SECONDS = 10


def _noise(n: int, dtype: type) -> np.ndarray:
    return (np.random.default_rng(0).standard_normal(n) * 0.1).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("in_rate,out_rate", RATIOS, ids=[f"{i}-{o}" for i, o in RATIOS])
def test_resample_hq(benchmark, in_rate, out_rate, dtype):
    benchmark.group = f"resample hq {np.dtype(dtype).name}, {SECONDS} s"
    x = _noise(in_rate * SECONDS, dtype)
    audiofmt.resample(x, in_rate, out_rate, threads=1)
    y = benchmark(audiofmt.resample, x, in_rate, out_rate, threads=1)  # single-threaded, as compare_resample
    assert y.shape[0] == audiofmt.output_length(x.shape[0], in_rate, out_rate)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("in_rate,out_rate", [(8000, 24000), (24000, 8000)], ids=["8000-24000", "24000-8000"])
def test_low_latency_20ms_frame(benchmark, in_rate, out_rate, dtype):
    benchmark.group = "low_latency, one 20 ms frame"
    frame = _noise(in_rate // 50, dtype)
    stream = audiofmt.Resampler(in_rate, out_rate, "low_latency")
    for _ in range(10):
        stream.process(frame)
    y = benchmark(stream.process, frame)
    assert y.shape[0] == out_rate // 50
