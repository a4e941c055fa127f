"""InputEncoder (audio → `input_audio_buffer.append` events) and AppendChunker (int16 samples →
append events of a fixed length, shared with the JSONL sink).

The encoder reads the codec and rate of its direction from a Session (the registry decides, never
an if-chain on format names), resamples with the streaming Resampler (so chunking never changes a
sample) and rounds to int16 once, by audiofmt's float rule, at the very end.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .._checks import QualityName, check_channels, check_int, check_rate, check_samples
from .._moved import RenamedAttribute, renamed_keywords
from ..codecs import encode, int16_to_float, round_to_int16
from ..errors import AudioFormatError, InvalidSamplesError
from ..formats import FORMATS, AudioFormat
from ..resampler.core import Resampler, channel_mean
from ..resampler.filters import get_quality
from .events import (
    MAX_EVENT_BYTES,
    append_event,
    append_event_json,
    clear_event,
    commit_event,
    heard_ms,
)
from .session import Session

if TYPE_CHECKING:
    from ..bridge._fused import FusedPath

__all__ = ["InputEncoder", "AppendChunker"]


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
