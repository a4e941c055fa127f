"""The whole `audiofmt bridge` service under load, through real sockets on loopback.

    python bench/bridge_server_load.py [--calls 20 50] [--seconds 10] [--format g711_ulaw] [--workers 1] [--bare]

Starts `audiofmt bridge` as a subprocess (no auth, loopback, metrics on), a stand-in Realtime
server that answers every append with a delta of the same length, and N simulated Twilio callers
that each send one 20 ms media message per 20 ms on the loop clock and read everything sent back.
So every call carries 50 messages a second each way through the bridge, as a live one does.

Reports, per N: the bridge's CPU (user+system, all its processes, from /proc) as % of one core and
µs per call per 20 ms, and its event-loop lag from its own /metrics (the 20 ms probe: p99 bucket
and ticks later than 10 ms). The callers and the stand-in run in this process and need CPU too: on
a small machine they compete with the bridge, so numbers are an upper bound on the bridge's cost.
`--bare` runs a bare websockets relay (no audio work, limits, auth or metrics) the same way: the
floor any Python websockets bridge pays.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import signal
import socket
import sys
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

REPO = Path(__file__).resolve().parent.parent
TICK_S = 0.020

# The floor: a bare websockets relay with no audio work, no limits, no auth, no metrics. Per call
# it opens the model socket at once and forwards media payloads as appends and deltas as media,
# re-wrapping the JSON as any relay must (json.loads + json.dumps both ways).
BARE_RELAY = """
import asyncio, json, signal, sys
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

async def handler(phone):
    async with connect(sys.argv[2], max_size=None) as model:
        async def up():
            async for m in phone:
                e = json.loads(m)
                if e.get("event") == "media":
                    await model.send(json.dumps({"type": "input_audio_buffer.append", "audio": e["media"]["payload"]}))
                elif e.get("event") == "stop":
                    return
        async def down():
            async for m in model:
                e = json.loads(m)
                if e.get("type") == "response.audio.delta":
                    await phone.send(json.dumps({"event": "media", "streamSid": "MZ", "media": {"payload": e["delta"]}}))
        tasks = [asyncio.create_task(up()), asyncio.create_task(down())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in tasks:
            t.cancel()

async def main():
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with serve(handler, "127.0.0.1", int(sys.argv[1]), max_size=None):
        await stop.wait()

asyncio.run(main())
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_s(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError):
            pass
    return total


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


async def _echo(ws) -> None:
    await ws.send(json.dumps({"type": "session.created", "session": {"input_audio_format": "g711_ulaw", "output_audio_format": "g711_ulaw"}}))
    n = 0
    with contextlib.suppress(ConnectionClosed):
        await _echo_loop(ws, n)


async def _echo_loop(ws, n: int) -> None:
    async for message in ws:
        event = json.loads(message)
        if event.get("type") == "input_audio_buffer.append":
            n += 1
            await ws.send(json.dumps({"type": "response.audio.delta", "item_id": f"item_{n // 500}", "content_index": 0,
                                      "delta": event["audio"]}))


async def _caller(port: int, seconds: float, frame: bytes, stats: dict) -> None:
    loop = asyncio.get_running_loop()
    async with connect(f"ws://127.0.0.1:{port}/") as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(json.dumps({"event": "start", "streamSid": "MZ", "start": {"streamSid": "MZ", "callSid": "CA",
                                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))

        async def read() -> None:
            async for _ in ws:
                stats["in"] += 1

        reader = asyncio.create_task(read())
        payload = base64.b64encode(frame).decode()
        start = loop.time()
        n_ticks = int(seconds / TICK_S)
        for i in range(n_ticks):
            await ws.send(f'{{"event":"media","streamSid":"MZ","media":{{"chunk":"{i + 1}","timestamp":"{i * 20}","payload":"{payload}"}}}}')
            stats["out"] += 1
            await asyncio.sleep(max(0.0, start + (i + 1) * TICK_S - loop.time()))
        await ws.send(json.dumps({"event": "stop", "streamSid": "MZ", "stop": {}}))
        await asyncio.sleep(0.2)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


async def _metrics(port: int) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.0\r\n\r\n")
    data = await reader.read()
    writer.close()
    return data.decode().partition("\r\n\r\n")[2]


def _sample(text: str, name: str, labels: str = "") -> float:
    for line in text.splitlines():
        if line.startswith(name + labels + " ") or (not labels and line.startswith(name + " ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _p99_bucket(text: str) -> str:
    buckets = []
    for line in text.splitlines():
        if line.startswith("audiofmt_bridge_loop_lag_seconds_bucket"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float(le), float(line.rsplit(" ", 1)[1])))
    total = buckets[-1][1] if buckets else 0
    for le, count in buckets:
        if total and count >= 0.99 * total:
            return f"<= {le * 1000:g} ms"
    return "?"


async def run(n_calls: int, seconds: float, fmt: str, workers: int, bare: bool = False) -> dict:
    model = await serve(_echo, "127.0.0.1", 0)
    model_url = f"ws://127.0.0.1:{model.sockets[0].getsockname()[1]}"
    port, metrics_port = _free_port(), _free_port()
    env = {**os.environ, "OPENAI_API_KEY": "sk-bench", "PYTHONPATH": str(REPO)}
    profile = ["-m", "cProfile", "-o", os.environ["BRIDGE_PROFILE"]] if os.environ.get("BRIDGE_PROFILE") else []
    if bare:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", BARE_RELAY, str(port), model_url, env=env)
    else:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *profile, "-m", "audiofmt", "bridge", "--realtime-url", model_url, "--insecure-no-auth", "-q",
            "--listen", f"127.0.0.1:{port}", "--workers", str(workers), "--format", fmt, "--max-calls", str(n_calls + 10),
            "--metrics-listen", f"127.0.0.1:{metrics_port}", env=env)
    for _ in range(300):
        try:
            if bare:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
            else:
                await _metrics(metrics_port)
            break
        except OSError:
            await asyncio.sleep(0.1)
    stats = {"in": 0, "out": 0}
    frame = bytes((k * 37) % 256 for k in range(160))
    # warm-up: one short call per worker loads the numba kernels (compiled or from the disk cache)
    await asyncio.gather(*(_caller(port, 0.5, frame, dict(stats)) for _ in range(2 * workers)))
    before = "" if bare else await _metrics(metrics_port)
    pids = [proc.pid, *_children(proc.pid)]
    cpu0 = _cpu_s(pids)
    await asyncio.gather(*(_caller(port, seconds, frame, stats) for _ in range(n_calls)))
    cpu = _cpu_s(pids) - cpu0
    after = "" if bare else await _metrics(metrics_port)
    proc.send_signal(signal.SIGTERM)
    await proc.wait()
    model.close()
    ticks = _sample(after, "audiofmt_bridge_loop_lag_seconds_count") - _sample(before, "audiofmt_bridge_loop_lag_seconds_count")
    late = _sample(after, "audiofmt_bridge_late_ticks_total") - _sample(before, "audiofmt_bridge_late_ticks_total")
    return {"what": "bare relay" if bare else f"audiofmt bridge ({fmt})", "calls": n_calls, "cpu_pct": 100 * cpu / seconds, "us_per_call_tick": 1e6 * cpu / (n_calls * seconds / TICK_S),
            "sent": stats["out"], "received": stats["in"], "late_ticks": int(late), "ticks": int(ticks),
            "lag_p99": _p99_bucket(after)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--format", default="g711_ulaw", choices=["g711_ulaw", "pcm16", "g711_alaw"])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--bare", action="store_true", help="also run the bare websockets relay (the floor) at each N")
    args = parser.parse_args()
    print("| server | calls | CPU (% of a core) | CPU µs per call per 20 ms | media sent / received | probe ticks > 10 ms late | loop lag p99 |")
    print("|---|---|---|---|---|---|---|")
    for n in args.calls:
        for bare in ([False, True] if args.bare else [False]):
            r = asyncio.run(run(n, args.seconds, args.format, args.workers, bare))
            late = "" if bare else f"{r['late_ticks']} of {r['ticks']}"
            print(f"| {r['what']} | {r['calls']} | {r['cpu_pct']:.0f} % | {r['us_per_call_tick']:.0f} | {r['sent']} / {r['received']} | "
                  f"{late} | {'' if bare else r['lag_p99']} |", flush=True)


if __name__ == "__main__":
    main()
