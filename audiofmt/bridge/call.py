"""One bridged call: wait for Twilio's start, open the Realtime connection, and move messages
through the sans-IO core until either side ends, with every wait and send bounded (`Limits`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import Awaitable
from typing import Any

from ..errors import AudioFormatError
from ..realtime.events import AUDIO_DELTA_TYPES, decode_audio
from ..realtime.session import Session
from .auth import redact_url, redacting_logger
from .config import BridgeConfig, Limits, _require_websockets
from .metrics import NullMetrics
from .twilio import CallStarted, CallStopped, ToModel, ToPhone, TwilioMediaStream

__all__ = ["bridge_call"]

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


class _CallEnded(Exception):
    """Ends a call's tasks; `outcome` is one of metrics.CALL_OUTCOMES, `detail` says why."""

    def __init__(self, outcome: str, detail: str = "") -> None:
        super().__init__(f"{outcome}: {detail}" if detail else outcome)
        self.outcome, self.detail = outcome, detail


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
        except Exception as exc:
            metrics.upstream_failed()
            reason = f"cannot open {redact_url(config.realtime_url)}: {type(exc).__name__}: {exc}"
            raise _CallEnded("upstream_failed", reason) from None
        metrics.upstream_connected(time.monotonic() - t0)
        shape = "beta" if config.beta_header else "ga"
        await _send(model, json.dumps(session.update_event(shape)), limits.send_timeout_s, "model", limits.write_limit_bytes)
        if config.greeting:
            greet = {"type": "response.create", "response": {"instructions": f"Greet the caller now. Say: {config.greeting}"}}
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
                    raise _CallEnded(
                        "phone_closed", f"Twilio closed the WebSocket ({exc.rcvd.code if exc.rcvd else 'no close frame'})"
                    ) from None
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
                    raise _CallEnded(
                        "upstream_closed", f"the Realtime server closed the connection ({code} {reason})".rstrip()
                    ) from None
                try:
                    event = json.loads(message)
                except (ValueError, RecursionError):
                    event = message  # the core counts it as a bad event
                pieces = (
                    _slices(event, limits.model_slice_chars, out_format.bytes_per_sample) if isinstance(event, dict) else [event]
                )
                for piece in pieces:
                    await deliver(core.receive_model(piece))
                    await asyncio.sleep(0)
                out_format = core.session.output_format

        tasks = [asyncio.create_task(phone_to_model()), asyncio.create_task(model_to_phone()), asyncio.create_task(idle_watch())]
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
        log.log(
            level,
            "call %s: ended (%s) %s; media in %d, frames out %d, barge-ins %d, dropped %s",
            call_sid,
            outcome,
            detail,
            core.stats.media_in,
            core.stats.frames_out,
            core.stats.barge_ins,
            drops or "none",
            extra={"call_sid": call_sid, "outcome": outcome},
        )
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
