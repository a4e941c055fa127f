"""Session-aware streams: InputEncoder (audio → append events) and OutputDecoder (deltas → audio).

Both read the codec and rate of their direction from a Session (the registry decides, never an
if-chain on format names), resample with the streaming Resampler (so chunking never changes a
sample) and round to int16 once, by audiofmt's float rule, at the very end.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import DTypeLike

from .._checks import QualityName, check_channels, check_dtype, check_int, check_rate, check_samples
from .._moved import RenamedAttribute, renamed_keywords
from .._speedups import first_b64decode
from ..codecs import _as_code_bytes, decode, encode, int16_to_float, round_to_int16
from ..errors import AudioFormatError, InvalidDataError, InvalidSamplesError
from ..formats import FORMATS, AudioFormat
from ..resampler.core import Resampler, channel_mean
from ..resampler.filters import get_quality
from .events import (
    AUDIO_DELTA_TYPES,
    AUDIO_DONE_TYPES,
    MAX_EVENT_BYTES,
    SESSION_TYPES,
    append_event,
    append_event_json,
    clear_event,
    commit_event,
    decode_audio,
    fast_audio_delta,
    field,
    heard_ms,
    parse_event,
)
from .session import Session

if TYPE_CHECKING:
    from ..bridge._fused import FusedPath

__all__ = ["InputEncoder", "OutputDecoder", "AppendChunker"]


def _fused_path(in_format: AudioFormat, out_format: AudioFormat, quality: QualityName) -> FusedPath | None:
    """The fused G.711 ↔ int16 path at `quality` (float32), or None where none fits."""
    from ..bridge._fused import fused_path

    return fused_path(in_format, out_format, quality)

Event = dict[str, Any] | str


def _event_json_bytes(n_audio_bytes: int, event_id_length: int) -> int:
    """Size of an append event's compact JSON carrying n_audio_bytes (base64 grows 4/3)."""
    envelope = len('{"type":"input_audio_buffer.append","audio":""}')
    id_part = len(',"event_id":""') + event_id_length if event_id_length else 0
    return envelope + 4 * -(-n_audio_bytes // 3) + id_part


class AppendChunker:
    """int16 samples at a format's rate → `input_audio_buffer.append` events of `chunk_ms` each
    (whole samples), as dicts or compact JSON text. Shared by InputEncoder and the JSONL sink.

    Event ids are PREFIX1, PREFIX2, … over every event numbered with `next_id()`, appends and
    others alike. `samples_sent` counts samples carried by emitted events.
    """

    def __init__(self, fmt: AudioFormat, chunk_ms: int, event_id_prefix: str | None = None, as_json: bool = False) -> None:
        chunk_ms = check_int("chunk_ms", chunk_ms, 1, unit="ms")
        id_length = len(event_id_prefix) + 20 if event_id_prefix is not None else 0
        if _event_json_bytes(chunk_ms * fmt.bytes_per_ms, id_length) > MAX_EVENT_BYTES:
            raise AudioFormatError(
                f"chunk_ms={chunk_ms} makes {fmt.name} append events larger than the API's "
                f"{MAX_EVENT_BYTES} bytes of JSON; use a shorter chunk"
            )
        self.format = fmt
        self.chunk_samples = fmt.ms_to_samples(chunk_ms)
        self.event_id_prefix = event_id_prefix
        self.as_json = as_json
        self.samples_sent = 0
        self._n_ids = 0
        self._chunk_bytes = fmt.n_bytes(self.chunk_samples)
        self._pending = b""  # coded samples not yet sent (coding is per sample: chunking changes no byte)

    def push(self, ints: np.ndarray) -> list[Event]:
        """Add int16 samples; returns the events of every chunk now complete."""
        return self.push_bytes(encode(ints, self.format))

    def push_bytes(self, data: bytes | memoryview) -> list[Event]:
        """Add samples already coded in the format (whole samples; a view is used at once, not
        kept); returns the events of every chunk now complete."""
        if not self._pending and len(data) == self._chunk_bytes:  # one whole chunk
            self.samples_sent += self.chunk_samples
            return [self._append(data)]
        self._pending = self._pending + data if self._pending else bytes(data)
        return self._events(final=False)

    def finish(self) -> list[Event]:
        """The last partial chunk, if any."""
        return self._events(final=True)

    def drop(self) -> None:
        """Forget samples not yet sent."""
        self._pending = b""

    def next_id(self) -> str | None:
        if self.event_id_prefix is None:
            return None
        self._n_ids += 1
        return f"{self.event_id_prefix}{self._n_ids}"

    def wrap(self, event: dict[str, Any]) -> Event:
        return json.dumps(event, separators=(",", ":")) if self.as_json else event

    def _append(self, audio: bytes | memoryview) -> Event:
        event_id = self.next_id()
        return append_event_json(audio, event_id) if self.as_json else append_event(audio, event_id)

    def _events(self, final: bool) -> list[Event]:
        out: list[Event] = []
        pending, n, start = self._pending, self._chunk_bytes, 0
        while len(pending) - start >= n or (final and len(pending) > start):
            chunk = pending[start : start + n]
            out.append(self._append(chunk))
            self.samples_sent += len(chunk) // self.format.bytes_per_sample
            start += len(chunk)
        self._pending = pending[start:]
        return out


class InputEncoder:
    """Audio at `rate_hz` (any rate, channel count and dtype) → `input_audio_buffer.append` events.

    `process(samples)` takes int16/float32/float64 arrays, 1-D or (frames, channels); channels are
    averaged, the audio is resampled to the session's input rate and encoded to its format.
    Events carry `chunk_ms` of audio each (whole samples); `flush()` sends the rest at the end.
    Counters are exact integers, as on every stream object: `n_in` frames taken (at `rate_hz`),
    `n_out` samples sent (at the format's rate; also `samples_sent`, `bytes_sent`, `ms_sent`
    rounded down), `n_clipped` samples clipped to int16.
    The default `quality="low_latency"` keeps a live stream within 6 ms of its input (alias-free
    from the Nyquist frequency, 116 dB); `"hq"` rejects more but holds back one FFT block (80-260 ms).
    With `low_latency`, resampling to a G.711 format computes in float32 (its codes carry at most
    14 bits: see audiofmt.bridge._fused), and mono int16 chunks are resampled, rounded and coded
    by one fused kernel call each where the plan is one stage; everything else computes in float64.
    """

    @renamed_keywords(rate="rate_hz")
    def __init__(
        self,
        session: object,
        rate_hz: int,
        channels: int = 1,
        *,
        chunk_ms: int = 100,
        quality: QualityName = "low_latency",
        as_json: bool = False,
        event_id_prefix: str | None = None,
    ) -> None:
        self.session = Session.parse(session)
        self.format: AudioFormat = self.session.input_format
        self.rate_hz = check_rate("rate_hz", rate_hz)
        self.channels = check_channels("channels", channels)
        self._chunks = AppendChunker(self.format, chunk_ms, event_id_prefix, as_json)
        self.chunk_ms = chunk_ms
        self.chunk_samples = self._chunks.chunk_samples
        self.quality = quality
        get_quality(quality)  # an unknown name fails here, not at the first rate change
        self._fused: FusedPath | None = None
        self._float: np.dtype[Any] = np.dtype(np.float64)
        self._clipped = 0  # clipped samples, not counting the current fused path's
        self._resampler = self._new_resampler()
        self.n_in = 0

    @property
    def n_out(self) -> int:
        """Samples carried by the append events returned so far (the format's own rate)."""
        return self._chunks.samples_sent

    @property
    def n_clipped(self) -> int:
        """Samples clipped to int16 so far."""
        fused = self._fused
        return self._clipped + (fused.n_clipped if fused is not None else 0)

    rate = RenamedAttribute("rate_hz")

    @property
    def samples_sent(self) -> int:
        """Samples carried by the append events returned so far (the format's own rate)."""
        return self._chunks.samples_sent

    @property
    def bytes_sent(self) -> int:
        return self.format.n_bytes(self.samples_sent)

    @property
    def ms_sent(self) -> int:
        """Whole milliseconds of audio sent so far, rounded down."""
        return heard_ms(self.samples_sent, self.format.rate_hz)

    def _new_resampler(self) -> Resampler | None:
        """A new stream: a fused path where one fits (then None), else a Resampler where the rate
        changes. The current fused path's clipped samples are kept in the count."""
        if self._fused is not None:
            self._clipped += self._fused.n_clipped
        g711 = self.format.codec != "pcm_s16le" and get_quality(self.quality).name == "low_latency"
        self._fused, self._float = None, np.dtype(np.float32 if g711 else np.float64)
        if self.rate_hz == self.format.rate_hz:
            return None
        if self.channels == 1 and g711:
            self._fused = _fused_path(replace(FORMATS["pcm16"], rate_hz=self.rate_hz), self.format, self.quality)
            if self._fused is not None:
                return None
        return Resampler(self.rate_hz, self.format.rate_hz, self.quality, self.channels, downmix=True)

    def _end_fused(self) -> None:
        """Go on with the fused path's stream in the Resampler (a chunk it cannot take came)."""
        fused = self._fused
        if fused is not None:
            self._clipped += fused.n_clipped
            self._resampler, self._fused = fused.resampler(), None

    def process(self, samples: np.ndarray) -> list[Event]:
        """Encode the next piece of audio; returns the append events that are now complete."""
        fused = self._fused
        if (  # the fused hot path: mono int16 → codes in one kernel call
            fused is not None
            and type(samples) is np.ndarray
            and samples.dtype == np.int16
            and samples.ndim == 1
            and samples.flags.c_contiguous
        ):
            self.n_in += samples.shape[0]
            return self._chunks.push_bytes(fused.process_int16(samples))
        if (  # hot path: mono int16 at the format's rate goes straight to the chunker
            self._resampler is None
            and fused is None
            and type(samples) is np.ndarray
            and samples.dtype == np.int16
            and samples.ndim == 1
            and self.channels == 1
        ):
            self.n_in += samples.shape[0]
            return self._chunks.push(samples)
        converted = self._convert(samples)
        self.n_in += len(samples)  # after the checks: a refused chunk is not counted
        return self._chunks.push(self._to_int16(converted))

    def flush(self) -> list[Event]:
        """End of input: the resampler's tail and the last partial chunk, as events."""
        events = []
        if self._fused is not None:
            tail, clipped = self._fused.flush_samples()
            self._clipped += clipped
            events = self._chunks.push(tail)
            self._resampler = self._new_resampler()
        elif self._resampler is not None:
            events = self._chunks.push(self._to_int16(self._resampler.flush()))
            self._resampler = self._new_resampler()
        return events + self._chunks.finish()

    def commit(self) -> list[Event]:
        """Everything pushed so far (flushed), then `input_audio_buffer.commit`."""
        return [*self.flush(), self._chunks.wrap(commit_event(self._chunks.next_id()))]

    def reset(self) -> None:
        """Drop audio not yet sent (pending and inside the resampler), without events; the
        counters keep counting what was sent."""
        self._chunks.drop()
        self._resampler = self._new_resampler()

    def clear(self) -> list[Event]:
        """reset(), then `input_audio_buffer.clear` (the server drops what it buffered too)."""
        self.reset()
        return [self._chunks.wrap(clear_event(self._chunks.next_id()))]

    def _convert(self, samples: object) -> np.ndarray:
        """Validate a piece and return it resampled to the format's rate (float64 or int16), mono."""
        samples = check_samples("samples", samples, ndim=(1, 2))  # big-endian and strided input made native
        want_ndim = 1 if self.channels == 1 else 2
        if samples.ndim != want_ndim or (want_ndim == 2 and samples.shape[1] != self.channels):
            want = "(frames,)" if self.channels == 1 else f"(frames, {self.channels})"
            raise InvalidSamplesError(f"samples must have shape {want}; got {samples.shape}")
        self._end_fused()
        if self._resampler is not None:
            dtype = self._float  # float32 to G.711, float64 to pcm16
            x = int16_to_float(samples, dtype) if samples.dtype == np.int16 else samples.astype(dtype)
            return self._resampler.process(x)  # refuses NaN/inf itself
        if samples.dtype != np.int16 and not np.isfinite(samples).all():  # the resampler's rule, at any rate
            first = int(np.flatnonzero(~np.isfinite(samples.reshape(-1)))[0])
            raise InvalidSamplesError(f"samples must be finite; got NaN/inf at flat index {first} of this chunk")
        if samples.ndim == 2:
            return channel_mean(int16_to_float(samples)) if samples.dtype == np.int16 else channel_mean(samples)
        return samples

    def _to_int16(self, resampled: np.ndarray) -> np.ndarray:
        """The one rounding to int16 (clipped samples counted); int16 passes unchanged."""
        if resampled.dtype == np.int16:
            return resampled
        ints, clipped = round_to_int16(np.ascontiguousarray(resampled, dtype=np.float64))
        self._clipped += clipped
        return ints


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
