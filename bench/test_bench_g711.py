"""pytest-benchmark benchmarks of audiofmt's G.711 kernels and public functions.

Run (from the repository root):

    .venv/bin/python -m pytest bench/test_bench_g711.py --benchmark-only
    .venv/bin/python -m pytest bench/test_bench_g711.py --benchmark-only --benchmark-min-rounds=3

The default test run does not collect this file (pyproject's `testpaths` is `tests/`).

Two workloads, grouped in the output by `benchmark.group`:

* 10 minutes of 24 kHz speech-like int16 noise (14.4 M samples): every G.711 kernel writing
  into a preallocated output, and the public `encode` / `decode` / `transcode`.
* single 20 ms frames (160 and 480 samples), bytes in -> bytes out, the way a telephony bridge
  calls the public API.

Every benchmarked callable is called once before timing, so numba's compile / cache load and the
first touch of freshly allocated outputs stay out of the numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from signals import speech_like

import audiofmt
from audiofmt.g711 import encode_table
from audiofmt.kernels import g711

RATE_HZ = 24_000
LONG_SECONDS = 600
FRAME_SIZES = (160, 480)
LAWS = ("ulaw", "alaw")
FORMAT = {"ulaw": "g711_ulaw", "alaw": "g711_alaw"}
OTHER = {"ulaw": "alaw", "alaw": "ulaw"}
EXPAND = {"ulaw": g711.ulaw_expand, "alaw": g711.alaw_expand}

LONG = f"{LONG_SECONDS // 60} min @ {RATE_HZ // 1000} kHz"


def run(benchmark: Any, group: str, n_samples: int, fn: Callable[[], object]) -> None:
    """Warm `fn` up once, then benchmark it under `group`."""
    benchmark.group = group
    benchmark.extra_info["samples"] = n_samples
    fn()
    benchmark(fn)


# ------------------------------------------------------------------ data


@pytest.fixture(scope="module")
def long_pcm() -> np.ndarray:
    return speech_like(LONG_SECONDS * RATE_HZ)


@pytest.fixture(scope="module")
def long_codes(long_pcm: np.ndarray) -> dict[str, np.ndarray]:
    """The long signal coded in each law, as writable uint8 arrays."""
    codes = {}
    for law in LAWS:
        codes[law] = np.empty(long_pcm.shape[0], dtype=np.uint8)
        g711.lut_encode(long_pcm, encode_table(law), codes[law])
    return codes


def frame_bytes(n: int) -> bytes:
    """One frame of `n` int16 samples as native-endian PCM bytes."""
    return speech_like(n, seed=n).tobytes()


# ------------------------------------------------------------------ kernels, 10 minutes


@pytest.mark.parametrize("law", LAWS)
def test_kernel_lut_encode(benchmark: Any, long_pcm: np.ndarray, law: str) -> None:
    table = encode_table(law)
    out = np.empty(long_pcm.shape[0], dtype=np.uint8)
    run(benchmark, f"{LONG}: encode kernels", long_pcm.size, lambda: g711.lut_encode(long_pcm, table, out))


@pytest.mark.parametrize("law", LAWS)
def test_kernel_expand(benchmark: Any, long_codes: dict[str, np.ndarray], law: str) -> None:
    kernel, codes = EXPAND[law], long_codes[law]
    out = np.empty(codes.shape[0], dtype=np.int16)
    run(benchmark, f"{LONG}: decode kernels", codes.size, lambda: kernel(codes, out))


# ------------------------------------------------------------------ public API, 10 minutes


@pytest.mark.parametrize("law", LAWS)
def test_public_encode(benchmark: Any, long_pcm: np.ndarray, law: str) -> None:
    fmt = FORMAT[law]
    run(benchmark, f"{LONG}: public API", long_pcm.size, lambda: audiofmt.encode(long_pcm, fmt))


@pytest.mark.parametrize("law", LAWS)
def test_public_decode(benchmark: Any, long_codes: dict[str, np.ndarray], law: str) -> None:
    data, fmt = long_codes[law].tobytes(), FORMAT[law]
    run(benchmark, f"{LONG}: public API", len(data), lambda: audiofmt.decode(data, fmt))


@pytest.mark.parametrize("src", LAWS)
def test_public_transcode(benchmark: Any, long_codes: dict[str, np.ndarray], src: str) -> None:
    data, src_fmt, dst_fmt = long_codes[src].tobytes(), FORMAT[src], FORMAT[OTHER[src]]
    run(benchmark, f"{LONG}: public API", len(data), lambda: audiofmt.transcode(data, src_fmt, dst_fmt))


# ------------------------------------------------------------------ 20 ms frames, bytes -> bytes


@pytest.mark.parametrize("law", LAWS)
@pytest.mark.parametrize("n", FRAME_SIZES)
def test_frame_encode(benchmark: Any, n: int, law: str) -> None:
    pcm, fmt = frame_bytes(n), FORMAT[law]
    run(benchmark, f"20 ms frame, {n} samples", n, lambda: audiofmt.encode(np.frombuffer(pcm, np.int16), fmt))


@pytest.mark.parametrize("law", LAWS)
@pytest.mark.parametrize("n", FRAME_SIZES)
def test_frame_decode(benchmark: Any, n: int, law: str) -> None:
    fmt = FORMAT[law]
    codes = audiofmt.encode(np.frombuffer(frame_bytes(n), np.int16), fmt)
    run(benchmark, f"20 ms frame, {n} samples", n, lambda: audiofmt.decode(codes, fmt).tobytes())


@pytest.mark.parametrize("src", LAWS)
@pytest.mark.parametrize("n", FRAME_SIZES)
def test_frame_transcode(benchmark: Any, n: int, src: str) -> None:
    src_fmt, dst_fmt = FORMAT[src], FORMAT[OTHER[src]]
    codes = audiofmt.encode(np.frombuffer(frame_bytes(n), np.int16), src_fmt)
    run(benchmark, f"20 ms frame, {n} samples", n, lambda: audiofmt.transcode(codes, src_fmt, dst_fmt))
