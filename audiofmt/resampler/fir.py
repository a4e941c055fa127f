"""The direct-form FIR engines (numba kernels): polyphase L/M and half-band 2:1 and 1:2.

Every engine sees its input as one signal x[0 .. n) that is zero outside and computes output
j at input time j * M / L from exact integer positions with a zero-phase filter; it emits an
output only when every input it reads has arrived, and computes it the same way whatever the
chunking (see engines.py for the contract they share with the FFT engine).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from math import gcd

import numpy as np

from .filters import Quality, halfband_taps, polyphase_table
from .plan import Stage
from .threads import PARALLEL_MIN_OUT, run_parallel

__all__ = ["History", "FIRStage", "PolyphaseEngine", "HalfbandDecimator", "HalfbandInterpolator"]


class History:
    """The input samples from absolute index `start` on, kept in one reusable array.

    The kept samples are data[lo:hi]. Appending copies only the new samples; dropping old ones moves `lo` and compacts only
    when the array is full, so a stream of small chunks costs no reallocation.
    """

    def __init__(self, n_zeros: int, dtype: np.dtype) -> None:
        self.data = np.zeros(max(1024, 4 * n_zeros), dtype=dtype)
        self.lo = 0
        self.hi = n_zeros
        self.start = -n_zeros

    @property
    def end(self) -> int:
        """Absolute index one past the newest sample."""
        return self.start + self.hi - self.lo

    def samples(self) -> np.ndarray:
        """A view of every kept sample (valid until the next append)."""
        return self.data[self.lo : self.hi]

    def append(self, x: np.ndarray) -> None:
        n = x.shape[0]
        hi = self.hi
        if hi + n > self.data.shape[0]:
            length = hi - self.lo
            if length + n > self.data.shape[0] // 2:
                data = np.empty(2 * (length + n), dtype=self.data.dtype)
                data[:length] = self.data[self.lo : hi]
                self.data = data
            else:
                self.data[:length] = self.data[self.lo : hi].copy()
            self.lo, hi = 0, length
        self.data[hi : hi + n] = x
        self.hi = hi + n

    def append_zeros(self, until: int) -> None:
        """Extend the signal with zeros up to absolute index `until` (exclusive)."""
        if until > self.end:
            self.append(np.zeros(until - self.end, dtype=self.data.dtype))

    def drop_before(self, index: int) -> None:
        """Forget samples before absolute `index`."""
        n = index - self.start
        if n > 0:
            self.lo += n
            self.start = index

    def restart(self, x: np.ndarray, start: int) -> None:
        """Keep exactly x, as the samples from absolute index `start` on."""
        self.lo = self.hi = 0
        self.start = start
        self.append(x)


def _kernel(kernel: Callable[..., None], dtype: np.dtype) -> Callable[..., None]:
    """`kernel` (from kernels.polyphase) compiled for `dtype`."""
    from ..kernels.polyphase import compiled

    return compiled(kernel, dtype.char)


_DIRECT = 4096  # chunks at least this long are read in place, not copied into the history


class FIRStage:
    """What the direct-form FIR engines share: a history of input, outputs in order as soon as
    their last input has arrived, and large chunks read in place.

    A subclass says which inputs output j reads (`first_input`, `last_input`), how many
    outputs the first n inputs complete (`ready`) or make non-zero (`n_nonzero`), and runs
    its kernel (`_compute(x, x_start, j_start, out)`, x[0] being absolute input x_start), and
    the first output that reads no input before index n (`first_output_from`).
    """

    lookahead: int  # input samples that must follow an output's time before it is emitted
    threads = 1  # kernel calls of at least PARALLEL_MIN_OUT outputs split across this many threads

    def __init__(self, n_history: int, dtype: np.dtype) -> None:
        self._history = History(n_history, dtype)
        self._dtype = dtype
        self._n_out = 0
        self._work = np.empty(0, dtype=dtype)  # the kernel's scratch space, reused
        self._reuse: np.ndarray | None = None  # set by reuse_outputs(): the output buffer
        self._slots: dict[int, np.ndarray] = {}  # scratch space of each thread task (threads > 1)

    def reuse_outputs(self) -> None:
        """From now on push() and finish() return views into one buffer that the next call
        overwrites (for a consumer that copies what it keeps): large outputs then cost no
        fresh memory, whose page faults can take as long as the filtering itself."""
        self._reuse = np.empty(0, dtype=self._dtype)

    def _output(self, count: int, into: np.ndarray | None = None) -> np.ndarray:
        if into is not None:
            return into[:count]
        if self._reuse is None:
            return np.empty(count, dtype=self._dtype)
        if self._reuse.shape[0] < count:
            self._reuse = np.empty(max(count, 2 * self._reuse.shape[0]), dtype=self._dtype)
        return self._reuse[:count]

    def _workspace(self, n: int) -> np.ndarray:
        if self._work.shape[0] < n:
            self._work = np.empty(max(n, 2 * self._work.shape[0]), dtype=self._dtype)
        return self._work

    def first_input(self, j: int) -> int:
        raise NotImplementedError

    def last_input(self, j: int) -> int:
        raise NotImplementedError

    def first_output_from(self, n: int) -> int:
        """The first output whose inputs all have absolute index >= n."""
        raise NotImplementedError

    def ready(self, n_in: int) -> int:
        raise NotImplementedError

    def n_nonzero(self, n_in: int) -> int:
        raise NotImplementedError

    def _compute(self, x: np.ndarray, x_start: int, j_start: int, out: np.ndarray) -> None:
        raise NotImplementedError

    def _compute_fresh(self, x: np.ndarray, x_start: int, j_start: int, out: np.ndarray, slot: int) -> None:
        """_compute with the scratch space of `slot` (a thread's, beside others)."""
        raise NotImplementedError

    def _slot_work(self, slot: int, n: int) -> np.ndarray:
        """At least n samples of scratch space for thread task `slot`, kept between calls
        (fresh memory costs page faults as long as the kernel's work)."""
        work = self._slots.get(slot)
        if work is None or work.shape[0] < n:
            work = self._slots[slot] = np.empty(n, dtype=self._dtype)
        return work

    def set_threads(self, n: int) -> None:
        self.threads = max(1, n)

    def for_throughput(self) -> None:
        """One-shot use (see FFTEngine.for_throughput): nothing changes for a FIR stage."""

    def _call(self, x: np.ndarray, x_start: int, j_start: int, out: np.ndarray) -> None:
        """_compute, split into one run of consecutive outputs per thread when there are many
        (FFT batches are cut finer: a block costs the same wherever it falls): each output is
        computed by the same operations wherever a run starts, so the samples are the same as one
        run's."""
        n = out.shape[0]
        if self.threads == 1 or n < PARALLEL_MIN_OUT:
            self._compute(x, x_start, j_start, out)
            return
        parts = self.threads  # one run each: the polyphase kernel slows down on short runs (few outputs per phase)
        bounds = [n * i // parts for i in range(parts + 1)]

        def task(a: int, b: int) -> Callable[[int], None]:
            lo = self.first_input(j_start + a) - x_start
            hi = self.last_input(j_start + b - 1) + 1 - x_start
            return lambda slot: self._compute_fresh(x[lo:hi], x_start + lo, j_start + a, out[a:b], slot)

        run_parallel([task(a, b) for a, b in pairwise(bounds) if b > a], self.threads)

    def push(self, x: np.ndarray, into: np.ndarray | None = None) -> np.ndarray:
        """Take the next input (C-contiguous, writable, the engine's dtype); return the outputs
        it completes, written to the start of `into` if given (C-contiguous, long enough: at
        most ready(n) - outputs so far). A long chunk is read where it is: only the outputs
        that also need older input run on a short joined copy."""
        history = self._history
        x_start = history.end
        end = self.ready(x_start + x.shape[0])
        if x.shape[0] < _DIRECT or end <= self._n_out or self.first_input(end) < x_start:
            history.append(x)
            return self._run(end, into)
        split = max(self._n_out, self.first_output_from(x_start))  # outputs before it read older input
        out = self._output(end - self._n_out, into)
        if split > self._n_out:
            history.append(x[: self.last_input(split - 1) + 1 - x_start])
            self._call(history.samples(), history.start, self._n_out, out[: split - self._n_out])
        if end > split:
            self._call(x, x_start, split, out[split - self._n_out :])
        self._n_out = end
        keep = self.first_input(end)
        history.restart(x[keep - x_start :], keep)
        return out

    def finish(self, total: int | None) -> np.ndarray:
        """Emit the rest, the input being zero after what was pushed (see the module doc)."""
        if total is None:
            total = self.n_nonzero(self._history.end)
        if total > self._n_out:
            self._history.append_zeros(self.last_input(total - 1) + 1)
        return self._run(total)

    def _run(self, end: int, into: np.ndarray | None = None) -> np.ndarray:
        count = end - self._n_out
        if count <= 0:
            return np.zeros(0, dtype=self._dtype)
        out = self._output(count, into)
        history = self._history
        self._call(history.samples(), history.start, self._n_out, out)
        self._n_out = end
        history.drop_before(self.first_input(end))
        return out


class PolyphaseEngine(FIRStage):
    """Direct-form polyphase FIR L/M: output j at input time j·M/L, T = half-length on the grid."""

    def __init__(self, stage: Stage, quality: Quality, dtype: np.dtype) -> None:
        from ..kernels.polyphase import polyphase, polyphase_work

        self._kernel = _kernel(polyphase, dtype)
        self._work_size = polyphase_work  # scratch samples the kernel needs
        common = gcd(stage.in_rate, stage.out_rate)
        self.l, self.m = stage.out_rate // common, stage.in_rate // common
        grid_rate = stage.in_rate * self.l
        max_half = None if quality.max_latency_ms is None else int(grid_rate * quality.max_latency_ms // 1000)
        self.half, self._coefs, self._last_tap, self._unit_tap = polyphase_table(
            stage.in_rate,
            self.l,
            self.m,
            stage.cutoff_hz,
            stage.transition_hz,
            quality.attenuation_for(dtype.char),
            max_half,
            dtype.char,
        )
        self.n_taps = self._coefs.shape[1]
        self.lookahead = -(-self.half // self.l)
        super().__init__(self.n_taps, dtype)
        self._work_fits = 0  # kernel inputs up to this many samples fit the scratch space as it is
        self._fit_work(4 * self.n_taps + 2048)  # grown when a longer input comes

    def push(self, x: np.ndarray, into: np.ndarray | None = None) -> np.ndarray:
        """FIRStage.push; a short chunk on one thread (a 20 ms frame) takes a shorter path in
        Python: the same kernel call with the same arguments, so the same samples, with about
        a dozen fewer method calls (1.5-3 µs of a frame's 6-11)."""
        if into is not None or x.shape[0] >= _DIRECT or self.threads != 1 or self._reuse is not None:
            return super().push(x, into)
        history = self._history
        history.append(x)
        lo, hi, start = history.lo, history.hi, history.start
        l, m, half = self.l, self.m, self.half
        end = -((half - (start + hi - lo) * l) // m)  # ready(): outputs whose last input has arrived
        count = end - self._n_out
        if count <= 0:
            return np.zeros(0, dtype=self._dtype)
        out = np.empty(count, dtype=self._dtype)
        if hi - lo > self._work_fits:
            self._fit_work(2 * (hi - lo))
        coefs = self._coefs
        self._kernel(history.data[lo:hi], start, coefs, self._last_tap, self._unit_tap, m, l, self._n_out, out, self._work)
        self._n_out = end
        history.drop_before((end * m + half) // l - coefs.shape[1] + 1)  # first_input(end)
        return out

    def last_input(self, j: int) -> int:
        return (j * self.m + self.half) // self.l

    def first_input(self, j: int) -> int:
        return self.last_input(j) - self.n_taps + 1

    def first_output_from(self, n: int) -> int:
        return -((self.half - (n + self.n_taps - 1) * self.l) // self.m)

    def ready(self, n_in: int) -> int:
        return -((self.half - n_in * self.l) // self.m)  # j with (jM + T) div L < n_in

    def n_nonzero(self, n_in: int) -> int:
        return ((n_in - 1) * self.l + self.half) // self.m + 1 if n_in > 0 else 0

    def _compute(self, x: np.ndarray, x_start: int, j_start: int, out: np.ndarray) -> None:
        if x.shape[0] > self._work_fits:
            self._fit_work(2 * x.shape[0])
        self._kernel(x, x_start, self._coefs, self._last_tap, self._unit_tap, self.m, self.l, j_start, out, self._work)

    def _compute_fresh(self, x: np.ndarray, x_start: int, j_start: int, out: np.ndarray, slot: int) -> None:
        work = self._slot_work(slot, self._work_size(x.shape[0], self.m))
        self._kernel(x, x_start, self._coefs, self._last_tap, self._unit_tap, self.m, self.l, j_start, out, work)

    def _fit_work(self, n_x: int) -> None:
        """Scratch space for kernel inputs of up to n_x samples."""
        self._workspace(self._work_size(n_x, self.m))
        self._work_fits = n_x


class _HalfbandStage(FIRStage):
    """What the 2:1 and 1:2 half-band engines share: odd taps and a kernel of the same shape."""

    def __init__(self, kernel: Callable[..., None], odd_taps: np.ndarray, reach: int, dtype: np.dtype) -> None:
        from ..kernels.polyphase import halfband_work

        self._kernel = _kernel(kernel, dtype)
        self._work_size = halfband_work  # scratch samples the kernel needs
        self._odd_taps = odd_taps
        self.reach = self.lookahead = reach
        super().__init__(reach, dtype)

    def _compute(self, x: np.ndarray, x_start: int, j_start: int, out: np.ndarray) -> None:
        work = self._workspace(self._work_size(out.shape[0], self._odd_taps.shape[0]))
        self._kernel(x, x_start, self._odd_taps, j_start, out, work)

    def _compute_fresh(self, x: np.ndarray, x_start: int, j_start: int, out: np.ndarray, slot: int) -> None:
        work = self._slot_work(slot, self._work_size(out.shape[0], self._odd_taps.shape[0]))
        self._kernel(x, x_start, self._odd_taps, j_start, out, work)


class HalfbandDecimator(_HalfbandStage):
    """Streaming 2:1 half-band decimation: output j sits at input 2j (zero delay)."""

    def __init__(self, stage: Stage, quality: Quality, dtype: np.dtype) -> None:
        from ..kernels.polyphase import halfband_decimate

        odd_taps = halfband_taps(stage.in_rate, stage.transition_hz, quality.attenuation_for(dtype.char), dtype.char)
        reach = 2 * odd_taps.shape[0] - 1  # farthest input offset from 2j
        super().__init__(halfband_decimate, odd_taps, reach, dtype)

    def first_input(self, j: int) -> int:
        return 2 * j - self.reach

    def last_input(self, j: int) -> int:
        return 2 * j + self.reach

    def first_output_from(self, n: int) -> int:
        return -(-(n + self.reach) // 2)

    def ready(self, n_in: int) -> int:
        return (n_in - 1 - self.reach) // 2 + 1

    def n_nonzero(self, n_in: int) -> int:
        return (n_in - 1 + self.reach) // 2 + 1


class HalfbandInterpolator(_HalfbandStage):
    """Streaming 1:2 half-band interpolation: output j sits at input j / 2 (zero delay)."""

    def __init__(self, stage: Stage, quality: Quality, dtype: np.dtype) -> None:
        from ..kernels.polyphase import halfband_interpolate

        attenuation = quality.attenuation_for(dtype.char)
        odd_taps = halfband_taps(stage.out_rate, stage.transition_hz, attenuation, dtype.char, 2)
        reach = odd_taps.shape[0]  # output 2n + 1 reads x[n - reach + 1 .. n + reach]
        super().__init__(halfband_interpolate, odd_taps, reach, dtype)

    def first_input(self, j: int) -> int:
        return j // 2 - self.reach + 1

    def last_input(self, j: int) -> int:
        return j // 2 + self.reach

    def first_output_from(self, n: int) -> int:
        return 2 * (n + self.reach - 1)

    def ready(self, n_in: int) -> int:
        return 2 * (n_in - self.reach)

    def n_nonzero(self, n_in: int) -> int:
        return 2 * (n_in + self.reach - 1)
