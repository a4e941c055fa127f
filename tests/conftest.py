"""Shared test fixtures: where the ITU-T reference data lives."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

# Timings never decide a unit test: no per-example deadline (this VM's speed swings by ±30 %).
settings.register_profile("audiofmt", deadline=None)
settings.load_profile("audiofmt")

REPO = Path(__file__).resolve().parent.parent
G711_REFERENCE = Path(os.environ.get("AUDIOFMT_G711_REFERENCE", REPO.parent / "shared" / "g711"))


def read_reference(name: str) -> np.ndarray:
    """One G.191 sweep file (little-endian int16, 65536 values) or a 256-byte table."""
    path = G711_REFERENCE / name
    if not path.exists():
        pytest.fail(f"G.711 reference file {path} is missing; set AUDIOFMT_G711_REFERENCE to shared/g711")
    if name.endswith(".u8"):
        return np.fromfile(path, dtype=np.uint8)
    return np.fromfile(path, dtype="<i2").astype(np.int16)
