"""Sans-IO core of a Twilio Media Streams ↔ Realtime session bridge.

`TwilioMediaStream` owns no socket, loop or clock: `receive_phone(message)` takes what Twilio sent
and `receive_model(event)` what the Realtime server sent, and both return what to do next: a list
of `ToPhone` / `ToModel` messages to send and `Dtmf` / `CallStarted` / `CallStopped` for the
application. Time comes only from Twilio's media timestamps. A malformed or out-of-order message
is dropped and counted in `stats.dropped[reason]`, where `reason` is one of the fixed strings in
`DROP_REASONS` (never text taken from the message); nothing a peer sends can raise.

The model's input timeline is kept continuous within limits, so that a peer cannot make the
bridge send more audio than it received: a timestamp gap of up to `MAX_GAP_FILL_MS` (100 ms, five
20 ms frames) is filled with silence, as long as the call's silence so far does not exceed the
audio it received; a larger jump (or one beyond that budget) is a resync: nothing is filled and
`stats.resyncs` counts it. So bytes to the model <= 2 x bytes received + 100 ms, before the
format's own expansion (pcm16 at 24 kHz is 6 bytes per μ-law byte).

Audio paths, chosen per direction from the session's formats through the codec registry:
- g711_ulaw: the phone's bytes pass through untouched (re-chunked only);
- g711_alaw: G.711's μ-law ↔ A-law code conversion table;
- pcm16: decode, resample 8 kHz ↔ 24 kHz with the low_latency preset, encode.
Phone audio goes out in exact 20 ms frames (160 bytes of μ-law); the last partial frame of a
response is sent at its `*.audio.done`, never padded.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from .. import _speedups
from .._speedups import _LAST_OF_ONE
from .._speedups import first_b64decode as _first_b64decode
from .._speedups import first_loads as _first_loads
from ..errors import AudioFormatError
from ..realtime.events import (
    AUDIO_DELTA_TYPES,
    AUDIO_DONE_TYPES,
    fast_audio_delta,
    parse_event,
    truncate_event,
)
from ..realtime.session import Session
from ._paths import _AudioPaths
from .messages import (
    _APPEND_HEAD,
    _APPEND_TAIL,
    _DTMF_DIGITS,
    _MAX_REMEMBERED,
    _MEDIA_TAIL,
    _SAMPLES_PER_MS,
    _SILENCE,
    DROP_REASONS,
    FRAME_BYTES,
    MAX_GAP_FILL_MS,
    PHONE,
    CallStarted,
    CallStats,
    CallStopped,
    Dtmf,
    Output,
    ToModel,
    ToPhone,
    _Append,
    _Drop,
    _from_text,
    _int_field,
    _new_object,
    _parse_phone,
    _Playout,
    _set_text,
)

# the message types are defined in messages.py; this module's names stay their public import path
__all__ = ["TwilioMediaStream", "ToPhone", "ToModel", "Dtmf", "CallStarted", "CallStopped", "CallStats",
           "DROP_REASONS", "MAX_GAP_FILL_MS", "FRAME_BYTES", "Output", "_Append"]

log = logging.getLogger(__name__)


class TwilioMediaStream(_AudioPaths):
    """One phone call's audio between Twilio and a Realtime session (see the module doc)."""

    def __init__(self, session: object) -> None:
        self.session = Session.parse(session)
        self.stats = CallStats()
        self.state = "new"  # new -> started -> stopped
        self.stream_sid: str | None = None
        self._sid_json = "null"
        self._media_head = ""
        self._last_chunk = -1
        self._next_timestamp: int | None = None  # ms where the next inbound media should start
        self._filled_samples = 0  # silence samples inserted so far (bounded by media_in_bytes)
        self._phone_clock_ms = 0  # newest inbound media timestamp: the call's clock
        self._setup_paths()
        # outbound accounting, all in cumulative phone samples
        self._out_pending = b""
        self._sent = 0
        self._acked = 0
        self._anchor: tuple[int, int] = (0, 0)  # (phone clock ms, samples sent) when playback restarted
        self._marks: dict[str, int] = {}
        self._cleared_marks: dict[str, None] = {}  # Twilio echoes these too once `clear` drops them
        self._n_marks = 0
        self._play = _Playout()
        self._phone_handlers = {
            "connected": self._phone_connected,
            "start": self._phone_start,
            "media": self._phone_media,
            "mark": self._phone_mark,
            "dtmf": self._phone_dtmf,
            "stop": self._phone_stop,
        }



    # -- phone side ------------------------------------------------------------------------
    def receive_phone(self, message: object) -> list[Output]:
        """Handle one Twilio Media Streams message (JSON text, bytes or dict)."""
        self.stats.phone_messages += 1
        try:
            if type(message) is str:  # the hot path: media text, parsed by the accelerator if any
                try:
                    msg = _first_loads(message)
                except ValueError:
                    msg = None
                # media: every field it reads drops a huge integer literal whether it is read as an
                # int or (by orjson) as a float; anything else is parsed again by json's rules
                if type(msg) is dict and msg.get("event") == "media":
                    return self._phone_media(msg)
                msg = _parse_phone(message)
            else:
                msg = _parse_phone(message)
            event = msg["event"]
            if event == "media":
                return self._phone_media(msg)
            handler = self._phone_handlers.get(event)
            if handler is None:
                raise _Drop("unknown phone event")
            return handler(msg)
        except _Drop as drop:
            self.stats.dropped[drop.reason] += 1
            return []
        except Exception:  # a bug of ours: the call goes on, the message is dropped and logged
            log.exception("TwilioMediaStream: phone message dropped by an internal error")
            self.stats.dropped["internal error"] += 1
            return []

    def _phone_connected(self, msg: dict[str, Any]) -> list[Output]:
        if self.state != "new":
            raise _Drop("connected out of order")
        return []

    def _phone_start(self, msg: dict[str, Any]) -> list[Output]:
        if self.state != "new":
            raise _Drop("start out of order")
        start = msg.get("start")
        if not isinstance(start, dict):
            raise _Drop("start without a start object")
        stream_sid = start.get("streamSid", msg.get("streamSid"))
        if not isinstance(stream_sid, str) or not stream_sid:
            raise _Drop("start without streamSid")
        media_format = start.get("mediaFormat", {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1})
        if not isinstance(media_format, dict) or (
            media_format.get("encoding"), media_format.get("sampleRate"), media_format.get("channels", 1)
        ) != ("audio/x-mulaw", 8000, 1):
            raise _Drop("unsupported mediaFormat")  # expected audio/x-mulaw, 8000 Hz, 1 channel
        params = start.get("customParameters") or {}
        call_sid = start.get("callSid")
        self.state, self.stream_sid = "started", stream_sid
        self._sid_json = json.dumps(stream_sid)
        self._media_head = f'{{"event":"media","streamSid":{self._sid_json},"media":{{"payload":"'
        call_sid = call_sid if isinstance(call_sid, str) else ""
        return [CallStarted(stream_sid, call_sid, params if isinstance(params, dict) else {})]

    def _phone_media(self, msg: dict[str, Any]) -> list[Output]:
        if self.state != "started":
            raise _Drop(f"media {'before start' if self.state == 'new' else 'after stop'}")
        media = msg.get("media")
        if not isinstance(media, dict):
            raise _Drop("media without a media object")
        if media.get("track", "inbound") not in ("inbound", "inbound_track"):
            raise _Drop("media of another track")
        chunk, timestamp = media.get("chunk"), media.get("timestamp")
        # _int_field's rules, inline for Twilio's decimal strings (the hot path)
        try:
            chunk = int(chunk) if type(chunk) is str and len(chunk) <= 20 else _int_field(media, "chunk")
        except ValueError:
            chunk = -1
        if not 0 <= chunk < 2**63:
            raise _Drop("bad media.chunk")
        try:
            timestamp = int(timestamp) if type(timestamp) is str and len(timestamp) <= 20 else _int_field(media, "timestamp")
        except ValueError:
            timestamp = -1
        if not 0 <= timestamp < 2**63:
            raise _Drop("bad media.timestamp")
        text = media.get("payload")
        if not isinstance(text, str):
            raise _Drop("bad media.payload")
        try:
            try:
                payload = _first_b64decode(text)
            except ValueError:
                payload = _speedups.b64decode_strict(text)
        except ValueError:
            raise _Drop("bad media.payload") from None
        if not payload:
            raise _Drop("empty media payload")
        if chunk <= self._last_chunk:
            raise _Drop("duplicate or late media chunk")
        self._last_chunk = chunk
        stats = self.stats
        stats.media_in += 1
        stats.media_in_bytes += len(payload)
        audio = b""
        if self._next_timestamp is not None and timestamp > self._next_timestamp:
            gap_ms = timestamp - self._next_timestamp
            n_fill = PHONE.ms_to_samples(gap_ms) if gap_ms <= MAX_GAP_FILL_MS else 0
            # keep the model's timeline continuous, but never send more silence than audio received
            budget = self.stats.media_in_bytes + PHONE.ms_to_samples(MAX_GAP_FILL_MS)
            if n_fill and self._filled_samples + n_fill <= budget:
                audio = _SILENCE * n_fill
                self._filled_samples += n_fill
                self.stats.gap_filled_ms += gap_ms
            else:
                self.stats.resyncs += 1
        self._next_timestamp = end_ms = timestamp + len(payload) // _SAMPLES_PER_MS
        if end_ms > self._phone_clock_ms:
            self._phone_clock_ms = end_ms
        if self._ulaw_in and not audio and len(text) == 216 and text[-3] in _LAST_OF_ONE and len(payload) == FRAME_BYTES:
            b64 = text  # exactly the base64 of these bytes: forwarded, not decoded and encoded again
        else:
            b64 = _speedups.b64encode(self._phone_to_model(audio + payload if audio else payload))
        append = _new_object(_Append)
        _set_text(append, _APPEND_HEAD + b64 + _APPEND_TAIL)
        return [append]

    def _phone_mark(self, msg: dict[str, Any]) -> list[Output]:
        mark = msg.get("mark")
        name = mark.get("name") if isinstance(mark, dict) else None
        if not isinstance(name, str):
            raise _Drop("bad mark name")
        if name in self._cleared_marks:
            del self._cleared_marks[name]
            return []
        if name not in self._marks:
            raise _Drop("mark we did not send")
        self._acked = max(self._acked, self._marks.pop(name))
        return []

    def _phone_dtmf(self, msg: dict[str, Any]) -> list[Output]:
        dtmf = msg.get("dtmf")
        digit = dtmf.get("digit") if isinstance(dtmf, dict) else None
        if not isinstance(digit, str) or digit not in _DTMF_DIGITS:
            raise _Drop("bad dtmf digit")
        return [Dtmf(digit)]

    def _phone_stop(self, msg: dict[str, Any]) -> list[Output]:
        if self.state != "started":
            raise _Drop("stop out of order")
        self.state = "stopped"
        return [CallStopped(self.stream_sid or "")]

    # -- model side ------------------------------------------------------------------------
    def receive_model(self, event: object) -> list[Output]:
        """Handle one Realtime server event (JSON text, dict or SDK model)."""
        self.stats.model_events += 1
        try:
            delta = fast_audio_delta(event) if type(event) is str else None  # the hot path: an audio delta
            if delta is not None:
                # its fields drop a huge integer literal whether orjson reads it as a float or json as
                # an int (see receive_phone); any other event is parsed again by json's rules
                return self._model_delta(delta)
            ev = parse_event(event)
            kind = ev["type"]
            if kind in AUDIO_DELTA_TYPES:
                return self._model_delta(ev)
            if kind in AUDIO_DONE_TYPES:
                return self._model_done(ev)
            if kind == "input_audio_buffer.speech_started":
                return self._barge_in()
            if kind == "session.updated":
                # Only session.updated: session.created describes the server's defaults from before
                # the bridge's session.update, which the server applies before any of our appends.
                try:
                    session = Session.from_server(ev)
                except AudioFormatError:
                    raise _Drop("bad session event") from None
                self.session = session
                self._setup_paths()
            return []
        except _Drop as drop:
            self.stats.dropped[drop.reason] += 1
            return []
        except AudioFormatError:  # not an event object (parse_event)
            self.stats.dropped["bad model event"] += 1
            return []
        except Exception:  # a bug of ours: the call goes on, the event is dropped and logged
            log.exception("TwilioMediaStream: model event dropped by an internal error")
            self.stats.dropped["internal error"] += 1
            return []

    def _item(self, ev: dict[str, Any]) -> tuple[str, int]:
        item_id, content_index = ev.get("item_id"), ev.get("content_index", 0)
        if not isinstance(item_id, str) or not item_id or type(content_index) is not int or not 0 <= content_index < 2**31:
            raise _Drop("audio event without item_id/content_index")
        return item_id, content_index

    def _model_delta(self, ev: dict[str, Any]) -> list[Output]:
        item_id, content_index = ev.get("item_id"), ev.get("content_index", 0)
        if type(item_id) is not str or not item_id or type(content_index) is not int or not 0 <= content_index < 2**31:
            item_id, content_index = self._item(ev)  # the same checks for str subclasses; else the drop
        if item_id in self._play.cancelled:
            raise _Drop("audio of an interrupted response")
        if self.state != "started" or self.stream_sid is None:
            raise _Drop("model audio while no call is streaming")
        text = ev.get("delta")
        if not isinstance(text, str):
            raise _Drop("bad model audio")
        try:
            try:
                data = _first_b64decode(text)
            except ValueError:
                data = _speedups.b64decode_strict(text)
            n_samples = len(data) if self._ulaw_out else self._out_format.n_samples(len(data))  # odd pcm16: dropped
        except (ValueError, AudioFormatError):
            raise _Drop("bad model audio") from None
        play = self._play
        if item_id != play.item_id or content_index != play.content_index:
            if self._position() >= self._sent:  # the phone's buffer is empty: playback restarts now
                self._anchor = (self._phone_clock_ms, self._sent)
            self._play = play = _Playout(item_id, content_index, self._sent + len(self._out_pending), 0, play.cancelled)
        play.received += n_samples
        if self._ulaw_out:
            if len(data) == FRAME_BYTES and not self._out_pending and len(text) == 216 and text[-3] in _LAST_OF_ONE:
                # one whole frame, its text exactly the base64 of its bytes: forwarded as it is
                self._sent += FRAME_BYTES
                self.stats.frames_out += 1
                media = _new_object(ToPhone)
                _set_text(media, self._media_head + text + _MEDIA_TAIL)
                return [media]
            self._out_pending += data
        else:
            ulaw = self._model_to_phone(data)
            if len(ulaw) == FRAME_BYTES and len(self._out_pending) < FRAME_BYTES:  # a 20 ms delta: one whole frame now
                pending = self._out_pending
                if pending:
                    cut = FRAME_BYTES - len(pending)
                    self._out_pending = bytes(ulaw[cut:])
                    ulaw = pending + ulaw[:cut]
                self._sent += FRAME_BYTES
                self.stats.frames_out += 1
                media = _new_object(ToPhone)
                _set_text(media, self._media_head + _speedups.b64encode(ulaw) + _MEDIA_TAIL)
                return [media]
            self._out_pending += ulaw
        return self._frames(final=False)

    def _model_done(self, ev: dict[str, Any]) -> list[Output]:
        item_id, content_index = self._item(ev)
        if item_id in self._play.cancelled or (item_id, content_index) != (self._play.item_id, self._play.content_index):
            return []
        if self._down is not None:
            self._out_pending += self._model_to_phone(b"", final=True)
        out = self._frames(final=True)
        self._n_marks += 1
        name = f"{item_id}:{content_index}:{self._n_marks}"
        self._marks[name] = self._sent
        if len(self._marks) > _MAX_REMEMBERED:  # a phone that never acknowledges: forget the oldest
            del self._marks[next(iter(self._marks))]
        return [*out, ToPhone({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})]

    def _frames(self, final: bool) -> list[Output]:
        out: list[Output] = []
        pending = self._out_pending
        cut = len(pending) if final else len(pending) - len(pending) % FRAME_BYTES
        head, b64encode = self._media_head, _speedups.b64encode
        for start in range(0, cut, FRAME_BYTES):
            frame = pending[start : start + FRAME_BYTES]
            out.append(_from_text(ToPhone, head + b64encode(frame) + _MEDIA_TAIL))
            self._sent += len(frame)
        self.stats.frames_out += len(out)
        self._out_pending = pending[cut:] if cut else pending
        return out

    def _position(self) -> int:
        """Phone samples played so far: the acknowledged mark, or the call clock since playback
        last (re)started, whichever is further, never beyond what was sent."""
        anchor_ms, anchor_sent = self._anchor
        by_clock = anchor_sent + PHONE.ms_to_samples(max(0, self._phone_clock_ms - anchor_ms))
        return min(max(self._acked, by_clock), self._sent)

    def _barge_in(self) -> list[Output]:
        play = self._play
        if play.item_id is None or play.item_id in play.cancelled:
            return []
        played = self._position() - play.item_start
        if played >= self._sent - play.item_start and not self._out_pending:
            return []  # the caller has heard all of it: nothing to interrupt
        heard_ms = min(max(played, 0) // PHONE.samples_per_ms, play.received * 1000 // self._out_format.rate_hz)
        self.stats.barge_ins += 1
        self._play = _Playout(None, 0, self._sent, 0, (*play.cancelled, play.item_id)[-_MAX_REMEMBERED:])
        self._out_pending = b""
        self._cleared_marks.update(dict.fromkeys(self._marks))
        while len(self._cleared_marks) > _MAX_REMEMBERED:
            del self._cleared_marks[next(iter(self._cleared_marks))]
        self._marks.clear()
        self._acked = self._sent = self._position()  # what the phone still held is gone
        self._anchor = (self._phone_clock_ms, self._sent)
        self._down = self._new_path(self._out_format, PHONE)
        return [
            ToPhone({"event": "clear", "streamSid": self.stream_sid}),
            ToModel(truncate_event(play.item_id, play.content_index, audio_end_ms=heard_ms)),
        ]
