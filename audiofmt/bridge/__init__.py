"""The telephony bridge: sans-IO cores that any server (websockets, FastAPI, a SIP stack) drives.

- `TwilioMediaStream` (twilio.py): one Twilio Media Streams call ↔ a Realtime session.
- RTP (rtp.py, jitter.py, udp.py): RFC 3550 packets and statistics, a jitter buffer that gives one
  20 ms frame per tick, and an asyncio UDP endpoint paced at 20 ms.
- `Concealer` (plc.py): ITU-T G.711 Appendix I packet loss concealment.
- server.py: the picows server (`serve`, `drain`), call.py: one bridged call, embed.py: `bridge_call`
  for a socket an app accepted itself,
  config.py: `Limits` and `BridgeConfig` (optional extra `audiofmt[bridge]`), with auth.py
  (Twilio signature, path token, log redaction), metrics.py (Prometheus) and service.py
  (workers, drain, /healthz, /metrics: `audiofmt bridge`); imported on their own. See docs/bridge.md.

Loaded lazily: `from audiofmt.bridge.rtp import parse_rtp` loads no numba; the names below load
their module on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_LAZY = {
    "JitterBuffer": "jitter",
    "Concealer": "plc",
    **dict.fromkeys(
        ["PAYLOAD_FORMATS", "RtpError", "RtpPacket", "RtpSender", "RtpSource", "RtpStats", "build_rtp", "parse_rtp"], "rtp"
    ),
    **dict.fromkeys(
        ["DROP_REASONS", "CallStarted", "CallStats", "CallStopped", "Dtmf", "ToModel", "ToPhone", "TwilioMediaStream"], "twilio"
    ),
    **dict.fromkeys(["AudioFrame", "RtpEndpoint", "open_rtp_endpoint"], "udp"),
}

__all__ = [
    "TwilioMediaStream",
    "ToPhone",
    "ToModel",
    "Dtmf",
    "CallStarted",
    "CallStopped",
    "CallStats",
    "DROP_REASONS",
    "RtpPacket",
    "RtpError",
    "RtpStats",
    "RtpSource",
    "RtpSender",
    "PAYLOAD_FORMATS",
    "parse_rtp",
    "build_rtp",
    "JitterBuffer",
    "RtpEndpoint",
    "AudioFrame",
    "open_rtp_endpoint",
    "Concealer",
]

if TYPE_CHECKING:
    from .jitter import JitterBuffer
    from .plc import Concealer
    from .rtp import PAYLOAD_FORMATS, RtpError, RtpPacket, RtpSender, RtpSource, RtpStats, build_rtp, parse_rtp
    from .twilio import DROP_REASONS, CallStarted, CallStats, CallStopped, Dtmf, ToModel, ToPhone, TwilioMediaStream
    from .udp import AudioFrame, RtpEndpoint, open_rtp_endpoint

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
