"""The telephony bridge: sans-IO cores that any server (websockets, FastAPI, a SIP stack) drives.

- `TwilioMediaStream` (twilio.py): one Twilio Media Streams call ↔ a Realtime session.
- RTP (rtp.py, jitter.py, udp.py): RFC 3550 packets and statistics, a jitter buffer that gives one
  20 ms frame per tick, and an asyncio UDP endpoint paced at 20 ms.
- `Concealer` (plc.py): ITU-T G.711 Appendix I packet loss concealment.
- server.py: a websockets runner (optional extra `audiofmt[bridge]`), imported on its own.
"""

from .jitter import JitterBuffer
from .plc import Concealer
from .rtp import PAYLOAD_FORMATS, RtpError, RtpPacket, RtpSender, RtpSource, RtpStats, build_rtp, parse_rtp
from .twilio import DROP_REASONS, CallStarted, CallStats, CallStopped, Dtmf, ToModel, ToPhone, TwilioMediaStream
from .udp import AudioFrame, RtpEndpoint, open_rtp_endpoint

__all__ = [
    "TwilioMediaStream", "ToPhone", "ToModel", "Dtmf", "CallStarted", "CallStopped", "CallStats", "DROP_REASONS",
    "RtpPacket", "RtpError", "RtpStats", "RtpSource", "RtpSender", "PAYLOAD_FORMATS", "parse_rtp", "build_rtp",
    "JitterBuffer", "RtpEndpoint", "AudioFrame", "open_rtp_endpoint", "Concealer",
]
