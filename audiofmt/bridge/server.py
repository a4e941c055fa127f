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
import contextlib
import json
import logging
import os
import sys
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from ..errors import AudioFormatError
from ..realtime.events import AUDIO_DELTA_TYPES, decode_audio
from ..realtime.session import Session
from .auth import SIGNATURE_HEADER, Auth, redact_url, redacting_logger
from .metrics import NullMetrics, loop_lag_monitor
from .twilio import CallStarted, CallStopped, ToModel, ToPhone, TwilioMediaStream

__all__ = ["BridgeConfig", "CallSlots", "Limits", "bridge_call", "drain", "serve"]

log = logging.getLogger("audiofmt.bridge")

if sys.version_info >= (3, 11):
    _timeout = asyncio.timeout
else:  # pragma: no cover - Python 3.10 has no asyncio.timeout
    @contextlib.asynccontextmanager
    async def _timeout(delay: float | None) -> Any:
        task = asyncio.current_task()
        fired = False

        def fire() -> None:
            nonlocal fired
            fired = True
            if task is not None:
                task.cancel()

        handle = asyncio.get_running_loop().call_later(delay, fire) if delay is not None else None
        try:
            yield
        except asyncio.CancelledError:
            if fired:
                raise TimeoutError from None
            raise
        finally:
            if handle is not None:
                handle.cancel()


@dataclass(frozen=True)
class Limits:
    """Every bound the bridge keeps. Sizes in bytes, times in seconds.

    Twilio's messages are small (a 20 ms media message is ~330 bytes of JSON; `start` carries at
    most a few custom parameters of < 500 characters each), so 16 KiB per phone message leaves room
    for any real one. Realtime events are bigger (audio deltas, `session.updated` echoing long
    instructions, `response.done` with a transcript): 1 MiB. Received-but-unread messages are capped
    by `*_max_queue` (so one call holds at most 32 × 16 KiB + 8 × 1 MiB of input), unsent output by
    the socket's write limit plus `send_timeout_s`.
    """

    phone_max_bytes: int = 16 * 1024
    model_max_bytes: int = 1024 * 1024
    phone_max_queue: int = 32
    model_max_queue: int = 8
    write_limit_bytes: int = 64 * 1024  # per socket: beyond this a send waits for the peer to read
    handshake_s: float = 10.0  # TCP accept to completed WebSocket upgrade (TLS included)
    start_s: float = 10.0  # upgrade to Twilio's `start` message
    idle_s: float = 30.0  # no media from the phone for this long ends the call
    upstream_connect_s: float = 10.0  # opening the Realtime WebSocket
    send_timeout_s: float = 10.0  # a peer that does not read for this long ends the call
    close_s: float = 2.0  # the closing handshake; then the TCP connection is aborted
    phone_rate_per_s: float = 150.0  # phone messages per second (Twilio sends 50 media/s + marks)
    phone_burst: int = 300  # messages taken at once above the rate; beyond it reading slows to the rate
    model_slice_chars: int = 32 * 1024  # base64 chars of one audio delta handled per loop turn
    audio_speedup: float = 2.0  # caller audio forwarded to the model at most this × real time …
    audio_burst_ms: int = 5000  # … plus this much at once; the rest is dropped ("audio over real time")
    max_calls: int = 100  # calls at once (per server; the CLI shares one count across workers)
    max_connections: int = 512  # open TCP connections per process, handshakes in progress included
    drain_s: float = 30.0  # on shutdown: how long calls may continue before they are cut


@dataclass
class BridgeConfig:
    """How to reach the model and what to ask it for, who may call, and the limits.

    realtime_url: the Realtime WebSocket endpoint (never logged verbatim: secrets in its query
        string are redacted).
    session: the session object sent as `session.update` (either shape).
    auth: the upgrade request check; None means no authentication (the CLI allows that only on
        loopback with --insecure-no-auth).
    greeting: when set, a `response.create` asks the model to greet the caller with it as soon as
        the call starts, so the caller does not hear silence.
    profiles: session overrides by name, picked per call by the Twilio custom parameter
        `profile` (`<Parameter name="profile" value="sales"/>`); an unknown name is logged and
        the base session used. Callers can only pick among these, never send their own settings.
    on_call_start: an embedding app's hook: given the CallStarted (stream/call SID, custom
        parameters) and the session about to be sent, it returns a replacement session (a Session
        or a partial dict merged over it) or None to keep it.
    on_event: receives Dtmf, CallStarted and CallStopped.
    """

    realtime_url: str
    api_key_env: str = "OPENAI_API_KEY"
    session: dict[str, Any] = field(default_factory=lambda: {"input_audio_format": "g711_ulaw", "output_audio_format": "g711_ulaw"})
    beta_header: bool = True  # send "OpenAI-Beta: realtime=v1" (the beta event names)
    on_event: Callable[[object], None] | None = None
    auth: Auth | None = None
    limits: Limits = field(default_factory=Limits)
    greeting: str | None = None
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    on_call_start: Callable[[CallStarted, Session], Session | dict[str, Any] | None] | None = None

    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) or None

    def headers(self) -> dict[str, str]:
        headers = {}
        key = self.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if self.beta_header:
            headers["OpenAI-Beta"] = "realtime=v1"
        return headers

    def secrets(self) -> tuple[str, ...]:
        """Values no log line may contain."""
        auth = self.auth or Auth()
        return tuple(s for s in (self.api_key(), auth.path_token, auth.twilio_auth_token) if s)


def _require_websockets() -> Any:
    try:
        import websockets
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise AudioFormatError('the bridge needs the optional extra: pip install "audiofmt[bridge]"') from exc
    return websockets


class _CallEnded(Exception):
    """Ends a call's tasks; `outcome` is one of metrics.CALL_OUTCOMES, `detail` says why."""

    def __init__(self, outcome: str, detail: str = "") -> None:
        super().__init__(f"{outcome}: {detail}" if detail else outcome)
        self.outcome, self.detail = outcome, detail


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


class _RateLimit:
    """A token bucket: `rate_per_s` tokens a second, at most `burst` saved; a debt is waited out."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate, self.burst, self.tokens, self.last = rate_per_s, float(burst), float(burst), time.monotonic()

    def spend(self, amount: float) -> bool:
        """Take `amount` tokens if there are that many (True), else take none (False)."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= amount:
            self.tokens -= amount
            return True
        return False

    def wait_s(self) -> float:
        """Take a token: 0.0 when one was saved, else how long to wait for it (it is then owed)."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate) - 1
        self.last = now
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


async def _send(ws: Any, text: str, timeout_s: float, who: str, high_water: int) -> None:
    """ws.send(text), ending the call when the peer has not made room for it within timeout_s.
    websockets only waits when the socket's write buffer is above its high-water mark: below it
    (almost always) the message goes out without the cost of a timeout."""
    transport = ws.transport
    if transport is not None and transport.get_write_buffer_size() + 4 * len(text) + 16 < high_water:
        await ws.send(text)
        return
    try:
        async with _timeout(timeout_s):
            await ws.send(text)
    except TimeoutError:
        raise _CallEnded("send_timeout", f"the {who} did not read for {timeout_s:g} s") from None


def _slices(event: dict[str, Any], slice_chars: int, bytes_per_sample: int) -> list[dict[str, Any]]:
    """A large audio delta as several smaller ones, cut at whole samples, so that no single loop
    turn decodes, resamples and frames more than `slice_chars` of base64. Other events, and deltas
    the core would drop whole (bad base64, a pcm16 delta of odd length), stay whole."""
    delta = event.get("delta")
    if event.get("type") not in AUDIO_DELTA_TYPES or not isinstance(delta, str) or len(delta) <= slice_chars:
        return [event]
    try:
        n_bytes = len(decode_audio(delta))  # the core's own rule: what it would drop, stays whole
    except AudioFormatError:
        return [event]
    if n_bytes % bytes_per_sample:
        return [event]
    step = slice_chars - slice_chars % 8  # 8 base64 chars = 6 bytes: whole samples of 1 or 2 bytes
    return [{**event, "delta": delta[i : i + step]} for i in range(0, len(delta), step)]


def _safe_sid(sid: str) -> str:
    """A peer-given SID fit for a log line: letters, digits, '_' and '-', at most 64 characters."""
    kept = "".join(c for c in sid[:64] if c.isascii() and (c.isalnum() or c in "_-"))
    return kept or "-"


def _call_session(started: CallStarted, config: BridgeConfig, base: Session) -> Session:
    session = base
    params = started.custom_parameters
    profile = params.get("profile") if isinstance(params, dict) else None
    if isinstance(profile, str) and profile:
        if profile in config.profiles:
            session = session.update(config.profiles[profile])
        else:
            log.warning("call %s: unknown profile %r, using the default session", _safe_sid(started.call_sid), profile[:40])
    if config.on_call_start is not None:
        chosen = config.on_call_start(started, session)
        if isinstance(chosen, Session):
            session = chosen
        elif chosen is not None:
            session = session.update(chosen)
    return session


async def _wait_for_start(phone: Any, core: TwilioMediaStream, limits: Limits) -> tuple[CallStarted, list[Any]]:
    """Feed the phone's first messages to the core until `start`; return it and the raw messages."""
    seen: list[Any] = []
    try:
        async with _timeout(limits.start_s):
            while True:
                message = await phone.recv()
                if len(seen) < 8:  # connected, start, and a few strays are all a real call sends first
                    seen.append(message)
                for out in core.receive_phone(message):
                    if isinstance(out, CallStarted):
                        return out, seen
                if core.state != "new":  # pragma: no cover - start is the only way out of "new"
                    break
                await asyncio.sleep(0)
    except TimeoutError:
        raise _CallEnded("start_timeout", f"no Twilio start message within {limits.start_s:g} s") from None
    raise _CallEnded("error", "the call left the new state without a start message")  # pragma: no cover


async def bridge_call(phone: Any, config: BridgeConfig, metrics: Any = None) -> TwilioMediaStream:
    """Bridge one Twilio WebSocket (`phone`: a websockets server connection, or anything with its
    `recv()`, `send(text)` and `close(code, reason)`) to a new Realtime connection until either
    side ends.

    The Realtime connection opens only after Twilio's `start`; when either side closes, fails, or
    goes quiet past the limits, both are closed and the log says why. Returns the call's core
    (its `stats`, `stream_sid`). Authentication is the server's job (`serve`), not this one's."""
    return (await _bridge_call(phone, config, metrics))[0]


async def _bridge_call(phone: Any, config: BridgeConfig, metrics: Any) -> tuple[TwilioMediaStream, str]:
    _require_websockets()
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    metrics = metrics if metrics is not None else NullMetrics()
    limits = config.limits
    secrets = config.secrets()
    upstream_log = redacting_logger("audiofmt.bridge.upstream", secrets, frames=True)
    base = Session.parse(config.session)
    core = TwilioMediaStream(base)
    call_sid = "-"
    outcome, detail = "phone_closed", ""
    model: Any = None
    reported = [0, 0]  # media_in, frames_out already counted in the metrics
    over_realtime = [0]  # appends dropped by the audio budget
    drops_before: dict[str, int] = {}

    def flush_counts() -> None:
        stats = core.stats
        metrics.frames(stats.media_in - reported[0], stats.frames_out - reported[1])
        reported[0], reported[1] = stats.media_in, stats.frames_out

    try:
        started, first = await _wait_for_start(phone, core, limits)
        call_sid = _safe_sid(started.call_sid or started.stream_sid)
        session = _call_session(started, config, base)
        if session is not base:  # formats may differ: a fresh core sees the same first messages
            drops_before = dict(core.stats.dropped)
            core = TwilioMediaStream(session)
            for message in first:
                core.receive_phone(message)
        stream_sid = _safe_sid(started.stream_sid)
        log.info("call %s: started (stream %s)", call_sid, stream_sid, extra={"call_sid": call_sid, "stream_sid": stream_sid})
        if config.on_event is not None:
            config.on_event(started)

        t0 = time.monotonic()
        try:
            model = await connect(
                config.realtime_url, additional_headers=config.headers(), max_size=limits.model_max_bytes,
                max_queue=limits.model_max_queue, write_limit=limits.write_limit_bytes,
                open_timeout=limits.upstream_connect_s, close_timeout=limits.close_s, logger=upstream_log,
                compression=None)
        except Exception as exc:  # noqa: BLE001 - any failure to connect (DNS, TLS, HTTP 401, timeout) ends this call only
            metrics.upstream_failed()
            raise _CallEnded("upstream_failed", f"cannot open {redact_url(config.realtime_url)}: {type(exc).__name__}: {exc}") from None
        metrics.upstream_connected(time.monotonic() - t0)
        shape = "beta" if config.beta_header else "ga"
        await _send(model, json.dumps(session.update_event(shape)), limits.send_timeout_s, "model", limits.write_limit_bytes)
        if config.greeting:
            greet = {"type": "response.create", "response": {
                "instructions": f"Greet the caller now. Say: {config.greeting}"}}
            await _send(model, json.dumps(greet), limits.send_timeout_s, "model", limits.write_limit_bytes)

        # the model bills by audio: never send it more than real time allows, whatever the
        # phone's timestamps say (defence in depth over the core's own gap-filling bounds)
        audio_budget = _RateLimit(1000.0 * limits.audio_speedup, limits.audio_burst_ms)

        async def deliver(outputs: list[Any]) -> None:
            for out in outputs:
                if isinstance(out, ToPhone):
                    await _send(phone, out.json(), limits.send_timeout_s, "phone", limits.write_limit_bytes)
                elif isinstance(out, ToModel):
                    if out.event.get("type") == "input_audio_buffer.append":
                        audio = out.event.get("audio")
                        n_bytes = len(audio) * 3 // 4 if isinstance(audio, str) else 0
                        if not audio_budget.spend(n_bytes / core.session.input_format.bytes_per_ms):
                            over_realtime[0] += 1
                            continue
                    await _send(model, out.json(), limits.send_timeout_s, "model", limits.write_limit_bytes)
                else:  # Dtmf or CallStopped; the digits a caller keys (PINs, card numbers) are never logged
                    log.debug("call %s: %s", call_sid, type(out).__name__, extra={"call_sid": call_sid})
                    if config.on_event is not None:
                        config.on_event(out)
                    if isinstance(out, CallStopped):
                        raise _CallEnded("stopped", "Twilio sent stop")

        loop = asyncio.get_running_loop()
        last_media = [core.stats.media_in, loop.time()]  # media count, when it last grew

        async def idle_watch() -> None:
            """Ends the call once no media has come for idle_s (checked at least once a second,
            so it ends between idle_s and idle_s + 1 s after the last media)."""
            while True:
                now = loop.time()
                if core.stats.media_in != last_media[0]:
                    last_media[:] = [core.stats.media_in, now]
                left = last_media[1] + limits.idle_s - now
                if left <= 0:
                    raise _CallEnded("idle", f"no media from the phone for {limits.idle_s:g} s")
                await asyncio.sleep(min(left, 1.0))

        async def phone_to_model() -> None:
            bucket = _RateLimit(limits.phone_rate_per_s, limits.phone_burst)
            last_flush = loop.time()
            while True:
                try:
                    message = await phone.recv()
                except ConnectionClosed as exc:
                    if exc.sent is not None and exc.sent.code == 1001:  # drain() cut this call
                        raise _CallEnded("shutdown", "the server is shutting down") from None
                    raise _CallEnded("phone_closed", f"Twilio closed the WebSocket ({exc.rcvd.code if exc.rcvd else 'no close frame'})") from None
                wait = bucket.wait_s()
                if wait > 0:  # too fast: read no more for a while (TCP pushes back), lose nothing
                    metrics.throttled()
                    await asyncio.sleep(wait)
                await deliver(core.receive_phone(message))
                now = loop.time()
                if now - last_flush >= 1.0:
                    flush_counts()
                    last_flush = now
                await asyncio.sleep(0)  # one message per turn: a busy caller cannot starve the others

        async def model_to_phone() -> None:
            out_format = core.session.output_format
            while True:
                try:
                    message = await model.recv()
                except ConnectionClosed as exc:
                    code = exc.rcvd.code if exc.rcvd else "no close frame"
                    reason = exc.rcvd.reason if exc.rcvd else ""
                    raise _CallEnded("upstream_closed", f"the Realtime server closed the connection ({code} {reason})".rstrip()) from None
                try:
                    event = json.loads(message)
                except (ValueError, RecursionError):
                    event = message  # the core counts it as a bad event
                pieces = _slices(event, limits.model_slice_chars, out_format.bytes_per_sample) if isinstance(event, dict) else [event]
                for piece in pieces:
                    await deliver(core.receive_model(piece))
                    await asyncio.sleep(0)
                out_format = core.session.output_format

        tasks = [asyncio.create_task(phone_to_model()), asyncio.create_task(model_to_phone()),
                 asyncio.create_task(idle_watch())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises the _CallEnded that ended the call
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    except _CallEnded as end:
        outcome, detail = end.outcome, end.detail
    except ConnectionClosed as exc:
        outcome, detail = "phone_closed", f"a socket closed ({exc})"
    except asyncio.CancelledError:
        outcome, detail = "shutdown", "the server stopped"
        raise
    except Exception as exc:  # one call's failure must not take the server down
        outcome, detail = "error", f"{type(exc).__name__}: {exc}"
        log.exception("call %s: unexpected error", call_sid, extra={"call_sid": call_sid})
    finally:
        code, why = _close_reason(outcome)
        closers: list[Awaitable[Any]] = [phone.close(code, why)]
        if model is not None:
            closers.append(model.close(1000, "call ended"))
        with contextlib.suppress(Exception):
            async with _timeout(limits.close_s + 1):
                await asyncio.gather(*closers, return_exceptions=True)
        flush_counts()
        drops = dict(core.stats.dropped)
        for reason, n in drops_before.items():
            drops[reason] = drops.get(reason, 0) + n
        if over_realtime[0]:
            drops["audio over real time"] = over_realtime[0]
        metrics.drops(drops)
        level = logging.INFO if outcome in ("stopped", "phone_closed") else logging.WARNING
        log.log(level, "call %s: ended (%s) %s; media in %d, frames out %d, barge-ins %d, dropped %s",
                call_sid, outcome, detail, core.stats.media_in, core.stats.frames_out, core.stats.barge_ins,
                drops or "none",
                extra={"call_sid": call_sid, "outcome": outcome})
    return core, outcome


def _close_reason(outcome: str) -> tuple[int, str]:
    """The close code and reason the phone socket gets for each way a call ends."""
    return {
        "stopped": (1000, "call ended"),
        "phone_closed": (1000, ""),
        "upstream_closed": (1011, "model connection closed"),
        "upstream_failed": (1011, "model unavailable"),
        "idle": (1000, "idle"),
        "start_timeout": (1008, "no start message"),
        "send_timeout": (1011, "peer too slow"),
        "shutdown": (1001, "server shutting down"),
    }.get(outcome, (1011, "internal error"))


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
        except Exception as exc:  # noqa: BLE001 - _bridge_call handles its own; this is a last resort
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
