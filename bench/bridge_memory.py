"""Memory per call of the sans-IO Twilio core: RSS and Python-heap bytes per idle and per active
`TwilioMediaStream`, pcm16 and g711_ulaw sessions.

    python bench/bridge_memory.py [--calls 2000] [--ticks 50]

Each configuration runs in a fresh child process. The child warms up first (one call through
every path, so numba's compiled kernels and the resampler's shared filter tables are loaded and
counted once, not per call), then measures RSS (/proc/self/statm, resident pages) and the traced
Python heap (tracemalloc, which numpy's allocations report to) before and after creating
`--calls` calls:

- idle: constructed and started (Twilio `start` received), no audio yet;
- active: then `--ticks` x 20 ms of traffic each way (a media message in, a 20 ms model delta in),
  leaving a partial frame and an unacknowledged response pending, as mid-call.

Per-call numbers are the deltas divided by the number of calls. RSS includes allocator slack
and is noisy on a shared machine (other processes do not change it, but fragmentation does);
tracemalloc counts the bytes Python and numpy hold.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import subprocess
import sys
import tracemalloc

PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def _child(session_format: str, state: str, n_calls: int, n_ticks: int) -> dict[str, float]:
    import numpy as np

    from audiofmt.bridge import TwilioMediaStream

    rng = np.random.default_rng(0)
    ulaw = bytes(rng.integers(0, 256, 160 * n_ticks, dtype=np.uint8))
    phone = [json.dumps({"event": "media", "streamSid": "MZ1", "media": {
        "track": "inbound", "chunk": str(i + 1), "timestamp": str(i * 20),
        "payload": base64.b64encode(ulaw[i * 160 : (i + 1) * 160]).decode()}}) for i in range(n_ticks)]
    per_tick = 960 if session_format == "pcm16" else 160  # 20 ms of the model's output format
    model_audio = bytes(rng.integers(0, 256, per_tick * n_ticks + 7 * 2, dtype=np.uint8))
    # uneven deltas (20 ms + 14 bytes, then the rest) so a partial frame stays pending
    model = [json.dumps({"type": "response.audio.delta", "response_id": "r1", "item_id": "item_1",
                         "output_index": 0, "content_index": 0,
                         "delta": base64.b64encode(model_audio[i * per_tick : (i + 1) * per_tick + (14 if i == 0 else 0)]).decode()})
             for i in range(n_ticks)]
    done = {"type": "response.audio.done", "item_id": "item_1", "content_index": 0}

    def new_call() -> TwilioMediaStream:
        call = TwilioMediaStream({"input_audio_format": session_format, "output_audio_format": session_format})
        call.receive_phone({"event": "start", "streamSid": "MZ1", "start": {"streamSid": "MZ1", "callSid": "CA1"}})
        return call

    def drive(call: TwilioMediaStream) -> None:
        for p, m in zip(phone, model):
            call.receive_phone(p)
            call.receive_model(m)

    warm = new_call()  # compile and load everything shared, once
    drive(warm)
    warm.receive_model(done)
    del warm
    gc.collect()

    tracemalloc.start()
    gc.collect()
    rss0, heap0 = _rss(), tracemalloc.get_traced_memory()[0]
    calls = [new_call() for _ in range(n_calls)]
    if state == "active":
        for call in calls:
            drive(call)
    gc.collect()
    rss1, heap1 = _rss(), tracemalloc.get_traced_memory()[0]
    assert all(c.state == "started" for c in calls)
    return {"rss_per_call": (rss1 - rss0) / n_calls, "heap_per_call": (heap1 - heap0) / n_calls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--ticks", type=int, default=50, help="20 ms ticks of traffic for an active call")
    parser.add_argument("--child", nargs=2, metavar=("FORMAT", "STATE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child[0], args.child[1], args.calls, args.ticks)))
        return
    print(f"{args.calls} calls per run; active = {args.ticks} x 20 ms of traffic each way; fresh process per row\n")
    print("| session | call state | RSS per call | traced heap per call |")
    print("| --- | --- | --- | --- |")
    for session_format in ("g711_ulaw", "pcm16"):
        for state in ("idle", "active"):
            out = subprocess.run([sys.executable, __file__, "--calls", str(args.calls), "--ticks", str(args.ticks),
                                  "--child", session_format, state], check=True, capture_output=True, text=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"| {session_format} | {state} | {r['rss_per_call'] / 1024:.1f} KB | {r['heap_per_call'] / 1024:.1f} KB |")


if __name__ == "__main__":
    main()
