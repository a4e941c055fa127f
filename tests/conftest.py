"""Shared test fixtures: where the ITU-T reference data lives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

# Timings never decide a unit test: no per-example deadline (this VM's speed swings by ±30 %).
settings.register_profile("audiofmt", deadline=None)
settings.load_profile("audiofmt")

REPO = Path(__file__).resolve().parent.parent
G711_REFERENCE = Path(os.environ.get("AUDIOFMT_G711_REFERENCE", REPO.parent / "shared" / "g711"))


def pytest_configure(config: pytest.Config) -> None:
    """For a parallel run (`-n auto`), in the controlling process, before the workers start:

    - schedule by work stealing unless --dist was given: a worker that runs out of tests takes
      some from the other's queue, so a few long tests at the end of the order do not leave a
      core idle (the default, --dist load, hands out fixed chunks);
    - when numba's cache is cold (a fresh clone, as in CI), fill it in two processes at once
      (tests/_warm_kernels.py): otherwise every worker compiles the same kernels, ~20 s of CPU
      each. Best effort: a kernel it misses is compiled by the first test that uses it.
    """
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        return
    given = [*config.invocation_params.args, *os.environ.get("PYTEST_ADDOPTS", "").split()]
    if config.option.dist == "load" and not any(a == "-d" or a.startswith("--dist") for a in given):
        config.option.dist = "worksteal"
    from audiofmt.cli import kernel_cache_cold

    if kernel_cache_cold(("pcm", "g711", "polyphase", "plc")):
        halves = [subprocess.Popen([sys.executable, "-m", "tests._warm_kernels", str(half)], cwd=REPO,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for half in (0, 1)]
        for process in halves:
            try:
                process.wait(timeout=300)
            except subprocess.TimeoutExpired:  # never hold the run up: the tests compile what is missing
                process.kill()
                process.wait()


def read_reference(name: str) -> np.ndarray:
    """One G.191 sweep file (little-endian int16, 65536 values) or a 256-byte table."""
    path = G711_REFERENCE / name
    if not path.exists():
        pytest.fail(f"G.711 reference file {path} is missing; set AUDIOFMT_G711_REFERENCE to shared/g711")
    if name.endswith(".u8"):
        return np.fromfile(path, dtype=np.uint8)
    return np.fromfile(path, dtype="<i2").astype(np.int16)
