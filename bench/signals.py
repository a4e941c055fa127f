"""Test signals shared by the benchmarks."""

from __future__ import annotations

import numpy as np


def speech_like(n: int, rate_hz: int = 24_000, seed: int = 711) -> np.ndarray:
    """`n` int16 samples of gaussian noise (sigma 3000) under a slow, syllable-like envelope."""
    rng = np.random.default_rng(seed)
    block = rate_hz // 100  # the envelope changes every 10 ms
    t = np.arange(n // block + 1) / 100.0
    envelope = (0.1 + 0.9 * np.abs(np.sin(2 * np.pi * 2.0 * t))) * (0.7 + 0.3 * np.sin(2 * np.pi * 0.1 * t))
    noise = rng.standard_normal(n, dtype=np.float32) * np.float32(3000.0)
    noise *= np.repeat(envelope.astype(np.float32), block)[:n]
    return np.clip(np.rint(noise), -32768, 32767).astype(np.int16)
