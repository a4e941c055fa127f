"""One numba call per message for the bridge's resampling paths (G.711 ↔ pcm16 at another rate).

`FusedPath` wraps a `Resampler` whose engine is one float64 `PolyphaseEngine` (the
`low_latency` preset's plan for 8 kHz ↔ 24 kHz) and runs decode + resample + round + encode as
one kernel (`kernels.polyphase.codes_to_pcm16_step` / `pcm16_to_codes_step`) over that engine's
own filter table and a copy of its history. The result is the same bytes, sample for sample,
as `decode → Resampler.process_decoded → round_to_int16 → encode`. `flush()` hands the state
back to the engine and lets the Resampler finish the stream.

`fused_path()` returns None where the plan is anything else (a chain of stages, the fft engine):
the caller then keeps the generic path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._checks import QualityName
from ..codecs import encode, round_to_int16
from ..formats import AudioFormat
from ..resampler.core import Resampler
from ..resampler.engines import PolyphaseEngine

__all__ = ["FusedPath", "fused_path"]

_FLOAT64 = np.dtype(np.float64)
_MIN_FIT = 160  # input samples the buffers fit at least (they grow to the longest message)


def _decode_table(fmt: AudioFormat) -> np.ndarray:
    """Each G.711 code's sample / 32768, as float64 (exact)."""
    from ..codecs import decode, int16_to_float

    return int16_to_float(decode(bytes(range(256)), fmt))


class FusedPath:
    """One direction of a call: `process(data) -> bytes` in the output format, `flush()` at the end."""

    def __init__(self, resampler: Resampler, engine: PolyphaseEngine, in_format: AudioFormat, out_format: AudioFormat) -> None:
        from numba import typeof

        from ..g711 import encode_table
        from ..kernels.polyphase import codes_to_pcm16_step, compiled_step, pcm16_to_codes_step, polyphase_work

        self._resampler, self._engine = resampler, engine
        self._in_format, self._out_format = in_format, out_format
        self._to_pcm16 = out_format.codec == "pcm_s16le"  # else pcm16 in, G.711 codes out
        self._table = _decode_table(in_format) if self._to_pcm16 else encode_table(out_format.codec)
        history = engine._history
        kept = history.samples()
        self._hist = kept.copy()  # the buffers grow at the first message: an idle call holds little
        self._state = np.array([0, kept.shape[0], history.start, engine._n_out, resampler.n_in], dtype=np.int64)
        self._m, self._l, self._half = engine.m, engine.l, engine.half
        self._coefs, self._last_tap, self._unit_tap = engine._coefs, engine._last_tap, engine._unit_tap
        self._polyphase_work = polyphase_work
        # the engine now only finishes the stream (flush): its buffers regrow then if ever needed
        history.restart(np.zeros(0, dtype=np.float64), history.start)
        history.data = np.zeros(0, dtype=np.float64)
        engine._work, engine._work_fits = np.zeros(0, dtype=np.float64), 0
        self._y = self._work = np.zeros(0, dtype=np.float64)
        self._out = np.zeros(0, dtype=np.uint8)
        kernel = codes_to_pcm16_step if self._to_pcm16 else pcm16_to_codes_step
        # the kernel reads the message's bytes in place (no np.frombuffer per message)
        self._args_types = tuple(typeof(a) for a in self._args(b"\x00\x00"))  # type: ignore[no-untyped-call]
        self._kernel: Callable[..., int] = compiled_step(kernel, self._args_types)

    def _fit(self, n_in: int) -> None:
        """Buffers for messages of up to n_in input samples (grown when a longer one comes)."""
        n_y = (n_in + self._coefs.shape[1]) * self._l // self._m + 2 * self._l + 2
        self._y = np.empty(n_y, dtype=np.float64)
        self._out = np.empty(2 * n_y if self._to_pcm16 else n_y, dtype=np.uint8)
        lo, hi = int(self._state[0]), int(self._state[1])
        if self._hist.shape[0] < hi - lo + n_in:
            hist = np.zeros(2 * (hi - lo + n_in) + 64, dtype=np.float64)
            hist[: hi - lo] = self._hist[lo:hi]
            self._state[0], self._state[1] = 0, hi - lo
            self._hist = hist
        self._work = np.empty(self._polyphase_work(self._hist.shape[0], self._m), dtype=np.float64)

    def _args(self, data: bytes) -> tuple[Any, ...]:
        return (data, self._table, self._hist, self._state, self._coefs, self._last_tap, self._unit_tap,
                self._m, self._l, self._half, self._out, self._y, self._work)

    def process(self, data: bytes) -> bytes:
        """The next message's audio (bytes of the input format) → the output bytes now complete."""
        if type(data) is not bytes:
            data = bytes(data)
        count = self._kernel(data, self._table, self._hist, self._state, self._coefs, self._last_tap, self._unit_tap,
                             self._m, self._l, self._half, self._out, self._y, self._work)
        if count < 0:  # a longer message than the buffers were sized for
            self._fit(max(_MIN_FIT, len(data) if self._to_pcm16 else len(data) // 2))
            count = self._kernel(*self._args(data))
            assert count >= 0, "fused path buffers too small after _fit"
        return self._out[: 2 * count if self._to_pcm16 else count].tobytes()

    def flush(self) -> bytes:
        """End of the stream: the resampler's tail, encoded. The path cannot be used after it."""
        lo, hi, start, n_out, n_in = (int(v) for v in self._state)
        self._engine._history.restart(self._hist[lo:hi].copy(), start)
        self._engine._n_out = n_out
        self._resampler.n_in = n_in
        self._resampler.n_out = n_out
        tail = self._resampler.flush()
        return encode(round_to_int16(tail)[0], self._out_format)


def fused_path(in_format: AudioFormat, out_format: AudioFormat, quality: QualityName = "low_latency") -> FusedPath | None:
    """A FusedPath from in_format to out_format (one of them pcm16, the other G.711) at `quality`,
    or None where the resampler's plan for these rates is not a single polyphase stage."""
    codecs = {in_format.codec, out_format.codec}
    if "pcm_s16le" not in codecs or len(codecs) != 2:
        return None
    resampler = Resampler(in_format.rate_hz, out_format.rate_hz, quality)
    resampler.process_decoded(np.zeros(0, dtype=np.float64))  # builds the float64 engine
    engine = resampler._engines[0] if len(resampler._engines) == 1 else None
    if not isinstance(engine, PolyphaseEngine) or engine._dtype != _FLOAT64:
        return None
    return FusedPath(resampler, engine, in_format, out_format)
