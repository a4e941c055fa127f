"""One bridged call on picows: the phone's WebSocket, the Realtime WebSocket opened after Twilio's
`start`, and the sans-IO core between them, driven from picows' frame callbacks.

Each message is handled in the callback that received it (no task, queue or await per message):
phone text → `TwilioMediaStream.receive_phone` → sends; model text → `receive_model` → sends.
Every bound of the old task-per-direction shell holds:
- the phone's messages are rate-limited (`Limits.phone_rate_per_s`, `phone_burst`): beyond the
  rate they wait in order and the phone socket stops being read (TCP pushes back), nothing lost;
  its other frames (pings, pongs, fragments) cost the same budget, and over it the socket is not
  read until they are paid for;
- caller audio reaches the model at most at `audio_speedup` × real time plus `audio_burst_ms`;
- a model delta over `model_slice_chars` is handled in slices, one per loop turn;
- a peer whose write buffer passes `write_limit_bytes` stops the reading of both sockets; if it
  has not made room within `send_timeout_s`, the call ends;
- the phone socket's kernel buffers are fixed (64 KiB each way), so one read, and the messages it
  holds back, stay small however fast the phone sends, and a phone that stops reading reaches
  the write limit (and the send timeout) within seconds;
- start, idle and connect timeouts end the call; closing waits `close_s` for the peer's answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from picows import WSMsgType

from ..realtime.session import Session
from ._parts import _call_session, _close_reason, _ignore_any, _ignore_send, _pieces, _RateLimit, _safe_sid, _slices, _timeout
from ._transport import Peer, close_detail, close_peer, log_adapter
from .auth import redact_url, redacting_logger
from .twilio import CallStarted, CallStopped, ToModel, ToPhone, TwilioMediaStream, _Append

if TYPE_CHECKING:
    from .server import _State

__all__ = ["Call", "_close_reason", "_safe_sid", "_slices", "_timeout"]

log = logging.getLogger("audiofmt.bridge")
_now = time.monotonic
_TEXT = WSMsgType.TEXT
_APPEND_OVERHEAD = len('{"type":"input_audio_buffer.append","audio":""}')
_APPEND_HEAD_LEN = _APPEND_OVERHEAD - 2
_PER_TURN = 16  # waiting messages handled per loop turn and call
# the phone socket's kernel buffers (SO_RCVBUF, SO_SNDBUF; Linux doubles them): fixed, so that
# TCP's autotuning cannot grow them to megabytes. Received: one read hands over no more (picows'
# read buffer grows to the largest read, and every message of a read is held until the rate takes
# it). Sent: a caller that stops reading fills them in seconds, not minutes, and the send timeout
# ends the call. Twilio sends ~17 KB/s and is sent at most ~35 KB/s
_PHONE_SOCKET_BUFFER = 64 * 1024


class Call:
    """One call: made when the phone's upgrade is accepted, ended once (`end`)."""

    def __init__(self, state: _State, peer: str) -> None:
        config = state.config
        self.state, self.config, self.limits, self.metrics = state, config, config.limits, state.metrics
        self.base = Session.parse(config.session)
        self.core = TwilioMediaStream(self.base)
        self.phone = Peer(self.limits.phone_max_bytes)
        self.phone.sink, self.phone.gone = self._first_message, self._phone_gone
        self.phone.pressure = lambda paused: self._pressure(1, paused)
        self.phone.on_connected = self._phone_connected
        self.model: Peer | None = None
        self.peer, self.call_sid = peer, "-"
        self.first: list[Any] = []  # the first phone messages, replayed into a per-call core
        self.waiting: deque[Any] = deque()  # phone messages held back (rate, model not up yet)
        self.model_waiting: deque[Any] = deque()  # slices of a large model delta
        self.bucket = _RateLimit(self.limits.phone_rate_per_s, self.limits.phone_burst)
        self.phone.budget, self.phone.sync = self.bucket, self._sync_reading
        self.audio_budget = _RateLimit(1000.0 * self.limits.audio_speedup, self.limits.audio_burst_ms)
        self.bytes_per_ms = float(self.core.session.input_format.bytes_per_ms)
        self.slice_chars = self.limits.model_slice_chars
        self.over_realtime = 0
        self.drops_before: dict[str, int] = {}
        self.reported = [0, 0]
        self.live = self.ended = self.slot = self.started = False
        self.pressed = 0  # sides whose write buffer is over the limit (1 phone, 2 model)
        self.held = [False, False]  # reading paused: phone, model
        self.timer: asyncio.TimerHandle | None = None
        self.send_timer: asyncio.TimerHandle | None = None
        self.pump: asyncio.Handle | None = None
        self.loop = asyncio.get_running_loop()
        self.done = self.loop.create_future()
        self.last_media = (0, 0.0)
        self.outcome = "error"
        self.phone_send: Any = _ignore_send  # the sockets' send(), once they are open
        self.model_send: Any = _ignore_send

    # -- phone socket ----------------------------------------------------------------------
    def _phone_connected(self, transport: Any) -> None:
        state = self.state
        transport.underlying_transport.set_write_buffer_limits(high=self.limits.write_limit_bytes)
        sock = transport.underlying_transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _PHONE_SOCKET_BUFFER)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _PHONE_SOCKET_BUFFER)
        if not state.slots.acquire():  # lost a race with another upgrade since the check
            state.metrics.reject("capacity")
            close_peer(transport, 1013, "busy", self.limits.close_s)
            self.phone.gone = self.phone.sink = _ignore_any
            self.done.set_result(None)
            return
        self.slot = True
        self.phone_send = transport.send
        state.calls.add(self)
        self.metrics.call_started()
        self.timer = self.loop.call_later(self.limits.start_s, self._start_timeout)

    def _first_message(self, message: Any) -> None:
        """Before `start`: the same rate limit as later (a flood waits, the socket is not read)."""
        if self.waiting or not self.bucket.spend(1.0):
            self.waiting.append(message)
            self.metrics.throttled()
            self._schedule()
            return
        self._before_start(message)

    def _before_start(self, message: Any) -> None:
        """Feed the core until it says the call started."""
        if len(self.first) < 8:  # connected, start, and a few strays are all a real call sends first
            self.first.append(message)
        for out in self.core.receive_phone(message):
            if isinstance(out, CallStarted):
                self._started(out)
                return

    def _start_timeout(self) -> None:
        self.end("start_timeout", f"no Twilio start message within {self.limits.start_s:g} s")

    def _started(self, started: CallStarted) -> None:
        self.started = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        config = self.config
        self.call_sid = _safe_sid(started.call_sid or started.stream_sid)
        try:
            session = _call_session(started, config, self.base)
        except Exception as exc:  # the app's on_call_start hook, or the session it asked for
            log.exception("call %s: no session for this call", self.call_sid, extra={"call_sid": self.call_sid})
            self.end("error", f"{type(exc).__name__}: {exc}")
            return
        if session is not self.base:  # formats may differ: a fresh core sees the same first messages
            self.drops_before = dict(self.core.stats.dropped)
            self.core = TwilioMediaStream(session)
            for message in self.first:
                self.core.receive_phone(message)
            self.bytes_per_ms = float(session.input_format.bytes_per_ms)
        self.first = []
        self.session = session
        stream_sid = _safe_sid(started.stream_sid)
        log.info("call %s: started (stream %s)", self.call_sid, stream_sid,
                 extra={"call_sid": self.call_sid, "stream_sid": stream_sid})
        if not self._tell_app(started):
            return
        self.phone.sink = self._held_message  # until the model is up, phone messages wait
        self.state.tasks.add(task := self.loop.create_task(self._connect()))
        task.add_done_callback(self.state.tasks.discard)

    async def _connect(self) -> None:
        from picows import ws_connect

        config, limits = self.config, self.limits
        secrets = config.secrets()
        model = Peer(limits.model_max_bytes)
        model.sink, model.gone = self._model_message, self._model_gone
        model.pressure = lambda paused: self._pressure(2, paused)
        model.on_connected = self._model_connected
        self.model = model
        t0 = _now()
        try:
            async with _timeout(limits.upstream_connect_s):
                await ws_connect(
                    lambda: model, config.realtime_url, extra_headers=config.headers(), max_frame_size=limits.model_max_bytes,
                    websocket_handshake_timeout=limits.upstream_connect_s, max_redirects=0,  # never the key to another host
                    logger_name=log_adapter(redacting_logger("audiofmt.bridge.upstream", secrets), model), enable_auto_ping=False)
        except Exception as exc:
            if self.ended:
                return
            self.metrics.upstream_failed()
            reason = f"cannot open {redact_url(config.realtime_url)}: {type(exc).__name__}: {exc}"
            self.end("upstream_failed", reason)
            return
        if self.ended:  # the phone left while the model connection opened
            close_peer(model.transport, 1000, "call ended", limits.close_s)
            return
        self.metrics.upstream_connected(_now() - t0)

    def _model_connected(self, transport: Any) -> None:
        """The Realtime socket is open: session.update goes first, then what the phone sent meanwhile."""
        if self.ended:
            return
        limits = self.limits
        transport.underlying_transport.set_write_buffer_limits(high=limits.write_limit_bytes)
        shape = "beta" if self.config.beta_header else "ga"
        transport.send(_TEXT, json.dumps(self.session.update_event(shape)))
        if self.config.greeting:
            greet = {"type": "response.create",
                     "response": {"instructions": f"Greet the caller now. Say: {self.config.greeting}"}}
            transport.send(_TEXT, json.dumps(greet))
        self.live = True
        self.model_send = transport.send
        self.phone.sink = self._phone_message
        self.last_media = (self.core.stats.media_in, self.loop.time())
        self.timer = self.loop.call_later(min(limits.idle_s, 1.0), self._tick)
        self._schedule()

    def _held_message(self, message: Any) -> None:
        self.waiting.append(message)
        self._sync_reading()

    def _phone_message(self, message: Any) -> None:
        """The hot path: one phone message, now or (over the rate) in order later."""
        now = _now()
        if self.waiting or not self.bucket.spend(1.0, now):
            self.waiting.append(message)
            self.metrics.throttled()
            self._schedule()
            return
        outs = self.core.receive_phone(message)
        if len(outs) != 1 or type(outs[0]) is not _Append:  # anything but media → one append goes the general way
            if outs:
                self._route(outs)
            return
        text: str = outs[0]._text  # type: ignore[assignment]  # an _Append is made from its text
        if self.audio_budget.spend((len(text) - _APPEND_OVERHEAD) * 3 // 4 / self.bytes_per_ms, now):
            self.model_send(_TEXT, text)
        else:
            self.over_realtime += 1

    def _route(self, outs: list[Any]) -> None:
        model_send, phone_send = self.model_send, self.phone_send
        for out in outs:
            kind = type(out)
            if kind is ToPhone or isinstance(out, ToPhone):
                phone_send(_TEXT, out.json())
            elif isinstance(out, ToModel):  # caller audio within the model's real-time budget, or dropped
                if kind is _Append or out.event.get("type") == "input_audio_buffer.append":
                    text = out.text
                    audio = text[_APPEND_HEAD_LEN:-2] if kind is _Append and text is not None else out.event.get("audio")
                    n_bytes = len(audio) * 3 // 4 if isinstance(audio, str) else 0
                    if not self.audio_budget.spend(n_bytes / self.bytes_per_ms):
                        self.over_realtime += 1
                        continue
                model_send(_TEXT, out.json())
            else:  # Dtmf or CallStopped; the digits a caller keys (PINs, card numbers) are never logged
                log.debug("call %s: %s", self.call_sid, type(out).__name__, extra={"call_sid": self.call_sid})
                if not self._tell_app(out):
                    return
                if isinstance(out, CallStopped):
                    self.end("stopped", "Twilio sent stop")
                    return

    def _tell_app(self, event: object) -> bool:
        """config.on_event(event); an exception there ends this call (outcome "error"), never the server."""
        if self.config.on_event is None:
            return True
        try:
            self.config.on_event(event)
        except Exception as exc:
            log.exception("call %s: on_event raised", self.call_sid, extra={"call_sid": self.call_sid})
            self.end("error", f"on_event raised {type(exc).__name__}")
            return False
        return True

    def _phone_gone(self) -> None:
        self.end("phone_closed", f"Twilio closed the WebSocket {close_detail(self.phone.transport)}")

    # -- model socket ----------------------------------------------------------------------
    def _model_message(self, message: Any) -> None:
        if self.model_waiting:
            self.model_waiting.append(message)
            return
        if len(message) > self.slice_chars and type(message) is str:
            pieces = _pieces(message, self.slice_chars, self.core.session.output_format.bytes_per_sample)
            if len(pieces) > 1:
                self.model_waiting.extend(pieces[1:])
                self._schedule()
            message = pieces[0]
        outs = self.core.receive_model(message)
        if len(outs) == 1 and type(outs[0]) is ToPhone:  # a delta → one 20 ms frame (the usual event)
            text = outs[0]._text
            self.phone_send(_TEXT, text if text is not None else outs[0].json())
        elif outs:
            self._route(outs)

    def _model_gone(self) -> None:
        transport = self.model.transport if self.model is not None else None
        self.end("upstream_closed", f"the Realtime server closed the connection {close_detail(transport)}")

    # -- waiting messages, flow control, timers ----------------------------------------------
    def _schedule(self) -> None:
        """Handle waiting messages on a later loop turn (now, or when the rate allows)."""
        self._sync_reading()
        if self.pump is not None or self.ended:
            return
        if self.model_waiting or (self.waiting and self.bucket.wait_s() == 0.0):
            self.pump = self.loop.call_soon(self._drain)
        elif self.waiting:
            self.pump = self.loop.call_later(self.bucket.wait_s(), self._drain)

    def _drain(self) -> None:
        self.pump = None
        if not self.started and not self.ended and not self.pressed:  # before start: in order, at the rate
            for _ in range(_PER_TURN):
                if not self.waiting or self.started or self.ended or not self.bucket.spend(1.0):
                    break
                self._before_start(self.waiting.popleft())
            if not self.started and not self.ended:
                self._schedule()
                return
        if self.ended or not self.live or self.pressed:
            self._sync_reading()
            return
        if self.model_waiting:  # one slice of a large delta per turn
            outs = self.core.receive_model(self.model_waiting.popleft())
            if outs:
                self._route(outs)
        for _ in range(_PER_TURN):
            if not self.waiting or self.ended or not self.bucket.spend(1.0):
                break
            outs = self.core.receive_phone(self.waiting.popleft())
            if outs:
                self._route(outs)
        if not self.ended:
            self._schedule()

    def _sync_reading(self) -> None:
        """Read a socket only while nothing of its own waits, no peer is slow to read and the phone
        is within its frame budget; once the call has ended, unless the phone is over that budget
        (what comes in is ignored, and the close answers must be read)."""
        if self.ended:
            want = (self.phone.throttled, False)
        else:
            slow = self.pressed != 0
            want = (bool(self.waiting) or slow or self.phone.throttled, bool(self.model_waiting) or slow)
        for side, peer in ((0, self.phone), (1, self.model)):
            transport = peer.transport if peer is not None else None
            if peer is None or transport is None or transport.is_disconnected or want[side] == self.held[side] or peer.gave_up:
                continue
            self.held[side] = want[side]
            underlying = transport.underlying_transport
            (underlying.pause_reading if want[side] else underlying.resume_reading)()

    def _pressure(self, side: int, paused: bool) -> None:
        """A write buffer crossed its limit: stop reading both sides until it drains, or end the call."""
        self.pressed = self.pressed | side if paused else self.pressed & ~side
        if self.pressed and self.send_timer is None:
            self.send_timer = self.loop.call_later(self.limits.send_timeout_s, self._send_timeout)
        elif not self.pressed and self.send_timer is not None:
            self.send_timer.cancel()
            self.send_timer = None
        if not self.ended:
            self._schedule()

    def _send_timeout(self) -> None:
        self.end("send_timeout", f"a peer did not read for {self.limits.send_timeout_s:g} s")

    def _tick(self) -> None:
        """Once a second: the idle check, and the frame counts into the metrics."""
        self.timer = None
        if self.ended:
            return
        now, media_in = self.loop.time(), self.core.stats.media_in
        if media_in != self.last_media[0]:
            self.last_media = (media_in, now)
        self._flush_counts()
        left = self.last_media[1] + self.limits.idle_s - now
        if left <= 0:
            self.end("idle", f"no media from the phone for {self.limits.idle_s:g} s")
            return
        self.timer = self.loop.call_later(min(left, 1.0), self._tick)

    def _flush_counts(self) -> None:
        stats, reported = self.core.stats, self.reported
        self.metrics.frames(stats.media_in - reported[0], stats.frames_out - reported[1])
        reported[0], reported[1] = stats.media_in, stats.frames_out

    # -- the end -------------------------------------------------------------------------------
    def end(self, outcome: str, detail: str = "") -> None:
        """End the call once: close both sockets (with the outcome's code), count, log."""
        if self.ended:
            return
        self.ended, self.outcome = True, outcome
        for handle in (self.timer, self.send_timer, self.pump):
            if handle is not None:
                handle.cancel()
        self.waiting.clear()
        self.model_waiting.clear()
        limits = self.limits
        code, why = _close_reason(outcome)
        self.phone.sink = _ignore_any  # what the phone sends while the close completes is not handled
        self._sync_reading()  # an ended call reads both sides: the peers' close answers must get in
        close_peer(self.phone.transport, code, why, limits.close_s)
        if self.model is not None:
            self.model.sink = _ignore_any
            close_peer(self.model.transport, 1000, "call ended", limits.close_s)
        if self.slot:
            self.slot = False
            self.state.slots.release()
            self.state.calls.discard(self)
            self._flush_counts()
            drops = dict(self.core.stats.dropped)
            for reason, n in self.drops_before.items():
                drops[reason] = drops.get(reason, 0) + n
            if self.over_realtime:
                drops["audio over real time"] = self.over_realtime
            self.metrics.drops(drops)
            self.metrics.call_ended(outcome)
            stats = self.core.stats
            level = logging.INFO if outcome in ("stopped", "phone_closed") else logging.WARNING
            log.log(level, "call %s: ended (%s) %s; media in %d, frames out %d, barge-ins %d, dropped %s", self.call_sid, outcome,
                    detail, stats.media_in, stats.frames_out, stats.barge_ins, drops or "none",
                    extra={"call_sid": self.call_sid, "outcome": outcome})
        if not self.done.done():
            self.done.set_result(None)
        self.state.call_ended()
