"""Twilio-protocol abuse from authenticated clients while an honest call with the SAME streamSid
runs on the same bridge; the honest call's round trips and audio are checked.

    python bench/hostile/twilio_abuse.py

Hostile clients (each its own socket, all claiming streamSid MZhonest):
  A: start twice, media with timestamps far in the future / past / 2^63-1, chunk 2^63-1 then 1,
     odd-length and empty payloads, a 16 KiB-bounded customParameters, 2000 marks we never sent,
     2000 dtmf events, stop, then more media;
  B: never sends start, only media and marks (before start), until the start timeout;
  C: sends start and then media at the honest rate but never reads (SO_RCVBUF 4 KiB).
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _stack
from _stack import media_msg, text

SID = "MZhonest"


def hostile_a(port: int) -> str:
    s, _ = _stack.raw_connect(port)
    msgs = [_stack.CONNECTED, _stack.start_msg(SID, {"profile": "x" * 4000, **{f"k{i}": "v" * 40 for i in range(200)}})]
    msgs.append(_stack.start_msg(SID))  # start twice
    for i, ts in enumerate((10**12, 0, 2**63 - 1, 2**64, -5)):
        msgs.append(media_msg(i, SID, timestamp=ts))
    msgs.append(media_msg(10, SID, chunk=str(2**63 - 1)))
    msgs.append(media_msg(11, SID, chunk="1"))
    msgs.append(media_msg(12, SID, payload=b"\x01" * 161))  # odd length
    msgs.append(json.dumps({"event": "media", "streamSid": SID, "media": {"chunk": "99", "timestamp": "1", "payload": ""}}))
    msgs.append(json.dumps({"event": "media", "streamSid": SID, "media": {"chunk": "1e400", "timestamp": "1" * 5000, "payload": "AA=="}}))
    msgs += [json.dumps({"event": "mark", "streamSid": SID, "mark": {"name": f"m{i}"}}) for i in range(2000)]
    msgs += [json.dumps({"event": "dtmf", "streamSid": SID, "dtmf": {"digit": "5"}}) for _ in range(2000)]
    msgs.append(json.dumps({"event": "stop", "streamSid": SID}))
    msgs += [media_msg(100 + i, SID) for i in range(100)]
    s.sendall(b"".join(text(m) for m in msgs))
    frames = _stack.read_frames(s, 40)
    s.close()
    return f"A: close={_stack.close_of(frames)} frames={len(frames)}"


def hostile_b(port: int) -> str:
    s, _ = _stack.raw_connect(port)
    payload = b"".join(text(media_msg(i, SID)) + text(json.dumps({"event": "mark", "mark": {"name": "x"}})) for i in range(500))
    s.sendall(text(_stack.CONNECTED) + payload)
    t0 = time.monotonic()
    frames = _stack.read_frames(s, 20)
    s.close()
    return f"B: close={_stack.close_of(frames)} after {time.monotonic() - t0:.1f} s"


def hostile_c(port: int, seconds: float) -> str:
    s, _ = _stack.raw_connect(port, rcvbuf=4096)
    s.sendall(text(_stack.CONNECTED) + text(_stack.start_msg(SID)))
    t0 = time.monotonic()
    i = 0
    s.settimeout(0.5)
    try:
        while time.monotonic() - t0 < seconds:
            s.sendall(text(media_msg(i, SID)))
            i += 1
            time.sleep(0.02)
    except OSError as exc:
        return f"C: send stopped after {time.monotonic() - t0:.1f} s, {i} messages: {exc!r}"
    s.close()
    return f"C: sent {i} media over {seconds:g} s without reading; no error"


async def main() -> None:
    with _stack.stack() as (port, log, _bridge):
        loop = asyncio.get_running_loop()
        honest = asyncio.create_task(_stack.honest_call(port, 12.0, SID))
        await asyncio.sleep(0.5)
        results = await asyncio.gather(loop.run_in_executor(None, hostile_a, port), loop.run_in_executor(None, hostile_b, port),
                                       loop.run_in_executor(None, hostile_c, port, 12.0))
        print("honest:", {k: (round(v, 2) if isinstance(v, float) else v) for k, v in (await honest).items()})
        print("\n".join(results))
        for line in _stack.log_lines(log):
            if "audiofmt.bridge " in line and ("ended" in line or "WARNING" in line or "ERROR" in line):
                print(line[24:400])


if __name__ == "__main__":
    asyncio.run(main())
