"""Session-aware streams: InputEncoder (audio → append events) and OutputDecoder (deltas → audio).

Both read the codec and rate of their direction from a Session (the registry decides, never an
if-chain on format names), resample with the streaming Resampler (so chunking never changes a
sample) and round to int16 once, by audiofmt's float rule, at the very end.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from .._checks import QualityName, check_channels, check_dtype, check_int, check_rate, check_samples
from .._moved import RenamedAttribute, renamed_keywords
from .._speedups import first_b64decode
from ..codecs import decode, encode, int16_to_float, round_to_int16
from ..errors import AudioFormatError, InvalidSamplesError
from ..formats import AudioFormat
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
    field,
    heard_ms,
    parse_event,
)
from .session import Session

__all__ = ["InputEncoder", "OutputDecoder", "AppendChunker"]

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
        self._pending = np.zeros(0, dtype=np.int16)

    def push(self, ints: np.ndarray) -> list[Event]:
        """Add int16 samples; returns the events of every chunk now complete."""
        if not self._pending.shape[0] and ints.shape[0] == self.chunk_samples:  # one whole chunk
            self.samples_sent += ints.shape[0]
            return [self._append(encode(ints, self.format))]
        self._pending = np.concatenate((self._pending, ints)) if self._pending.shape[0] else ints
        return self._events(final=False)

    def finish(self) -> list[Event]:
        """The last partial chunk, if any."""
        return self._events(final=True)

    def drop(self) -> None:
        """Forget samples not yet sent."""
        self._pending = np.zeros(0, dtype=np.int16)

    def next_id(self) -> str | None:
        if self.event_id_prefix is None:
            return None
        self._n_ids += 1
        return f"{self.event_id_prefix}{self._n_ids}"

    def wrap(self, event: dict[str, Any]) -> Event:
        return json.dumps(event, separators=(",", ":")) if self.as_json else event

    def _append(self, audio: bytes) -> Event:
        event_id = self.next_id()
        return append_event_json(audio, event_id) if self.as_json else append_event(audio, event_id)

    def _events(self, final: bool) -> list[Event]:
        out: list[Event] = []
        n, start = self.chunk_samples, 0
        while self._pending.shape[0] - start >= n or (final and self._pending.shape[0] > start):
            chunk = self._pending[start : start + n]
            out.append(self._append(encode(chunk, self.format)))
            self.samples_sent += chunk.shape[0]
            start += chunk.shape[0]
        self._pending = self._pending[start:]
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
        self._resampler = self._new_resampler()
        self.n_in = 0
        self.n_clipped = 0

    @property
    def n_out(self) -> int:
        """Samples carried by the append events returned so far (the format's own rate)."""
        return self._chunks.samples_sent

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
        if self.rate_hz == self.format.rate_hz:
            return None
        return Resampler(self.rate_hz, self.format.rate_hz, self.quality, self.channels, downmix=True)

    def process(self, samples: np.ndarray) -> list[Event]:
        """Encode the next piece of audio; returns the append events that are now complete."""
        if (  # hot path: mono int16 at the format's rate goes straight to the chunker
            self._resampler is None
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
        if self._resampler is not None:
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
        if self._resampler is not None:
            x = int16_to_float(samples) if samples.dtype == np.int16 else samples.astype(np.float64)
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
        self.n_clipped += clipped
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
        self.n_clipped = 0
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

    def _switch(self, fmt: AudioFormat) -> None:
        self._format = fmt
        needs = self.rate_hz is not None and self.rate_hz != fmt.rate_hz
        self._resampler = Resampler(fmt.rate_hz, self.output_rate_hz, self.quality) if needs else None

    def process(self, event: object) -> np.ndarray:
        """The audio samples this event carries (possibly none)."""
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
        if self._resampler is None:
            out = self._finish(samples)
        else:
            out = self._finish(self._resampler.process_decoded(int16_to_float(samples)))
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
        return self.feed(data, item_id, content_index)

    def _session_changed(self, ev: dict[str, Any]) -> np.ndarray:
        self.session = Session.parse(ev)
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
        self.n_clipped += clipped
        return ints

    def _empty(self) -> np.ndarray:
        return np.zeros(0, dtype=self.dtype)
