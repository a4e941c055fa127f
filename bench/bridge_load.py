"""Bridge load: CPU per call per 20 ms tick through the sans-IO Twilio core, beside the loops it
replaces, measured round by round in one process.

    python bench/bridge_load.py [--calls 200] [--rounds 12] [--round-ticks 25] [--realtime-check]

Every call does, per 20 ms tick, what a live call does: one Twilio `media` message in (JSON text,
160 bytes of μ-law) → its append event for the model as JSON text; and one 20 ms audio delta from
the model (JSON text) → Twilio `media` JSON text. All calls are interleaved tick by tick on one
core; CPU time is process time. calls per core = 20 ms / (CPU per call per tick).

Implementations, each with its own --calls calls that keep their state from round to round:
- audiofmt: `TwilioMediaStream.receive_phone` / `receive_model`, then `.json()` of every output
  (framing, marks, timeline, validation and all drop checks included).
- naive stdlib: the sample-code loop, json + base64 + audioop.ulaw2lin / lin2ulaw + audioop.ratecv
  (stateful, per call; linear interpolation, no anti-alias filter); no framing, marks, timeline or
  validation. For g711_ulaw it decodes and re-encodes base64 only (no audioop).
- naive orjson+pybase64: the same loop with the accelerated parsers.
- pipecat (if installed): `TwilioFrameSerializer` (its soxr VHQ stream resampler) for the phone
  side, and its OpenAI Realtime steps for the model side (`parse_server_event` → b64decode; append
  = b64encode → `InputAudioBufferAppendEvent(...).model_dump()` → json.dumps, as its
  `_send_user_audio` / `_ws_send` do), the coroutines driven without an event loop. pipecat ships
  no μ-law session path: for g711_ulaw its parts are chained with audioop (ulaw2lin/lin2ulaw at 8 kHz).

A round runs --round-ticks ticks of every implementation, in an order that rotates each round;
the table gives the median over rounds, and the ratios are medians of the per-round ratios (so a
burst of load from other processes hits both sides of a ratio alike). `--realtime-check` then runs
the measured capacity (× 0.8) of audiofmt calls on a real 20 ms asyncio clock for 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import time
import types
import warnings
from collections.abc import Callable

import numpy as np

import audiofmt
from audiofmt import _speedups
from audiofmt.bridge import JitterBuffer, RtpPacket, TwilioMediaStream, build_rtp, parse_rtp

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

try:
    import orjson
    import pybase64
except ImportError:  # the accelerated naive loop is skipped
    orjson = pybase64 = None

TICK_S = 0.020
Step = Callable[[int], None]  # one tick of every call of an implementation


def _messages(session_format: str, n_ticks: int, model_type: str = "response.audio.delta") -> tuple[list[str], list[str]]:
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
    model = [json.dumps({"type": model_type, "event_id": f"e{i}", "response_id": "r1", "item_id": "item_1",
                         "output_index": 0, "content_index": 0, "delta": base64.b64encode(p).decode()}) for i, p in enumerate(payloads)]
    return phone, model


def _new_call(session_format: str) -> TwilioMediaStream:
    call = TwilioMediaStream({"input_audio_format": session_format, "output_audio_format": session_format})
    call.receive_phone({"event": "start", "streamSid": "MZ1", "start": {"streamSid": "MZ1", "callSid": "CA1"}})
    return call


def audiofmt_step(session_format: str, n_calls: int, n_ticks: int) -> Step:
    phone, model = _messages(session_format, n_ticks)
    calls = [_new_call(session_format) for _ in range(n_calls)]

    def step(tick: int) -> None:
        p, m = phone[tick], model[tick]
        for call in calls:
            for out in call.receive_phone(p):
                out.json()
            for out in call.receive_model(m):
                out.json()

    return step


def naive_step(session_format: str, n_calls: int, n_ticks: int, accelerated: bool = False) -> Step:
    """The sample-code loop (json + base64 + audioop), or the same with orjson + pybase64."""
    phone, model = _messages(session_format, n_ticks)
    states = [[None, None] for _ in range(n_calls)]
    pcm = session_format == "pcm16"
    if accelerated:
        loads, b64decode = orjson.loads, pybase64.b64decode

        def dumps(obj: object) -> str:
            return orjson.dumps(obj).decode()

        def b64encode(data: bytes) -> str:
            return pybase64.b64encode_as_string(data)
    else:
        loads, dumps, b64decode = json.loads, json.dumps, base64.b64decode

        def b64encode(data: bytes) -> str:
            return base64.b64encode(data).decode()

    def step(tick: int) -> None:
        p, m = phone[tick], model[tick]
        for state in states:
            audio = b64decode(loads(p)["media"]["payload"])
            if pcm:
                audio, state[0] = audioop.ratecv(audioop.ulaw2lin(audio, 2), 2, 1, 8000, 24000, state[0])
            dumps({"type": "input_audio_buffer.append", "audio": b64encode(audio)})
            delta = b64decode(loads(m)["delta"])
            if pcm:
                delta, state[1] = audioop.ratecv(delta, 2, 1, 24000, 8000, state[1])
                delta = audioop.lin2ulaw(delta, 2)
            dumps({"event": "media", "streamSid": "MZ1", "media": {"payload": b64encode(delta)}})

    return step


def kernels_step(n_calls: int, n_ticks: int) -> Step:
    """pcm16 only: the two fused resampling calls per tick alone, as the core makes them (float32,
    output as a view of the path's buffer; decode + low_latency filter +
    round + encode, no JSON, no base64): the floor the filter's arithmetic sets."""
    from audiofmt.bridge._fused import fused_path
    from audiofmt.formats import FORMATS

    phone, model = _messages("pcm16", n_ticks)
    ulaw = [base64.b64decode(json.loads(p)["media"]["payload"]) for p in phone]
    pcm = [base64.b64decode(json.loads(m)["delta"]) for m in model]
    paths = [(fused_path(FORMATS["g711_ulaw"], FORMATS["pcm16"]), fused_path(FORMATS["pcm16"], FORMATS["g711_ulaw"])) for _ in range(n_calls)]
    if paths[0][0] is None:
        raise RuntimeError("the low_latency plan is not a single polyphase stage: no fused path")

    def step(tick: int) -> None:
        u, p = ulaw[tick], pcm[tick]
        for up, down in paths:
            up.process_view(u)  # type: ignore[union-attr]
            down.process_view(p)  # type: ignore[union-attr]

    return step


def _drive(coroutine: object) -> object:
    """Run a coroutine that never suspends (pipecat's serializer steps) without an event loop."""
    try:
        coroutine.send(None)  # type: ignore[attr-defined]
    except StopIteration as done:
        return done.value
    raise RuntimeError("the coroutine suspended")


def pipecat_step(session_format: str, n_calls: int, n_ticks: int) -> Step:
    from pipecat.frames.frames import TTSAudioRawFrame
    from pipecat.serializers.twilio import TwilioFrameSerializer
    from pipecat.services.openai.realtime import events

    phone, model = _messages(session_format, n_ticks, "response.output_audio.delta")  # pipecat parses GA events
    rate = 24000 if session_format == "pcm16" else 8000
    serializers = []
    for _ in range(n_calls):
        serializer = TwilioFrameSerializer(stream_sid="MZ1", params=TwilioFrameSerializer.InputParams(auto_hang_up=False, sample_rate=rate))
        _drive(serializer.setup(types.SimpleNamespace(audio_in_sample_rate=rate)))
        serializers.append(serializer)
    pcm = session_format == "pcm16"
    append, parse = events.InputAudioBufferAppendEvent, events.parse_server_event

    def step(tick: int) -> None:
        p, m = phone[tick], model[tick]
        for serializer in serializers:
            frame = _drive(serializer.deserialize(p))
            if frame is not None:  # soxr holds the first chunks back
                audio = frame.audio if pcm else audioop.lin2ulaw(frame.audio, 2)
                json.dumps(append(audio=base64.b64encode(audio).decode("utf-8")).model_dump(exclude_none=True))
            delta = base64.b64decode(parse(m).delta)
            if not pcm:
                delta = audioop.ulaw2lin(delta, 2)
            _drive(serializer.serialize(TTSAudioRawFrame(audio=delta, sample_rate=rate, num_channels=1)))

    return step


def measure(steps: dict[str, Step], n_calls: int, rounds: int, round_ticks: int) -> dict[str, list[float]]:
    """µs of CPU per call per tick, per round, for every implementation (rotating order)."""
    names = list(steps)
    per_round: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            step = steps[name]
            start = time.process_time()
            for tick in range(r * round_ticks, (r + 1) * round_ticks):
                step(tick)
            per_round[name].append((time.process_time() - start) / (n_calls * round_ticks) * 1e6)
    return per_round


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
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--round-ticks", type=int, default=25, help="ticks of 20 ms per implementation per round")
    parser.add_argument("--formats", default="g711_ulaw,pcm16")
    parser.add_argument("--no-pipecat", action="store_true")
    parser.add_argument("--realtime-check", action="store_true")
    args = parser.parse_args()
    n_ticks = args.rounds * args.round_ticks
    try:
        if args.no_pipecat:
            raise ImportError
        import pipecat
        pipecat_version = getattr(pipecat, "__version__", "?")
    except ImportError:
        pipecat_version = None
    print(f"{args.calls} calls x {args.rounds} rounds x {args.round_ticks} ticks of 20 ms, both directions, JSON and base64 included")
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; accelerators: {', '.join(_speedups.ACCELERATED) or 'none'}; "
          f"pipecat: {pipecat_version or 'not installed'}\n")
    print("| session | implementation | CPU µs per call per 20 ms (median of rounds) | min .. max | calls per core | audiofmt speed-up (median of rounds) |")
    print("|---|---|---|---|---|---|")
    targets = {"g711_ulaw": (3.5, 2.5, 3.0), "pcm16": (13.0, 2.0, 3.0)}  # µs, x naive stdlib, x pipecat
    capacity = {}
    for session_format in args.formats.split(","):
        steps = {"audiofmt": audiofmt_step(session_format, args.calls, n_ticks),
                 "naive json+base64+audioop": naive_step(session_format, args.calls, n_ticks)}
        if orjson is not None:
            steps["naive orjson+pybase64+audioop"] = naive_step(session_format, args.calls, n_ticks, accelerated=True)
        if pipecat_version is not None:
            steps["pipecat"] = pipecat_step(session_format, args.calls, n_ticks)
        if session_format == "pcm16":
            steps["audiofmt resampling kernels alone"] = kernels_step(args.calls, n_ticks)
        for step in steps.values():  # warm-up: compile, fill caches, resamplers past their start
            step(0)
        runs = measure(steps, args.calls, args.rounds, args.round_ticks)
        ours = runs["audiofmt"]
        capacity[session_format] = TICK_S / (statistics.median(ours) * 1e-6)
        for name, values in runs.items():
            med = statistics.median(values)
            ratio = "" if name == "audiofmt" else f"{statistics.median(v / o for v, o in zip(values, ours)):.2f}x"
            print(f"| {session_format} | {name} | {med:.1f} | {min(values):.1f} .. {max(values):.1f} | {TICK_S / (med * 1e-6):.0f} | {ratio} |")
        limit_us, vs_naive, vs_pipecat = targets.get(session_format, (0, 0, 0))
        naive_ratio = statistics.median(v / o for v, o in zip(runs["naive json+base64+audioop"], ours))
        verdicts = [f"<= {limit_us} µs: {'PASS' if statistics.median(ours) <= limit_us else 'MISS'}",
                    f">= {vs_naive}x naive stdlib: {'PASS' if naive_ratio >= vs_naive else 'MISS'}"]
        if "pipecat" in runs:
            pipecat_ratio = statistics.median(v / o for v, o in zip(runs["pipecat"], ours))
            verdicts.append(f">= {vs_pipecat}x pipecat: {'PASS' if pipecat_ratio >= vs_pipecat else 'MISS'}")
        print(f"|  | targets: {'; '.join(verdicts)} | | | | |")
    print(f"\nload average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    per_packet = run_rtp(args.calls, 250)
    print(f"\nRTP receive path (parse -> jitter buffer -> decode): {per_packet * 1e6:.1f} µs per packet, "
          f"{1 / per_packet:,.0f} packets/s per core = {TICK_S / per_packet:.0f} streams of 20 ms packets per core")
    if args.realtime_check:
        for session_format, cap in capacity.items():
            n = max(1, int(cap * 0.8))
            late_ms, cpu = asyncio.run(realtime_check(session_format, n, 3.0))
            print(f"\nreal-time check {session_format}: {n} calls on a 20 ms clock for 3 s: worst tick {late_ms:.1f} ms late, CPU {cpu:.0%} of one core")


if __name__ == "__main__":
    main()
