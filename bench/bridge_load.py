"""Bridge load: CPU per call and calls per core through the sans-IO Twilio core.

    python bench/bridge_load.py [--calls 200] [--seconds 5] [--realtime-check]

Every call does, per 20 ms tick, what a live call does: one Twilio `media` message in (JSON text,
160 bytes of μ-law) → `receive_phone` → the append event serialized to JSON; and one 20 ms
`response.audio.delta` from the model (JSON text) → `receive_model` → Twilio `media` JSON. All
calls are interleaved tick by tick in one process on one core; CPU time is process time.
calls per core = 20 ms / (CPU per call per tick).

Compared in the same run with a loop written the way common sample code does it: json + base64
+ audioop.ulaw2lin / lin2ulaw + audioop.ratecv (stateful, per call), which does no framing,
marks, timeline or error handling. `--realtime-check` then runs the measured capacity (× 0.8) of
calls on a real 20 ms asyncio clock for a few seconds and reports how late the ticks ran.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import time
import warnings

import numpy as np

import audiofmt
from audiofmt.bridge import JitterBuffer, RtpPacket, TwilioMediaStream, build_rtp, parse_rtp

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

TICK_S = 0.020


def _messages(session_format: str, n_ticks: int) -> tuple[list[str], list[str]]:
    """Twilio media messages and model deltas (JSON text) for n_ticks of 20 ms."""
    rng = np.random.default_rng(0)
    speech = (rng.standard_normal(8000 * 4) * 3000).astype(np.int16)
    ulaw = audioop.lin2ulaw(speech.tobytes(), 2)
    phone = [json.dumps({"event": "media", "sequenceNumber": str(i + 2), "streamSid": "MZ1", "media": {
        "track": "inbound", "chunk": str(i + 1), "timestamp": str(i * 20),
        "payload": base64.b64encode(ulaw[(i * 160) % 32000 : (i * 160) % 32000 + 160]).decode()}}) for i in range(n_ticks)]
    if session_format == "pcm16":
        pcm24 = (rng.standard_normal(480 * 200) * 3000).astype(np.int16).tobytes()
        payloads = [pcm24[(i % 200) * 960 : (i % 200) * 960 + 960] for i in range(n_ticks)]
    else:
        payloads = [ulaw[(i * 160) % 32000 : (i * 160) % 32000 + 160] for i in range(n_ticks)]
    model = [json.dumps({"type": "response.audio.delta", "event_id": f"e{i}", "response_id": "r1", "item_id": "item_1",
                         "output_index": 0, "content_index": 0, "delta": base64.b64encode(p).decode()}) for i, p in enumerate(payloads)]
    return phone, model


def _new_call(session_format: str) -> TwilioMediaStream:
    call = TwilioMediaStream({"input_audio_format": session_format, "output_audio_format": session_format})
    call.receive_phone({"event": "start", "streamSid": "MZ1", "start": {"streamSid": "MZ1", "callSid": "CA1"}})
    return call


def run_audiofmt(session_format: str, n_calls: int, n_ticks: int) -> float:
    """CPU seconds per call per tick."""
    phone, model = _messages(session_format, n_ticks)
    calls = [_new_call(session_format) for _ in range(n_calls)]
    start = time.process_time()
    for tick in range(n_ticks):
        for call in calls:
            for out in call.receive_phone(phone[tick]):
                out.json()
            for out in call.receive_model(model[tick]):
                out.json()
    return (time.process_time() - start) / (n_calls * n_ticks)


def run_baseline(session_format: str, n_calls: int, n_ticks: int) -> float:
    """The sample-code loop, CPU seconds per call per tick."""
    phone, model = _messages(session_format, n_ticks)
    states = [[None, None] for _ in range(n_calls)]
    start = time.process_time()
    for tick in range(n_ticks):
        for state in states:
            media = json.loads(phone[tick])["media"]
            audio = base64.b64decode(media["payload"])
            if session_format == "pcm16":
                audio, state[0] = audioop.ratecv(audioop.ulaw2lin(audio, 2), 2, 1, 8000, 24000, state[0])
            json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(audio).decode()})
            delta = base64.b64decode(json.loads(model[tick])["delta"])
            if session_format == "pcm16":
                delta, state[1] = audioop.ratecv(delta, 2, 1, 24000, 8000, state[1])
                delta = audioop.lin2ulaw(delta, 2)
            json.dumps({"event": "media", "streamSid": "MZ1", "media": {"payload": base64.b64encode(delta).decode()}})
    return (time.process_time() - start) / (n_calls * n_ticks)


def run_rtp(n_streams: int, n_ticks: int) -> float:
    """CPU seconds per packet through parse_rtp -> JitterBuffer -> decode to int16 (one stream
    per 'call', packets arriving on time, one pop per tick)."""
    payload = bytes(range(160))
    packets = [build_rtp(RtpPacket(0, i & 0xFFFF, (i * 160) & 0xFFFFFFFF, 1234, payload=payload)) for i in range(n_ticks)]
    buffers = [JitterBuffer() for _ in range(n_streams)]
    start = time.process_time()
    for tick in range(n_ticks):
        for buffer in buffers:
            buffer.push(parse_rtp(packets[tick]), tick * 20.0)
            frame = buffer.pop()
            if frame is not None:
                audiofmt.decode(frame, "g711_ulaw")
    return (time.process_time() - start) / (n_streams * n_ticks)


async def realtime_check(session_format: str, n_calls: int, seconds: float) -> tuple[float, float]:
    """Run n_calls on a real 20 ms clock; (worst tick lateness ms, CPU share of one core)."""
    n_ticks = int(seconds / TICK_S)
    phone, model = _messages(session_format, n_ticks)
    calls = [_new_call(session_format) for _ in range(n_calls)]
    loop = asyncio.get_running_loop()
    start, cpu0, worst = loop.time(), time.process_time(), 0.0
    for tick in range(n_ticks):
        await asyncio.sleep(max(0.0, start + tick * TICK_S - loop.time()))
        worst = max(worst, loop.time() - (start + tick * TICK_S))
        for call in calls:
            for out in call.receive_phone(phone[tick]):
                out.json()
            for out in call.receive_model(model[tick]):
                out.json()
    return worst * 1000, (time.process_time() - cpu0) / (loop.time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0, help="simulated call seconds per measurement")
    parser.add_argument("--realtime-check", action="store_true")
    args = parser.parse_args()
    n_ticks = int(args.seconds / TICK_S)
    print(f"{args.calls} calls x {n_ticks} ticks of 20 ms, both directions, JSON and base64 included\n")
    print("| session | implementation | CPU µs per call per 20 ms | calls per core | audiofmt vs baseline | target |")
    print("|---|---|---|---|---|---|")
    targets = {"g711_ulaw": 1000, "pcm16": 400}
    capacity = {}
    for session_format in ("g711_ulaw", "pcm16"):
        ours = run_audiofmt(session_format, args.calls, n_ticks)
        base = run_baseline(session_format, args.calls, n_ticks)
        capacity[session_format] = TICK_S / ours
        verdict = "PASS" if capacity[session_format] >= targets[session_format] else "MISS"
        print(f"| {session_format} | audiofmt | {ours * 1e6:.1f} | {TICK_S / ours:.0f} | {base / ours:.2f}x | >= {targets[session_format]}: {verdict} |")
        print(f"| {session_format} | json+base64+audioop | {base * 1e6:.1f} | {TICK_S / base:.0f} | | |")
    per_packet = run_rtp(args.calls, n_ticks)
    print(f"\nRTP receive path (parse -> jitter buffer -> decode): {per_packet * 1e6:.1f} µs per packet, "
          f"{1 / per_packet:,.0f} packets/s per core = {TICK_S / per_packet:.0f} streams of 20 ms packets per core")
    if args.realtime_check:
        for session_format, cap in capacity.items():
            n = max(1, int(cap * 0.8))
            late_ms, cpu = asyncio.run(realtime_check(session_format, n, 3.0))
            print(f"\nreal-time check {session_format}: {n} calls on a 20 ms clock for 3 s: worst tick {late_ms:.1f} ms late, CPU {cpu:.0%} of one core")


if __name__ == "__main__":
    main()
