"""The bridge shell's small parts: a timeout for Python 3.10, a token bucket, model-delta slices,
log-safe SIDs, close codes per outcome and the per-call session (profiles, the app's hook)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from typing import Any

from ..errors import AudioFormatError
from ..realtime.events import AUDIO_DELTA_TYPES, decode_audio
from ..realtime.session import Session
from .twilio import CallStarted

log = logging.getLogger("audiofmt.bridge")
_now = time.monotonic

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



class _RateLimit:
    """A token bucket: `rate_per_s` tokens a second, at most `burst` saved."""

    __slots__ = ("burst", "last", "rate", "tokens")

    def __init__(self, rate_per_s: float, burst: float) -> None:
        self.rate, self.burst, self.tokens, self.last = rate_per_s, float(burst), float(burst), _now()

    def spend(self, amount: float, now: float | None = None) -> bool:
        """Take `amount` tokens if there are that many (True), else take none (False)."""
        now = _now() if now is None else now
        tokens = self.tokens + (now - self.last) * self.rate
        self.last = now
        if tokens > self.burst:
            tokens = self.burst
        if tokens >= amount:
            self.tokens = tokens - amount
            return True
        self.tokens = tokens
        return False

    def take(self, amount: float, now: float | None = None) -> bool:
        """Take `amount` tokens even if that leaves a debt, paid back at the rate before `spend`
        succeeds again; True if there were that many."""
        if self.spend(amount, now):
            return True
        self.tokens -= amount
        return False

    def wait_s(self, amount: float = 1.0) -> float:
        """Seconds until `amount` tokens are saved (0.0 when they are)."""
        return max(0.0, (amount - self.tokens) / self.rate - (_now() - self.last))


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


def _pieces(text: str, slice_chars: int, bytes_per_sample: int) -> list[Any]:
    """A model message over slice_chars as the events to hand the core, one per loop turn."""
    try:
        event = json.loads(text)
    except (ValueError, RecursionError):
        return [text]  # the core counts it as a bad event
    if not isinstance(event, dict):
        return [event]
    return _slices(event, slice_chars, bytes_per_sample)


def _safe_sid(sid: str) -> str:
    """A peer-given SID fit for a log line: letters, digits, '_' and '-', at most 64 characters."""
    kept = "".join(c for c in sid[:64] if c.isascii() and (c.isalnum() or c in "_-"))
    return kept or "-"


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


def _call_session(started: CallStarted, config: Any, base: Session) -> Session:
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


def _ignore_any(value: Any = None) -> None:
    return None


def _ignore_send(kind: Any, message: Any) -> None:
    return None
