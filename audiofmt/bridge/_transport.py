"""The bridge's WebSocket plumbing on picows: whole messages out of frames, within a size limit.

picows hands over frames, not messages, from a callback (no task, no queue, no await per
message). `Peer` turns them into whole text/binary messages for a `_Call` (fragments reassembled
up to `max_bytes`, in at most `max_bytes // 256` frames; invalid UTF-8 closes with 1007, an
oversized message with 1009), answers the peer's close handshake and (when picows does not) its
pings, and reports write-buffer pressure. Given a `budget` (the phone's message rate), every frame
that is not a whole text message (a ping, a pong, a fragment) costs one message: over the budget a
ping gets no pong and the socket is not read until the debt is paid (`throttled`), so a flood of
control frames or fragments costs the event loop no more than a flood of messages.
`CountingProtocol` is picows' protocol with a per-process cap on open TCP connections (one over
the cap is aborted as it arrives, before any byte of HTTP is read). `log_adapter` routes picows'
log lines through the bridge's redacting logger: picows logs the upgrade request (path token,
X-Twilio-Signature) and the client's request (Authorization) at its own level 9, and a plain
Logger would get per-connection child loggers whose records skip the parent's filters.

A connection given up on (a frame over the size limit, invalid UTF-8, a protocol violation) is
not read any more: its close frame is sent and it is dropped when the peer answers or after a
timeout, and meanwhile what the peer keeps sending cannot grow the read buffer. The bridge's own
refusals stop the reading where they are made (`Peer.give_up`); picows' (a frame header over
`max_frame_size`, a broken frame) through its logger, since picows logs an error exactly when it
gives up on a connection. Nothing runs per read or per frame for this.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from typing import Any

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport
from picows.picows import WSProtocol  # type: ignore[attr-defined]

__all__ = ["CountingProtocol", "Peer", "close_detail", "close_peer", "log_adapter"]

_TEXT, _BINARY, _CONT, _CLOSE = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION, WSMsgType.CLOSE
_PING, _PONG = WSMsgType.PING, WSMsgType.PONG
_FRAGMENT_BYTES = 256  # a message may come in at most max_bytes // 256 frames (empty ones count too)


class _Adapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A LoggerAdapter adds nothing but keeps picows from making child loggers (see module doc).
    `gave_up`, when given, is called before each ERROR line: picows logs one exactly when it gives
    up on a connection (and disconnects it a moment later)."""

    def __init__(self, logger: logging.Logger, gave_up: Callable[[], None] | None = None) -> None:
        super().__init__(logger, {})
        self.gave_up = gave_up

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return msg, kwargs

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if level >= logging.ERROR and self.gave_up is not None:
            self.gave_up()
        super().log(level, msg, *args, **kwargs)


def log_adapter(logger: logging.Logger, peer: Peer | None = None) -> logging.LoggerAdapter:  # type: ignore[type-arg]
    """`logger` for picows; with `peer`, picows giving up on the connection stops its reading."""
    return _Adapter(logger, peer.stop_reading if peer is not None else None)


class Peer(WSListener):
    """One side of a call. `sink(message)` gets each whole message (str for text, bytes for
    binary); `gone()` once, when the connection is closed or lost; `pressure(paused)` when the
    write buffer crosses its high (True) or low (False) water mark. With a `budget` (a _RateLimit),
    each frame but a whole text message costs one token; over it `throttled` is set until the debt
    is paid, and `sync()` is told each time it changes (the call pauses or resumes the reading)."""

    transport: WSTransport | None

    def __init__(self, max_bytes: int) -> None:
        self.transport = None
        self.max_bytes = max_bytes
        self.gave_up = False  # its input is not read any more (see the module doc)
        self.budget: Any = None  # a _RateLimit for the frames that are not whole text messages
        self.throttled = False  # over the budget: not to be read until the debt is paid
        self.sync: Callable[[], None] = _nothing
        self.parts: list[bytes] | None = None  # an unfinished fragmented message
        self.parts_type = _TEXT
        self.parts_size = 0
        self.sink: Callable[[Any], None] = _ignore
        self.gone: Callable[[], None] = _nothing
        self.pressure: Callable[[bool], None] = _ignore
        self.on_connected: Callable[[WSTransport], None] = _ignore

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.on_connected(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is _TEXT and frame.fin and self.parts is None:  # the hot path: one frame, one message
            try:
                text = frame.get_payload_as_utf8_text()
            except UnicodeDecodeError:
                self.give_up(transport, 1007, "invalid UTF-8")
                return
            self.sink(text)
        elif kind is _CLOSE:
            if not transport.is_close_frame_sent:  # their close first: answer with the same code
                code = frame.get_close_code()
                transport.send_close(code if code is not WSCloseCode.NO_INFO else WSCloseCode.OK)
            transport.disconnect()
        else:
            paid = self.budget is None or self.budget.take(1.0)
            if not paid and not self.throttled:
                self._throttle()
            if kind is _PING:  # (only when picows' own answering is off) within the budget: a pong
                if paid:
                    transport.send_pong(frame.get_payload_as_bytes())
            elif kind is not _PONG and not self.gave_up:
                self._fragment(transport, frame, kind)

    def _throttle(self) -> None:
        """Over the budget: not read (the call's `sync`) until the debt is paid, checked at least
        once a second (a closed connection ends it: the timer does not keep the call alive)."""
        wait = self.budget.wait_s()
        if wait > 0.0 and self.transport is not None and not self.transport.is_disconnected:
            self.throttled = True
            asyncio.get_running_loop().call_later(min(wait, 1.0), self._throttle)
        else:
            self.throttled = False
        self.sync()

    def _fragment(self, transport: WSTransport, frame: WSFrame, kind: WSMsgType) -> None:
        if kind is _CONT:
            if self.parts is None:
                self.give_up(transport, 1002, "continuation without a message")
                return
        elif self.parts is not None:
            self.give_up(transport, 1002, "new message inside a fragmented one")
            return
        else:
            self.parts, self.parts_type, self.parts_size = [], kind, 0
        if len(self.parts) >= self.max_bytes // _FRAGMENT_BYTES:
            self.parts = None
            self.give_up(transport, 1009, f"message in over {self.max_bytes // _FRAGMENT_BYTES} frames")
            return
        self.parts_size += frame.payload_size
        if self.parts_size > self.max_bytes:
            self.parts = None
            self.give_up(transport, 1009, f"message over {self.max_bytes} bytes")
            return
        self.parts.append(frame.get_payload_as_bytes())
        if not frame.fin:
            return
        data = b"".join(self.parts)
        self.parts = None
        if self.parts_type is _BINARY:
            self.sink(data)
            return
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self.give_up(transport, 1007, "invalid UTF-8")
            return
        self.sink(text)

    def give_up(self, transport: WSTransport, code: int, reason: str) -> None:
        """Close with `code` and read no more of this peer."""
        close_peer(transport, code, reason, 2.0)
        self.stop_reading()

    def stop_reading(self) -> None:
        """Read no more of this peer (whole messages already read are still handled: picows
        delivers those before the frame it refused)."""
        self.gave_up = True
        _pause_reading(self.transport)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        gone, self.gone = self.gone, _nothing
        gone()

    def pause_writing(self) -> None:
        self.pressure(True)

    def resume_writing(self) -> None:
        self.pressure(False)


def close_peer(transport: WSTransport | None, code: int, reason: str, close_s: float) -> None:
    """Start the closing handshake (`code`, `reason`); the TCP connection closes when the peer
    answers, or is aborted after `close_s` seconds (a peer that does not read cannot hold it)."""
    if transport is None or transport.is_disconnected:
        return
    if not transport.is_close_frame_sent:
        transport.send_close(WSCloseCode(code), reason.encode("utf-8")[:123])
    handshake = transport.close_handshake
    if handshake is not None and handshake.recv is not None:
        transport.disconnect()
        return
    asyncio.get_running_loop().call_later(close_s, _abort, transport)


def close_detail(transport: WSTransport | None) -> str:
    """How a connection ended, for the log: the peer's close code and reason, or ours, or none."""
    handshake = transport.close_handshake if transport is not None else None
    if handshake is not None and handshake.recv is not None:
        return f"({handshake.recv.code.value} {handshake.recv.reason})".replace(" )", ")")
    if handshake is not None and handshake.sent is not None:
        sent = handshake.sent
        why = "a message over the size limit" if sent.code.value == 1009 else sent.reason
        return f"(the bridge closed it with {sent.code.value}: {why})"
    return "(no close frame)"


def _abort(transport: WSTransport) -> None:
    if not transport.is_disconnected:
        transport.disconnect(graceful=False)


def _ignore(value: Any) -> None:
    return None


def _nothing() -> None:
    return None


class CountingProtocol(WSProtocol):  # type: ignore[misc]
    """picows' server protocol, counting open connections in `counter` (a one-item list shared by
    the server): a connection over `cap` is aborted at once. `refuse()` is told about it. `logger`
    (picows' logger argument, a Logger) gets this connection's own adapter, whose error lines stop
    the reading (see the module doc)."""

    def __init__(self, counter: list[int], cap: int, refuse: Callable[[], None], host: Any, path: Any, client_side: bool,
                 listener_factory: Any, logger: logging.Logger, *args: Any) -> None:
        ref = weakref.ref(self)
        super().__init__(host, path, client_side, listener_factory, _Adapter(logger, lambda: _stop_reading(ref)), *args)
        self._counter, self._cap, self._refuse = counter, cap, refuse
        self._counted = self._made = False
        self.peer = "?"

    def connection_made(self, transport: Any) -> None:
        self._counter[0] += 1
        self._counted = True
        if self._counter[0] > self._cap:
            self._refuse()
            transport.abort()
            return
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if peer else "?"
        self._made = True
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._counted:
            self._counter[0] -= 1
            self._counted = False
        if self._made:
            self._made = False
            super().connection_lost(exc)

    def abort(self) -> None:
        """Drop the connection (a handshake in progress when the server closes)."""
        transport = self.transport
        if self._made and transport is not None and not transport.is_disconnected:
            transport.disconnect(graceful=False)


def _stop_reading(ref: weakref.ref[CountingProtocol]) -> None:
    """picows gave up on a server connection: its Peer reads no more (or, during the upgrade, the socket)."""
    protocol = ref()
    if protocol is None:
        return
    listener = protocol.listener
    if isinstance(listener, Peer):
        listener.stop_reading()
    else:
        _pause_reading(protocol.transport)


def _pause_reading(transport: WSTransport | None) -> None:
    """Read no more from this connection's socket (if it is still connected)."""
    if transport is not None and not transport.is_disconnected:
        transport.underlying_transport.pause_reading()
