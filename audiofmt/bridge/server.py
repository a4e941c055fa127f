"""A runnable Twilio ↔ Realtime bridge: a thin picows shell around TwilioMediaStream.

Twilio connects to `serve()` over WebSocket. The upgrade request is authenticated first
(`X-Twilio-Signature` and/or a secret path token, see auth.py) and refused with HTTP 403 before
anything else happens (HTTP 503 when draining or at --max-calls). The bridge then waits for
Twilio's `connected`/`start` messages, and only then opens a WebSocket to the Realtime endpoint
(API key from the environment, sent as a header and never logged), sends `session.update` (and a
greeting `response.create` when configured), and moves messages (call.py): everything about
audio, framing, marks and barge-in is decided by the sans-IO core. Every socket, wait and message
has a limit (`Limits`). Needs the optional extra: pip install "audiofmt[bridge]" (picows; uvloop
is used when installed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._parts import _RateLimit, _timeout
from ._parts import _slices as _slices  # re-exported: the tests and embedding code reach it here
from .auth import SIGNATURE_HEADER, redacting_logger
from .config import BridgeConfig, Limits, _require_transport
from .metrics import NullMetrics, loop_lag_monitor

if TYPE_CHECKING:
    from .call import Call

__all__ = ["BridgeConfig", "BridgeServer", "CallSlots", "Limits", "bridge_call", "drain", "serve"]

log = logging.getLogger("audiofmt.bridge")


class CallSlots:
    """At most `limit` calls at once. `shared`, a multiprocessing Value('i'), shares the count
    between worker processes; otherwise it is this process's own."""

    def __init__(self, limit: int, shared: Any = None) -> None:
        self.limit, self.shared, self.count = limit, shared, 0

    def full(self) -> bool:
        return (self.shared.value if self.shared is not None else self.count) >= self.limit

    def acquire(self) -> bool:
        if self.shared is None:
            if self.count >= self.limit:
                return False
            self.count += 1
            return True
        with self.shared.get_lock():
            if self.shared.value >= self.limit:
                return False
            self.shared.value += 1
            return True

    def release(self) -> None:
        if self.shared is None:
            self.count -= 1
        else:
            with self.shared.get_lock():
                self.shared.value -= 1


@dataclass
class _State:
    config: BridgeConfig
    slots: CallSlots
    metrics: Any
    draining: bool = False
    monitor: asyncio.Task[None] | None = None
    closer: asyncio.Task[None] | None = None
    connections: list[int] = field(default_factory=lambda: [0])  # open TCP connections (one item, shared)
    calls: set[Call] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)  # Realtime connects in progress
    protocols: weakref.WeakSet[Any] = field(default_factory=weakref.WeakSet)
    no_calls: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def open_connections(self) -> int:
        return self.connections[0]

    def call_ended(self) -> None:
        if not self.calls:
            self.no_calls.set()


class BridgeServer:
    """What `serve` returns: the listening sockets (`sockets`), `close()`, `wait_closed()`, and
    `async with` (closes on exit). `calls` are the calls in progress."""

    def __init__(self, server: asyncio.AbstractServer, state: _State) -> None:
        self._server, self._state = server, state

    @property
    def sockets(self) -> tuple[Any, ...]:
        return tuple(getattr(self._server, "sockets", None) or ())

    @property
    def calls(self) -> set[Call]:
        return set(self._state.calls)

    def close(self, close_connections: bool = True) -> None:
        """Stop listening; with close_connections, also end every call (1001) and drop handshakes."""
        self._server.close()
        if close_connections:
            for call in list(self._state.calls):
                call.end("shutdown", "the server stopped")
            for protocol in list(self._state.protocols):
                if protocol.listener is None:  # still in its handshake
                    protocol.abort()

    async def wait_closed(self) -> None:
        """Until the listening sockets are closed and every call has finished closing."""
        with contextlib.suppress(Exception):
            await self._server.wait_closed()
        calls = [c.done for c in self._state.calls]
        if calls:
            await asyncio.gather(*calls, return_exceptions=True)
        limits = self._state.config.limits
        deadline = asyncio.get_running_loop().time() + limits.close_s + 1
        while any(p.transport is not None and not p.transport.is_disconnected for p in list(self._state.protocols)):
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.02)
        for task in list(self._state.tasks):
            task.cancel()
        if self._state.monitor is not None:
            self._state.monitor.cancel()

    async def __aenter__(self) -> BridgeServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()


_STATES: weakref.WeakKeyDictionary[Any, _State] = weakref.WeakKeyDictionary()


async def serve(host: str | None, port: int, config: BridgeConfig, *, ssl: Any = None, reuse_port: bool = False,
                slots: CallSlots | None = None, metrics: Any = None, sock: Any = None) -> BridgeServer:
    """Start the bridge's WebSocket server; returns a BridgeServer (`async with` it, or
    `await drain(server)`). `ssl` is an ssl.SSLContext for wss:// without a proxy; `reuse_port`
    lets several processes listen on one port; `slots` caps concurrent calls (default:
    config.limits.max_calls in this process); `metrics` a BridgeMetrics."""
    _require_transport()
    from picows import WSAutoPingStrategy, WSUpgradeResponse, WSUpgradeResponseWithListener

    from ._transport import CountingProtocol
    from .call import Call

    limits = config.limits
    state = _State(config, slots or CallSlots(limits.max_calls), metrics if metrics is not None else NullMetrics())
    secrets = config.secrets()
    server_log = redacting_logger("audiofmt.bridge.websocket", secrets)  # each connection adapts it (_transport)
    redacting_logger("audiofmt.bridge", secrets)
    auth = config.auth
    if (auth is None or not auth.enabled) and host not in ("127.0.0.1", "::1", "localhost"):
        log.warning("the bridge on %s accepts any client: every caller gets a Realtime session on your API key "
                    "(set BridgeConfig.auth)", host or "all interfaces")
    check_auth = auth is not None and (auth.enabled or auth.route != "/")
    refusal_log = _RateLimit(5.0, 20)  # a flood of bad requests must not flood the log too

    def refuse(peer: str, reason: str, why: str) -> None:
        state.metrics.reject(reason)
        if refusal_log.spend(1):
            log.warning("refused %s: %s", peer, why, extra={"peer": peer})

    def answer(status: int, body: bytes) -> Any:
        return WSUpgradeResponseWithListener(WSUpgradeResponse.create_error_response(status, body), None)

    def gate(protocol: Any, request: Any) -> Any:
        """The upgrade request, before any WebSocket exists: 503, 403, or a new call."""
        if state.draining:
            state.metrics.reject("draining")
            return answer(503, b"Shutting down\n")
        if check_auth:
            assert auth is not None
            signatures = request.headers.getall(SIGNATURE_HEADER, [])
            path = request.path.decode("utf-8", "surrogateescape")
            why = auth.check(path, signatures[0] if len(signatures) == 1 else None)
            if why is not None:
                refuse(protocol.peer, "auth", why)
                return answer(403, b"Forbidden\n")
        if state.slots.full():
            refuse(protocol.peer, "capacity", f"{state.slots.limit} calls in progress (max calls)")
            return answer(503, b"Busy\n")
        return Call(state, protocol.peer).phone

    def too_many() -> None:
        refuse("?", "connections", f"{limits.max_connections} connections open")

    def protocol_factory() -> Any:
        protocol: Any = None
        protocol = CountingProtocol(
            state.connections, limits.max_connections, too_many,
            None, None, False, lambda request: gate(protocol, request), server_log,
            True,  # an exception in a callback closes that connection (1011), never the server
            limits.handshake_s, False, 20.0, 20.0, WSAutoPingStrategy.PING_WHEN_IDLE,
            False,  # pings are answered by the call's Peer, within the phone's message rate
            limits.phone_max_bytes, None, 4096)
        state.protocols.add(protocol)
        return protocol

    loop = asyncio.get_running_loop()
    kwargs: dict[str, Any] = {"ssl": ssl, "ssl_handshake_timeout": limits.handshake_s if ssl is not None else None,
                              "backlog": 1024}
    if sock is not None:
        server = await loop.create_server(protocol_factory, sock=sock, **kwargs)
    else:
        server = await loop.create_server(protocol_factory, host, port, reuse_port=reuse_port or None, **kwargs)
    wrapped = BridgeServer(server, state)
    state.monitor = asyncio.create_task(loop_lag_monitor(state.metrics))
    _STATES[wrapped] = state
    return wrapped


def server_state(server: Any) -> _State:
    """The bridge's state for a server made by `serve` (draining flag, slots, metrics)."""
    return _STATES[server]


async def drain(server: BridgeServer, seconds: float | None = None) -> int:
    """Stop accepting calls, let those in progress run up to `seconds` (default: limits.drain_s),
    then close them (code 1001) and their Realtime connections. Returns how many were cut."""
    state = _STATES[server]
    state.draining = True
    seconds = state.config.limits.drain_s if seconds is None else seconds
    server.close(close_connections=False)  # the listening sockets close now; calls go on
    cut = 0
    if state.calls:
        state.no_calls.clear()
        try:
            async with _timeout(seconds):
                await state.no_calls.wait()
        except TimeoutError:
            cut = len(state.calls)
            log.warning("drain: %d call(s) still running after %g s; closing them", cut, seconds)
    server.close(close_connections=True)
    await server.wait_closed()
    return cut


from .embed import bridge_call  # noqa: E402  (embed builds on this module's _State)
