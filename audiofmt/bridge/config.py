"""What the bridge is told: `Limits` (every size, rate and timeout) and `BridgeConfig` (the Realtime
endpoint, the API key's variable, the session, auth, greeting and per-call profiles)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import AudioFormatError
from ..realtime.session import Session
from .auth import Auth
from .twilio import CallStarted

__all__ = ["BridgeConfig", "Limits"]


@dataclass(frozen=True)
class Limits:
    """Every bound the bridge keeps. Sizes in bytes, times in seconds.

    Twilio's messages are small (a 20 ms media message is ~330 bytes of JSON; `start` carries at
    most a few custom parameters of < 500 characters each), so 16 KiB per phone message leaves room
    for any real one. Realtime events are bigger (audio deltas, `session.updated` echoing long
    instructions, `response.done` with a transcript): 1 MiB. A socket stops being read as soon as
    one of its messages has to wait (over the phone's rate, a large delta's later slices, a peer
    slow to read), so received-but-unhandled input is at most one read buffer per socket; unsent
    output is bounded by the socket's write limit plus `send_timeout_s`. `phone_max_queue` and
    `model_max_queue` bound nothing since the shell has no message queues: they are accepted for
    compatibility, and setting either warns (DeprecationWarning).
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

    def __post_init__(self) -> None:
        for name in ("phone_max_queue", "model_max_queue"):
            if getattr(self, name) != self.__dataclass_fields__[name].default:
                warnings.warn(f"Limits.{name} bounds nothing (the bridge keeps no message queue: a socket stops "
                              "being read as soon as a message has to wait); it will be removed", DeprecationWarning,
                              stacklevel=3)


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
    session: dict[str, Any] = field(
        default_factory=lambda: {"input_audio_format": "g711_ulaw", "output_audio_format": "g711_ulaw"}
    )
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


def _require_transport() -> Any:
    """picows, the bridge's WebSocket stack (the optional extra), or a clear error."""
    try:
        import picows
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise AudioFormatError('the bridge needs the optional extra: pip install "audiofmt[bridge]"') from exc
    return picows
