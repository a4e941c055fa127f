"""The bridge's WebSocket plumbing on picows: whole messages out of frames, within a size limit.

picows hands over frames, not messages, from a callback (no task, no queue, no await per
message). `Peer` turns them into whole text/binary messages for a `_Call` (fragments reassembled
up to `max_bytes`; invalid UTF-8 closes with 1007, an oversized message with 1009), answers the
peer's close handshake, and reports write-buffer pressure. `CountingProtocol` is picows' protocol
with a per-process cap on open TCP connections (one over the cap is aborted as it arrives, before
any byte of HTTP is read). `log_adapter` routes picows' log lines through the bridge's redacting
logger: picows logs the upgrade request (path token, X-Twilio-Signature) and the client's
request (Authorization) at its own level 9, and a plain Logger would get per-connection child
loggers whose records skip the parent's filters.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport
from picows.picows import WSProtocol  # type: ignore[attr-defined]

__all__ = ["CountingProtocol", "Peer", "close_detail", "close_peer", "log_adapter"]

_GAVE_UP = frozenset({1002, 1007, 1009})  # close codes after which a peer's input is not read
_TEXT, _BINARY, _CONT, _CLOSE = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION, WSMsgType.CLOSE


class _Adapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A LoggerAdapter adds nothing but keeps picows from making child loggers (see module doc)."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return msg, kwargs


def log_adapter(logger: logging.Logger) -> logging.LoggerAdapter:  # type: ignore[type-arg]
    return _Adapter(logger, {})


class Peer(WSListener):
    """One side of a call. `sink(message)` gets each whole message (str for text, bytes for
    binary); `gone()` once, when the connection is closed or lost; `pressure(paused)` when the
    write buffer crosses its high (True) or low (False) water mark."""

    transport: WSTransport | None

    def __init__(self, max_bytes: int) -> None:
        self.transport = None
        self.max_bytes = max_bytes
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
                close_peer(transport, 1007, "invalid UTF-8", 2.0)
                return
            self.sink(text)
        elif kind is _CLOSE:
            if not transport.is_close_frame_sent:  # their close first: answer with the same code
                code = frame.get_close_code()
                transport.send_close(code if code is not WSCloseCode.NO_INFO else WSCloseCode.OK)
            transport.disconnect()
        elif kind is _TEXT or kind is _BINARY or kind is _CONT:
            self._fragment(transport, frame, kind)
        # PING is answered by picows; PONG needs nothing

    def _fragment(self, transport: WSTransport, frame: WSFrame, kind: WSMsgType) -> None:
        if kind is _CONT:
            if self.parts is None:
                close_peer(transport, 1002, "continuation without a message", 2.0)
                return
        elif self.parts is not None:
            close_peer(transport, 1002, "new message inside a fragmented one", 2.0)
            return
        else:
            self.parts, self.parts_type, self.parts_size = [], kind, 0
        self.parts_size += frame.payload_size
        if self.parts_size > self.max_bytes:
            self.parts = None
            close_peer(transport, 1009, f"message over {self.max_bytes} bytes", 2.0)
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
            close_peer(transport, 1007, "invalid UTF-8", 2.0)
            return
        self.sink(text)

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
    the server): a connection over `cap` is aborted at once. `refuse()` is told about it."""

    def __init__(self, counter: list[int], cap: int, refuse: Callable[[], None], *args: Any) -> None:
        super().__init__(*args)
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

    def buffer_updated(self, nbytes: int) -> None:
        super().buffer_updated(nbytes)
        transport = self.transport
        if transport is not None and transport.is_close_frame_sent:
            handshake = transport.close_handshake
            sent = handshake.sent if handshake is not None else None
            if sent is not None and handshake.recv is None and sent.code.value in _GAVE_UP:
                # picows refused a frame (over the size limit, or invalid) and keeps reading its
                # payload until it disconnects: read no more, so the buffer cannot grow meanwhile
                transport.underlying_transport.pause_reading()

    def abort(self) -> None:
        """Drop the connection (a handshake in progress when the server closes)."""
        transport = self.transport
        if self._made and transport is not None and not transport.is_disconnected:
            transport.disconnect(graceful=False)
