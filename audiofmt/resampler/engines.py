"""The resampling engines behind audiofmt.resample: mono, streaming, exact positions.

Every engine sees its input as one signal x[0 .. n) that is zero outside, and computes output
sample j at input time j * M / L (L / M = out_rate / in_rate in lowest terms) from exact
integer positions with a zero-phase filter, so a chain of them has zero delay. An engine
emits an output only when every input it depends on has arrived, and computes it the same
way whatever the chunking, so streaming equals one-shot bit for bit. At `finish(total)` it
emits the rest: `total` outputs in all, or with total=None every output that is not
identically zero (what a later stage of a chain still needs).

`plan.plan()` turns (rates, preset) into stages; `make_engine()` builds them for one channel
in float32 or float64 (samples and taps of one dtype throughout). The engines themselves live
in fir.py (direct-form FIR: polyphase, half-band) and fft.py (overlap-save); threads.py runs
long work on several threads. Their names stay importable from here.
"""

from __future__ import annotations

from math import gcd

import numpy as np

from .fft import FFTEngine
from .filters import Quality
from .fir import FIRStage, HalfbandDecimator, HalfbandInterpolator, History, PolyphaseEngine
from .plan import Stage, output_length, plan
from .threads import PARALLEL_MIN_OUT, TASKS_PER_THREAD, max_threads, run_parallel

__all__ = [
    "output_length",
    "Stage",
    "plan",
    "PolyphaseEngine",
    "HalfbandDecimator",
    "HalfbandInterpolator",
    "FFTEngine",
    "FIRStage",
    "History",
    "Chain",
    "make_engine",
    "max_threads",
    "run_parallel",
    "PARALLEL_MIN_OUT",
    "TASKS_PER_THREAD",
]


Engine = PolyphaseEngine | HalfbandDecimator | HalfbandInterpolator | FFTEngine


class Chain:
    """Stages in series; behaves like one engine."""

    def __init__(self, stages: list[Engine], rates: list[int], dtype: np.dtype) -> None:
        self.stages, self._rates = stages, rates  # rates[i]: input rate of stage i
        self._dtype = dtype
        self._n_out = 0
        for stage in stages[:-1]:  # each stage's output is consumed by the next one at once
            stage.reuse_outputs()

    def reuse_outputs(self) -> None:
        self.stages[-1].reuse_outputs()

    def set_threads(self, n: int) -> None:
        for stage in self.stages:
            stage.set_threads(n)

    def for_throughput(self) -> None:
        for stage in self.stages:
            stage.for_throughput()

    @property
    def lookahead(self) -> int:
        """Input samples (at the chain's input rate) that must follow an output's time before
        that output is emitted: the stages' look-aheads added up."""
        total = sum(stage.lookahead * self._rates[0] / rate for stage, rate in zip(self.stages, self._rates))
        return int(-(-total // 1))

    def push(self, x: np.ndarray, into: np.ndarray | None = None) -> np.ndarray:
        *middle, last = self.stages
        for stage in middle:
            x = stage.push(x)
        x = last.push(x, into) if into is not None else last.push(x)
        self._n_out += x.shape[0]
        return x

    def finish(self, total: int | None) -> np.ndarray:
        """The earlier stages' tails go through the last stage, which may then compute outputs
        past `total` (from the zero tail): those are cut."""
        x = np.zeros(0, dtype=self._dtype)
        *middle, last = self.stages
        for stage in middle:
            head = stage.push(x).copy()  # finish() reuses the buffer push() returned
            x = np.concatenate((head, stage.finish(None)))
        head = last.push(x).copy()
        out = np.concatenate((head, last.finish(total)))
        if total is not None:
            out = out[: max(0, total - self._n_out)]
        self._n_out += out.shape[0]
        return out


def make_engine(in_rate: int, out_rate: int, quality: Quality, dtype: np.dtype) -> Engine | Chain:
    """The engine for one channel in `dtype` (float32 or float64; a float64_only preset needs float64)."""
    if quality.float64_only and dtype != np.float64:
        raise ValueError(f"the {quality.name} preset computes in float64 only")
    stages = plan(in_rate, out_rate, quality)
    engines: list[Engine] = []
    for stage in stages:
        if stage.kind == "fft":
            common = gcd(stage.in_rate, stage.out_rate)
            engines.append(
                FFTEngine(stage.in_rate, stage.out_rate, stage.out_rate // common, stage.in_rate // common, quality, dtype)
            )
        elif stage.kind == "halfband":
            engines.append(HalfbandDecimator(stage, quality, dtype))
        elif stage.kind == "interpolate":
            engines.append(HalfbandInterpolator(stage, quality, dtype))
        else:
            engines.append(PolyphaseEngine(stage, quality, dtype))
    return engines[0] if len(engines) == 1 else Chain(engines, [stage.in_rate for stage in stages], dtype)
