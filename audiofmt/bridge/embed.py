"""`bridge_call`: one call over a WebSocket that the embedding app's own server accepted.

The app's socket (a websockets server connection, or any object with `async recv()`,
`async send(text)` and `async close(code, reason)`) stands in for the picows phone socket: a
reader task feeds its messages to the same `Call` the bridge's own server runs (same core,
limits, timeouts, metrics and logs), and a writer task sends what the call gives it, in order.
The phone's reading pauses like a picows socket's (the reader stops calling `recv()`), and a
writer more than `_MAX_PENDING` messages behind counts as a peer slow to read (the call's send
timeout applies).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from types import SimpleNamespace
from typing import Any

from picows import WSCloseCode

from ._parts import _timeout
from .call import Call
from .config import BridgeConfig
from .metrics import NullMetrics
from .server import CallSlots, _State
from .twilio import TwilioMediaStream

__all__ = ["bridge_call"]

_MAX_PENDING = 64  # messages queued for the app's socket before the call counts it as not reading


class _AppSocket:
    """The subset of a picows transport (and its asyncio transport) that a Call uses."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.underlying_transport = self
        self.pending: deque[Any] = deque()
        self.wake = asyncio.Event()
        self.reading = asyncio.Event()
        self.reading.set()
        self.is_disconnected = self.is_close_frame_sent = False
        self.close_handshake: Any = None
        self.pressure: Any = None

    # the asyncio transport's part
    def set_write_buffer_limits(self, high: int) -> None:
        return None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default  # the app's socket: its buffers are the app's to set

    def pause_reading(self) -> None:
        self.reading.clear()

    def resume_reading(self) -> None:
        self.reading.set()

    # the WebSocket transport's part
    def send(self, kind: Any, message: Any) -> None:
        if self.is_close_frame_sent or self.is_disconnected:
            return
        self.pending.append(message)
        self.wake.set()
        if len(self.pending) == _MAX_PENDING and self.pressure is not None:
            self.pressure(True)

    def send_close(self, code: WSCloseCode, reason: bytes = b"") -> None:
        if self.is_close_frame_sent:
            return
        self.is_close_frame_sent = True
        sent = SimpleNamespace(code=code, reason=reason.decode("utf-8", "replace"))
        self.close_handshake = SimpleNamespace(sent=sent, recv=getattr(self.close_handshake, "recv", None))
        self.pending.append(sent)
        self.wake.set()

    def disconnect(self, graceful: bool = True) -> None:
        self.is_disconnected = True
        self.wake.set()
        self.reading.set()


async def bridge_call(phone: Any, config: BridgeConfig, metrics: Any = None) -> TwilioMediaStream:
    """Bridge one Twilio WebSocket (`phone`: a websockets server connection, or anything with its
    `recv()`, `send(text)` and `close(code, reason)`) to a new Realtime connection until either
    side ends.

    The Realtime connection opens only after Twilio's `start`; when either side closes, fails, or
    goes quiet past the limits, both are closed and the log says why. Returns the call's core
    (its `stats`, `stream_sid`). Authentication is the caller's job here (`Auth.check`)."""
    state = _State(config, CallSlots(1), metrics if metrics is not None else NullMetrics())
    call = Call(state, "?")
    app = _AppSocket(phone)
    app.pressure = call.phone.pressure
    call.phone.on_ws_connected(app)  # type: ignore[arg-type]

    async def read() -> None:
        while True:
            await app.reading.wait()
            if app.is_disconnected:
                break
            try:
                message = await phone.recv()
            except Exception as exc:  # the app's socket closed (its library's ConnectionClosed) or failed
                received = getattr(exc, "rcvd", None)
                if received is not None:
                    app.close_handshake = SimpleNamespace(
                        sent=getattr(app.close_handshake, "sent", None),
                        recv=SimpleNamespace(code=_code(received.code), reason=received.reason))
                break
            call.phone.sink(message)
        app.is_disconnected = True
        call.phone.on_ws_disconnected(app)  # type: ignore[arg-type]

    async def write() -> None:
        while True:
            while app.pending:
                item = app.pending.popleft()
                if len(app.pending) == _MAX_PENDING // 2 and app.pressure is not None:
                    app.pressure(False)
                with contextlib.suppress(Exception):
                    if isinstance(item, SimpleNamespace):
                        await phone.close(item.code.value, item.reason)
                        app.disconnect()
                        return
                    await phone.send(item)
            if app.is_disconnected:
                return
            app.wake.clear()
            await app.wake.wait()

    tasks = [asyncio.create_task(read()), asyncio.create_task(write())]
    try:
        await call.done
        with contextlib.suppress(TimeoutError):
            async with _timeout(config.limits.close_s + 1):
                await tasks[1]
    finally:
        app.disconnect()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*state.tasks, return_exceptions=True)
    return call.core


def _code(value: int) -> WSCloseCode:
    try:
        return WSCloseCode(value)
    except ValueError:
        return WSCloseCode.NO_INFO
