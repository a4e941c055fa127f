"""A runnable Twilio ↔ Realtime bridge: a thin asyncio/websockets shell around TwilioMediaStream.

Twilio connects to `serve()` over WebSocket. The upgrade request is authenticated first
(`X-Twilio-Signature` and/or a secret path token, see auth.py) and refused with HTTP 403 before
anything else happens. The bridge then waits for Twilio's `connected`/`start` messages, and only
then opens a WebSocket to the Realtime endpoint (API key from the environment, sent as a header
and never logged), sends `session.update` (and a greeting `response.create` when configured), and
moves messages: everything about audio, framing, marks and barge-in is decided by the sans-IO
core. Every socket, queue, wait and message has a limit (`Limits`). Needs the optional extra:
pip install "audiofmt[bridge]".
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from .auth import SIGNATURE_HEADER, redacting_logger
from .call import _bridge_call, _RateLimit, _timeout, bridge_call
from .call import _slices as _slices  # re-exported: the tests and embedding code reach it here
from .config import BridgeConfig, Limits, _require_websockets
from .metrics import NullMetrics, loop_lag_monitor

__all__ = ["BridgeConfig", "CallSlots", "Limits", "bridge_call", "drain", "serve"]

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
    open_connections: int = 0


_STATES: weakref.WeakKeyDictionary[Any, _State] = weakref.WeakKeyDictionary()


async def serve(host: str | None, port: int, config: BridgeConfig, *, ssl: Any = None, reuse_port: bool = False,
                slots: CallSlots | None = None, metrics: Any = None, sock: Any = None) -> Any:
    """Start the bridge's WebSocket server; returns the websockets Server (`async with` it, or
    `await drain(server)`). `ssl` is an ssl.SSLContext for wss:// without a proxy; `reuse_port`
    lets several processes listen on one port; `slots` caps concurrent calls (default:
    config.limits.max_calls in this process); `metrics` a BridgeMetrics."""
    _require_websockets()
    from websockets.asyncio.server import serve as ws_serve

    limits = config.limits
    state = _State(config, slots or CallSlots(limits.max_calls), metrics if metrics is not None else NullMetrics())
    secrets = config.secrets()
    server_log = redacting_logger("audiofmt.bridge.websocket", secrets, frames=True)
    redacting_logger("audiofmt.bridge", secrets)
    auth = config.auth
    if (auth is None or not auth.enabled) and host not in ("127.0.0.1", "::1", "localhost"):
        log.warning("the bridge on %s accepts any client: every caller gets a Realtime session on your API key "
                    "(set BridgeConfig.auth)", host or "all interfaces")

    refusal_log = _RateLimit(5.0, 20)  # a flood of bad requests must not flood the log too

    def refuse(peer: str, reason: str, why: str) -> None:
        state.metrics.reject(reason)
        if refusal_log.spend(1):
            log.warning("refused %s: %s", peer, why, extra={"peer": peer})

    def process_request(connection: Any, request: Any) -> Any:
        peer = connection.remote_address[0] if connection.remote_address else "?"
        if state.draining:
            state.metrics.reject("draining")
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "Shutting down\n")
        if auth is not None and (auth.enabled or auth.route != "/"):
            signatures = request.headers.get_all(SIGNATURE_HEADER)
            why = auth.check(request.path, signatures[0] if len(signatures) == 1 else None)
            if why is not None:
                refuse(peer, "auth", why)
                return connection.respond(HTTPStatus.FORBIDDEN, "Forbidden\n")
        if state.slots.full():
            refuse(peer, "capacity", f"{state.slots.limit} calls in progress (max calls)")
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "Busy\n")
        return None

    async def handler(phone: Any) -> None:
        if not state.slots.acquire():  # lost a race with another connection since process_request
            state.metrics.reject("capacity")
            await phone.close(1013, "busy")
            return
        state.metrics.call_started()
        outcome = "error"
        try:
            _, outcome = await _bridge_call(phone, config, state.metrics)
        except asyncio.CancelledError:
            outcome = "shutdown"
            raise
        except Exception as exc:
            log.warning("call ended with an error: %s: %s", type(exc).__name__, exc)
        finally:
            state.slots.release()
            state.metrics.call_ended(outcome)

    from websockets.asyncio.server import ServerConnection

    class CappedConnection(ServerConnection):
        """Counts open TCP connections; one over `max_connections` is aborted as it arrives, so
        clients that connect and say nothing cannot use up the process's file descriptors (the
        Realtime sockets of calls in progress need them too)."""

        counted = False

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            state.open_connections += 1
            self.counted = True
            if state.open_connections > limits.max_connections:
                refuse("?", "connections", f"{limits.max_connections} connections open")
                transport.abort()

        def connection_lost(self, exc: Exception | None) -> None:
            if self.counted:
                state.open_connections -= 1
                self.counted = False
            super().connection_lost(exc)

    kwargs: dict[str, Any] = {
        "create_connection": CappedConnection,
        "process_request": process_request, "max_size": limits.phone_max_bytes, "max_queue": limits.phone_max_queue,
        "write_limit": limits.write_limit_bytes, "open_timeout": limits.handshake_s, "logger": server_log,
        "close_timeout": limits.close_s,
        "ping_interval": None,  # Twilio streams media non-stop: the idle timeout is the liveness check
        "compression": None, "ssl": ssl, "server_header": None}
    if sock is not None:
        server = await ws_serve(handler, sock=sock, **kwargs)
    else:
        server = await ws_serve(handler, host, port, reuse_port=reuse_port or None, **kwargs)
    state.monitor = asyncio.create_task(loop_lag_monitor(state.metrics))
    _STATES[server] = state

    async def stop_monitor_when_closed() -> None:
        await server.wait_closed()
        if state.monitor is not None:
            state.monitor.cancel()

    state.closer = asyncio.create_task(stop_monitor_when_closed())
    return server


def server_state(server: Any) -> _State:
    """The bridge's state for a server made by `serve` (draining flag, slots, metrics)."""
    return _STATES[server]


async def drain(server: Any, seconds: float | None = None) -> int:
    """Stop accepting calls, let those in progress run up to `seconds` (default: limits.drain_s),
    then close them (code 1001) and their Realtime connections. Returns how many were cut."""
    state = _STATES[server]
    state.draining = True
    seconds = state.config.limits.drain_s if seconds is None else seconds
    server.close(close_connections=False)  # the listening sockets close now; calls go on
    cut = 0
    try:
        async with _timeout(seconds):
            await asyncio.shield(server.wait_closed())
    except TimeoutError:
        open_calls = list(server.connections)
        cut = len(open_calls)
        log.warning("drain: %d call(s) still running after %g s; closing them", cut, seconds)
        await asyncio.gather(*(c.close(1001, "server shutting down") for c in open_calls), return_exceptions=True)
        await server.wait_closed()
    if state.monitor is not None:
        state.monitor.cancel()
    return cut
