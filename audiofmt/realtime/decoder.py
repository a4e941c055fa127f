"""OutputDecoder (server events → audio samples at the caller's rate and dtype).

It reads the codec and rate of the session's output from its Session and follows the server's
session events, resamples with the streaming Resampler (so the deltas' sizes never change a
sample) and rounds to int16 once, by audiofmt's float rule, at the very end.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import DTypeLike

from .._checks import QualityName, check_dtype, check_rate
from .._moved import RenamedAttribute, renamed_keywords
from .._speedups import first_b64decode
from ..codecs import _as_code_bytes, decode, int16_to_float, round_to_int16
from ..errors import InvalidDataError
from ..formats import FORMATS, AudioFormat
from ..resampler.core import Resampler
from ..resampler.filters import get_quality
from .encoder import _fused_path
from .events import (
    AUDIO_DELTA_TYPES,
    AUDIO_DONE_TYPES,
    SESSION_TYPES,
    decode_audio,
    fast_audio_delta,
    field,
    parse_event,
)
from .session import Session

if TYPE_CHECKING:
    from ..bridge._fused import FusedPath

__all__ = ["OutputDecoder"]


class OutputDecoder:
    """Server events → audio samples at the caller's `rate_hz` (default: the format's) and dtype.

    `process(event)` takes any server event (dict, JSON text, SDK model); audio deltas
    (`response.audio.delta` beta, `response.output_audio.delta` GA) return their samples,
    other events return an empty array. It follows `session.created` / `session.updated`:
    a change of output format flushes the old stream first, so nothing is lost or doubled.
    `received[(item_id, content_index)]` counts samples in the output format's own rate; as on
    every stream object, `n_in` counts samples received (the format's rate), `n_out` samples
    returned (at `output_rate_hz`) and `n_clipped` samples clipped to int16.
    Resampling defaults to `quality="low_latency"` (at most 6 ms held back, so audio can be played
    as it arrives); `"hq"` holds back one FFT block (80-260 ms) for more rejection.
    With `low_latency`, G.711 to int16 at another rate computes in float32 (the codes carry at most
    14 bits: see audiofmt.bridge._fused), decoded, resampled and rounded by one fused kernel call
    per delta where the plan is one stage; everything else computes in float64.
    """

    @renamed_keywords(rate="rate_hz")
    def __init__(
        self, session: object, rate_hz: int | None = None, dtype: DTypeLike = "int16", *, quality: QualityName = "low_latency"
    ) -> None:
        self.session = Session.parse(session)
        self.rate_hz = None if rate_hz is None else check_rate("rate_hz", rate_hz)
        self.dtype: np.dtype[Any] = check_dtype("dtype", dtype)  # a name, a numpy type or a dtype
        self.quality = quality
        get_quality(quality)  # an unknown name fails here, not at the first rate change
        self.received: dict[tuple[str, int], int] = {}
        self.n_in = 0
        self.n_out = 0
        self._clipped = 0  # clipped samples, not counting the current fused path's
        self._fused: FusedPath | None = None
        self._stream: tuple[str, int] | None = None
        self._audio_marked = self.session.audio_output_started
        self._switch(self.session.output_format)

    @property
    def format(self) -> AudioFormat:
        return self._format

    @property
    def output_rate_hz(self) -> int:
        """The rate of the samples returned, in Hz: `rate_hz`, or the output format's when not given."""
        return self.rate_hz or self._format.rate_hz

    rate = RenamedAttribute("rate_hz")

    output_rate = RenamedAttribute("output_rate_hz")

    @property
    def n_clipped(self) -> int:
        """Samples clipped to int16 so far."""
        fused = self._fused
        return self._clipped + (fused.n_clipped if fused is not None else 0)

    def _switch(self, fmt: AudioFormat) -> None:
        """A new stream in `fmt`: a fused path where one fits, else a Resampler where the rate changes."""
        if self._fused is not None:
            self._clipped += self._fused.n_clipped
        self._format = fmt
        self._fused = self._resampler = None
        self._float: np.dtype[Any] = np.dtype(np.float64)
        if self.rate_hz is None or self.rate_hz == fmt.rate_hz:
            return
        if self.dtype == np.int16 and fmt.codec != "pcm_s16le" and get_quality(self.quality).name == "low_latency":
            self._float = np.dtype(np.float32)
            self._fused = _fused_path(fmt, replace(FORMATS["pcm16"], rate_hz=self.rate_hz), self.quality)
            if self._fused is not None:
                return
        self._resampler = Resampler(fmt.rate_hz, self.output_rate_hz, self.quality)

    def process(self, event: object) -> np.ndarray:
        """The audio samples this event carries (possibly none)."""
        ev = fast_audio_delta(event) if type(event) is str else None  # the hot path: an audio delta's text
        if ev is not None:
            item_id, content_index, text = ev.get("item_id"), ev.get("content_index"), ev.get("delta")
            # the fields read here are what json.loads gives (orjson differs only on floats and
            # integers beyond 64 bits); anything else is parsed again by the full rules below
            if type(item_id) is str and type(content_index) is int and type(text) is str:
                try:
                    data = first_b64decode(text)
                except ValueError:
                    data = None
                if data is not None:
                    key = (item_id, content_index)
                    fused = self._fused
                    if fused is not None and self._stream == key and self._audio_marked:  # feed()'s hot path
                        self.received[key] += len(data)
                        self.n_in += len(data)
                        count = fused._call(data)  # process_samples(data), one Python call less
                        out = fused._samples[:count].copy() if count >= 0 else fused.process_samples(data)
                        self.n_out += out.shape[0]
                        return out
                    return self._feed_delta(data, item_id, content_index, ev["type"])
        ev = parse_event(event)
        kind = ev["type"]
        if kind in AUDIO_DELTA_TYPES:
            return self._delta(ev)
        if kind in AUDIO_DONE_TYPES:
            return self.flush()
        if kind in SESSION_TYPES:
            return self._session_changed(ev)
        return self._empty()

    def flush(self) -> np.ndarray:
        """End of the current audio stream: whatever the resampler still holds."""
        self._stream = None
        if self._fused is not None:
            tail, clipped = self._fused.flush_samples()
            self._clipped += clipped
            self._switch(self._format)  # a fresh stream for the next item
            self.n_out += tail.shape[0]
            return tail
        if self._resampler is None:
            return self._empty()
        tail = self._resampler.flush()
        self._switch(self._format)  # a fresh stream for the next item
        return self._finish(tail)

    def reset(self) -> None:
        """Drop what the resampler holds back, without output (after a barge-in the rest of the
        current item is not played); the next delta starts a new stream."""
        self._stream = None
        self._switch(self._format)

    def feed(self, data: bytes, item_id: str = "", content_index: int = 0) -> np.ndarray:
        """Audio bytes in the session's output format (a delta's payload, base64 already undone)."""
        fused = self._fused
        if fused is not None and type(data) is bytes and self._stream == (item_id, content_index) and self._audio_marked:
            key = self._stream  # the hot path: the next delta of the same item, one kernel call
            self.received[key] += len(data)
            self.n_in += len(data)
            out = fused.process_samples(data)
            self.n_out += out.shape[0]
            return out
        samples = decode(data, self._format)
        head = None
        if self._stream is not None and self._stream != (item_id, content_index):
            head = self.flush()  # a new item's audio: close the previous stream first
        self._stream = key = (item_id, content_index)
        self.received[key] = self.received.get(key, 0) + samples.shape[0]
        self.n_in += samples.shape[0]
        if not self._audio_marked:
            self.session.mark_audio_output()
            self._audio_marked = True
        if self._fused is not None:  # a G.711 format: one byte per sample, decode() took any bytes-like
            out = self._fused.process_samples(data if type(data) is bytes else _as_code_bytes(data).tobytes())
            self.n_out += out.shape[0]
        elif self._resampler is None:
            out = self._finish(samples)
        else:
            floats = int16_to_float(samples, self._float)
            resampled = self._resampler.process_decoded(floats) if self._float == np.float64 else self._resampler.process(floats)
            out = self._finish(resampled)
        return np.concatenate((head, out)) if head is not None and head.shape[0] else out

    def _delta(self, ev: dict[str, Any]) -> np.ndarray:
        item_id, content_index, text = ev.get("item_id"), ev.get("content_index"), ev.get("delta")
        if type(item_id) is not str or type(content_index) is not int:  # the checks, with their errors
            item_id = field(ev, "item_id", str)
            content_index = field(ev, "content_index", int)
        try:  # the accelerator first; anything it refuses gets decode_audio's rules and errors
            data = first_b64decode(text) if type(text) is str else None
        except ValueError:
            data = None
        if data is None:
            data = decode_audio(text, f"{ev['type']}.delta")
        return self._feed_delta(data, item_id, content_index, ev["type"])

    def _feed_delta(self, data: bytes, item_id: str, content_index: int, kind: str) -> np.ndarray:
        """feed() a delta's bytes; a delta that is not whole samples is named in the error."""
        size = self._format.bytes_per_sample
        if len(data) % size:
            raise InvalidDataError(f"{kind}.delta must be whole {size}-byte {self._format.name} samples; got {len(data)} bytes")
        return self.feed(data, item_id, content_index)

    def _session_changed(self, ev: dict[str, Any]) -> np.ndarray:
        self.session = Session.from_server(ev)
        if self._audio_marked:
            self.session.mark_audio_output()
        if self.session.output_format == self._format:
            return self._empty()
        tail = self.flush()
        self._switch(self.session.output_format)
        return tail

    def _finish(self, x: np.ndarray) -> np.ndarray:
        """int16 (exact) or float64 (resampled) samples → the caller's dtype (counted in n_out)."""
        self.n_out += x.shape[0]
        if x.dtype == np.int16:
            return x if self.dtype == np.int16 else int16_to_float(x, self.dtype)
        if self.dtype != np.int16:
            return x.astype(self.dtype, copy=False)
        ints, clipped = round_to_int16(np.ascontiguousarray(x))
        self._clipped += clipped
        return ints

    def _empty(self) -> np.ndarray:
        return np.zeros(0, dtype=self.dtype)
