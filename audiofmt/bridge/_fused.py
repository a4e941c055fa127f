"""One numba call per message for the bridge's resampling paths (G.711 ↔ pcm16 at another rate).

`FusedPath` wraps a `Resampler` whose engine is one `PolyphaseEngine` (the `low_latency`
preset's plan for 8 kHz ↔ 24 kHz) and runs decode + resample + round + encode as one kernel
(`kernels.polyphase.codes_to_pcm16_step` / `pcm16_to_codes_step`) over that engine's own filter
table and a copy of its history. The result is the same bytes, sample for sample, as
`decode → int16_to_float(·, dtype) → Resampler.process → round_to_int16 → encode`, with the
samples clipped to int16 counted in `n_clipped`. `flush()` hands the state back to the engine and
lets the Resampler finish the stream.

The arithmetic is float32 by default (`dtype`): the paths end in int16, and float32's rounding
error (below 2^-20 of full scale over the filter's ~100 taps) is a small fraction of an int16
step, so an output differs from float64 arithmetic's by at most one step, on a few percent of
samples, while the filter runs twice as many samples per vector instruction. Either way the
result depends only on the samples and the chunking never changes it.

`fused_path()` returns None where the plan is anything else (a chain of stages, the fft engine),
or on a big-endian machine: the caller then keeps the generic path. The session layer's
InputEncoder / OutputDecoder use the same paths for G.711 ↔ int16 at another rate.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from .._checks import QualityName
from ..codecs import encode, round_to_int16
from ..formats import AudioFormat
from ..resampler.core import Resampler
from ..resampler.engines import PolyphaseEngine

__all__ = ["FusedPath", "fused_path"]

_KERNELS: dict[tuple[Any, ...], Callable[..., int]] = {}  # see FusedPath._compiled
_MIN_FIT = 160  # input samples the buffers fit at least (they grow to the longest message)


def _decode_table(fmt: AudioFormat, dtype: np.dtype[Any]) -> np.ndarray:
    """Each G.711 code's sample / 32768, as float32 or float64 (exact)."""
    from ..codecs import decode, int16_to_float

    return int16_to_float(decode(bytes(range(256)), fmt), dtype)


class FusedPath:
    """One direction of a call: `process(data) -> bytes` in the output format, `flush()` at the end."""

    def __init__(self, resampler: Resampler, engine: PolyphaseEngine, in_format: AudioFormat, out_format: AudioFormat) -> None:
        from numba import typeof

        from ..g711 import encode_table
        from ..kernels.polyphase import codes_to_pcm16_step, fused_ints, fused_work, pcm16_to_codes_step

        self._resampler, self._engine = resampler, engine
        self._in_format, self._out_format = in_format, out_format
        self._to_pcm16 = out_format.codec == "pcm_s16le"  # else pcm16 in, G.711 codes out
        self.dtype = dtype = engine._dtype
        self._table = _decode_table(in_format, dtype) if self._to_pcm16 else encode_table(out_format.codec)
        history = engine._history
        kept = history.samples()
        self._hist = kept.copy()  # the buffers grow at the first message: an idle call holds little
        self._m, self._l = engine.m, engine.l
        self._state = fused_ints(0, kept.shape[0], history.start, engine._n_out, resampler.n_in, engine.m, engine.l, engine.half,
                                 engine._last_tap, engine._unit_tap)
        self._coefs = engine._coefs
        self._fused_work = fused_work
        # the engine now only finishes the stream (flush): its buffers regrow then if ever needed
        history.restart(np.zeros(0, dtype=dtype), history.start)
        history.data = np.zeros(0, dtype=dtype)
        engine._work, engine._work_fits = np.zeros(0, dtype=dtype), 0
        self._work = np.zeros(0, dtype=dtype)
        self._out = np.zeros(0, dtype=np.uint8)
        self._step = codes_to_pcm16_step if self._to_pcm16 else pcm16_to_codes_step
        # the kernel reads the message's bytes in place (no np.frombuffer per message); an array
        # of bytes (uint8, e.g. int16 samples viewed as bytes) gets its own compiled variant
        self._typeof = typeof
        self._kernel: Callable[..., int] = self._compiled(b"\x00\x00")
        self._array_kernels: dict[bool, Callable[..., int]] = {}  # by the array's writeable flag
        self._int16_kernels: dict[bool, Callable[..., int]] = {}  # int16 samples in, by writeable flag
        self._bind()

    def _compiled(self, data: Any, step: Callable[..., int] | None = None) -> Callable[..., int]:
        """The step compiled for these arguments' types, looked up by what determines them (the
        step, the dtype, the data's kind): numba.typeof of every argument costs ~0.2 ms, and a
        call makes a new path at every response's end."""
        step = step or self._step
        kind = (type(data), data.dtype.char, data.flags.writeable) if isinstance(data, np.ndarray) else (type(data),)
        key = (step, self.dtype.char, self._to_pcm16, self._table.flags.writeable, self._coefs.flags.writeable, *kind)
        kernel = _KERNELS.get(key)
        if kernel is None:
            from ..kernels.polyphase import compiled_step

            kernel = _KERNELS[key] = compiled_step(step, tuple(self._typeof(a) for a in self._args(data)))  # type: ignore[no-untyped-call]
        return kernel

    def _bind(self) -> None:
        """The kernels with every argument but the message's data bound (after each _fit)."""
        rest = self._args(b"")[:-1]
        self._call: Callable[[Any], int] = partial(self._kernel, *rest)
        self._samples = self._out[: self._out.shape[0] // 2 * 2].view(np.int16)  # little-endian: see fused_path
        self._array_calls = {writeable: partial(kernel, *rest) for writeable, kernel in self._array_kernels.items()}
        self._int16_calls = {writeable: partial(kernel, *rest) for writeable, kernel in self._int16_kernels.items()}
        self._views: tuple[int, memoryview] = (-1, memoryview(b""))

    @property
    def n_clipped(self) -> int:
        """Outputs clipped to int16 so far."""
        return int(self._state[5])

    def _fit(self, n_in: int) -> None:
        """Buffers for messages of up to n_in input samples (grown when a longer one comes)."""
        n_y = (n_in + self._coefs.shape[1]) * self._l // self._m + 2 * self._l + 2
        self._out = np.empty(2 * n_y if self._to_pcm16 else n_y, dtype=np.uint8)
        lo, hi = int(self._state[0]), int(self._state[1])
        if self._hist.shape[0] < hi - lo + n_in:
            hist = np.zeros(2 * (hi - lo + n_in) + 64, dtype=self.dtype)
            hist[: hi - lo] = self._hist[lo:hi]
            self._state[0], self._state[1] = 0, hi - lo
            self._hist = hist
        self._work = np.empty(self._fused_work(self._hist.shape[0], self._m, n_y), dtype=self.dtype)
        self._state[9] = n_y  # the outputs work holds at its front
        self._bind()

    def _args(self, data: Any) -> tuple[Any, ...]:
        return (self._table, self._hist, self._state, self._coefs, self._out, self._work, data)

    def _run(self, data: Any) -> int:
        """Outputs written to self._out for data: bytes, or a C-contiguous 1-D uint8 array."""
        count = self._call(data) if type(data) is bytes else self._array_call(data)
        if count < 0:  # a longer message than the buffers were sized for
            self._fit(max(_MIN_FIT, len(data) if self._to_pcm16 else len(data) // 2))
            count = self._call(data) if type(data) is bytes else self._array_call(data)
            assert count >= 0, "fused path buffers too small after _fit"
        return count

    def _array_call(self, data: np.ndarray) -> int:
        call = self._array_calls.get(data.flags.writeable)
        if call is None:
            self._array_kernels[data.flags.writeable] = self._compiled(data)
            self._bind()
            call = self._array_calls[data.flags.writeable]
        return call(data)

    def process(self, data: bytes) -> bytes:
        """The next message's audio (bytes of the input format) → the output bytes now complete."""
        if type(data) is not bytes:
            data = bytes(data)
        count = self._run(data)
        return self._out[: 2 * count if self._to_pcm16 else count].tobytes()

    def process_view(self, data: bytes) -> memoryview:
        """process() for the bridge's hot paths: the output bytes as a view of the path's own
        buffer, valid only until the next call (data: bytes)."""
        count = self._call(data)
        if count < 0:
            count = self._run(data)
        if self._to_pcm16:
            count *= 2
        size, view = self._views
        if size != count:
            self._views = (count, view := memoryview(self._out.data)[:count])
        return view

    def process_samples(self, data: Any) -> np.ndarray:
        """process() for a pcm16 output, as a new int16 array (data: bytes or a uint8 array)."""
        count = self._call(data) if type(data) is bytes else -1
        if count < 0:
            count = self._run(data)
        return self._samples[:count].copy()

    def process_int16(self, samples: np.ndarray) -> memoryview:
        """process_view() for a pcm16 input given as int16 samples (1-D, C-contiguous, native
        order): the codes as a view of the path's own buffer, valid only until the next call."""
        call = self._int16_calls.get(samples.flags.writeable)
        count = call(samples) if call is not None else -1
        if count < 0:
            if call is None:
                from ..kernels.polyphase import int16_to_codes_step

                self._int16_kernels[samples.flags.writeable] = self._compiled(samples, int16_to_codes_step)
                self._bind()
            else:
                self._fit(max(_MIN_FIT, samples.shape[0]))
            return self.process_int16(samples)
        size, view = self._views
        if size != count:
            self._views = (count, view := memoryview(self._out.data)[:count])
        return view

    def resampler(self) -> Resampler:
        """The Resampler (of this path's dtype) holding this path's stream, to go on with it in
        floats; the path cannot be used after it."""
        lo, hi, start, n_out, n_in = (int(v) for v in self._state[:5])
        self._engine._history.restart(self._hist[lo:hi].copy(), start)
        self._engine._n_out = n_out
        self._resampler.n_in = n_in
        self._resampler.n_out = n_out
        return self._resampler

    def flush_samples(self) -> tuple[np.ndarray, int]:
        """End of the stream: the resampler's tail as int16 samples, and how many of them were
        clipped (not added to n_clipped). The path cannot be used after it."""
        return round_to_int16(self.resampler().flush())

    def flush(self) -> bytes:
        """End of the stream: the resampler's tail, encoded. The path cannot be used after it."""
        return encode(self.flush_samples()[0], self._out_format)


def fused_path(
    in_format: AudioFormat, out_format: AudioFormat, quality: QualityName = "low_latency", dtype: Any = np.float32
) -> FusedPath | None:
    """A FusedPath from in_format to out_format (one of them pcm16, the other G.711) at `quality`,
    computing in `dtype` (float32 or float64), or None where the resampler's plan for these rates
    is not a single polyphase stage in that dtype."""
    codecs = {in_format.codec, out_format.codec}
    if "pcm_s16le" not in codecs or len(codecs) != 2 or sys.byteorder != "little":  # the kernels write native int16
        return None
    dtype = np.dtype(dtype)
    resampler = Resampler(in_format.rate_hz, out_format.rate_hz, quality)
    resampler.process(np.zeros(0, dtype=dtype))  # builds the engine of that dtype
    engine = resampler._engines[0] if len(resampler._engines) == 1 else None
    if not isinstance(engine, PolyphaseEngine) or engine._dtype != dtype:
        return None
    return FusedPath(resampler, engine, in_format, out_format)
