"""The telephony bridge: sans-IO cores that any server (websockets, FastAPI, a SIP stack) drives.

`TwilioMediaStream` bridges one Twilio Media Streams call and a Realtime session.
"""

from .twilio import CallStarted, CallStats, CallStopped, Dtmf, ToModel, ToPhone, TwilioMediaStream

__all__ = ["TwilioMediaStream", "ToPhone", "ToModel", "Dtmf", "CallStarted", "CallStopped", "CallStats"]
