"""CPU cost per WebSocket message on loopback, per Python stack, plus JSON and base64 codecs.

    python bench/ws_stacks.py [--conns 64] [--seconds 3] [--repeat 2] [--stacks websockets,picows+uvloop]

Each stack runs an echo server in one process and a client in another (same stack on both
ends), K connections each doing strict ping-pong: the client sends a text message, the server
receives it and sends it back, the client receives the echo and sends the next. One message per
syscall, as in a paced bridge, not a flood that the kernel batches. CPU is each process's own
utime + stime (/proc/<pid>/stat) over a measurement window in the middle of the run;
µs per message op = CPU / (messages sent + messages received) by that process.

Messages are real shapes: a Twilio `media` message with 20 ms of μ-law (≈ 330 B) and a Realtime
`response.audio.delta` with 20 ms of pcm16 at 24 kHz (≈ 1.4 KB).

Stacks: websockets (asyncio's default loop, compression off, as a server should run it),
websockets with permessage-deflate (its default: both ends offer it), websockets + uvloop,
picows (asyncio and uvloop), aiohttp (asyncio and uvloop). The receiving side gets what the
stack hands a handler: str for websockets/aiohttp, bytes for picows (orjson parses bytes).

The second table times json vs orjson and base64 vs pybase64 on the same messages, in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import time
import timeit

import _procstat

STACKS = ["websockets", "websockets-deflate", "websockets+uvloop", "picows", "picows+uvloop", "aiohttp", "aiohttp+uvloop"]


def twilio_media_text() -> str:
    payload = base64.b64encode(bytes((k * 37) % 256 for k in range(160))).decode()
    return json.dumps({"event": "media", "sequenceNumber": "1234", "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
                       "media": {"track": "inbound", "chunk": "1233", "timestamp": "24660", "payload": payload}}, separators=(",", ":"))


def pcm16_delta_text() -> str:
    delta = base64.b64encode(bytes((k * 37) % 256 for k in range(960))).decode()
    return json.dumps({"type": "response.audio.delta", "event_id": "event_Bx4qDQq3KmxXz8yT2hRcd", "response_id": "resp_Bx4qDPQx9Hq2l",
                       "item_id": "item_Bx4qDbmUd1pYfqd6t", "output_index": 0, "content_index": 0, "delta": delta}, separators=(",", ":"))


MESSAGES = {"twilio media (μ-law 20 ms)": twilio_media_text(), "pcm16 delta (24 kHz 20 ms)": pcm16_delta_text()}


def _loop_factory(stack: str) -> None:
    if stack.endswith("+uvloop"):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


# -- server role ---------------------------------------------------------------------------
async def _server(stack: str) -> None:
    base = stack.split("+")[0]
    if base.startswith("websockets"):
        from websockets.asyncio.server import serve

        async def echo(ws) -> None:
            async for message in ws:
                await ws.send(message)

        compression = "deflate" if base == "websockets-deflate" else None
        server = await serve(echo, "127.0.0.1", 0, compression=compression, max_size=None)
        port = server.sockets[0].getsockname()[1]
    elif base == "picows":
        from picows import WSListener, WSMsgType, ws_create_server

        class Echo(WSListener):
            def on_ws_frame(self, transport, frame) -> None:
                if frame.msg_type == WSMsgType.TEXT:
                    transport.send(WSMsgType.TEXT, frame.get_payload_as_bytes())
                elif frame.msg_type == WSMsgType.CLOSE:
                    transport.send_close(frame.get_close_code(), frame.get_close_message())
                    transport.disconnect()

        server = await ws_create_server(lambda request: Echo(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
    elif base == "aiohttp":
        from aiohttp import WSMsgType as AioType
        from aiohttp import web

        async def handler(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse(compress=False, max_msg_size=0)
            await ws.prepare(request)
            async for msg in ws:
                if msg.type == AioType.TEXT:
                    await ws.send_str(msg.data)
            return ws

        app = web.Application()
        app.router.add_get("/", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    else:
        raise SystemExit(f"unknown stack {stack!r}")
    print(f"PORT {port}", flush=True)
    await asyncio.Future()


# -- client role ---------------------------------------------------------------------------
async def _client(stack: str, port: int, conns: int, message: str, t0: float, t1: float) -> None:
    base = stack.split("+")[0]
    url = f"ws://127.0.0.1:{port}/"
    count = [0]
    stop = t1 + 0.3
    marks: dict[str, tuple[int, float]] = {}

    async def sampler() -> None:
        for name, at in (("t0", t0), ("t1", t1)):
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            marks[name] = (count[0], time.process_time())

    if base.startswith("websockets"):
        from websockets.asyncio.client import connect

        compression = "deflate" if base == "websockets-deflate" else None

        async def one() -> None:
            async with connect(url, compression=compression, max_size=None) as ws:
                while time.monotonic() < stop:
                    await ws.send(message)
                    await ws.recv()
                    count[0] += 1

        await asyncio.gather(sampler(), *(one() for _ in range(conns)))
    elif base == "picows":
        from picows import WSListener, WSMsgType, ws_connect

        payload = message.encode()

        class Pinger(WSListener):
            def on_ws_connected(self, transport) -> None:
                transport.send(WSMsgType.TEXT, payload)

            def on_ws_frame(self, transport, frame) -> None:
                if frame.msg_type == WSMsgType.TEXT:
                    frame.get_payload_as_bytes()
                    count[0] += 1
                    if time.monotonic() < stop:
                        transport.send(WSMsgType.TEXT, payload)
                    else:
                        transport.send_close()
                        transport.disconnect()

        pairs = [await ws_connect(Pinger, url) for _ in range(conns)]
        await sampler()
        for transport, _ in pairs:
            await transport.wait_disconnected()
    elif base == "aiohttp":
        import aiohttp

        async with aiohttp.ClientSession() as session:

            async def one() -> None:
                async with session.ws_connect(url, compress=0, max_msg_size=0) as ws:
                    while time.monotonic() < stop:
                        await ws.send_str(message)
                        await ws.receive_str()
                        count[0] += 1

            await asyncio.gather(sampler(), *(one() for _ in range(conns)))
    (n0, c0), (n1, c1) = marks["t0"], marks["t1"]
    print(json.dumps({"round_trips": n1 - n0, "cpu_s": c1 - c0, "wall_s": t1 - t0}), flush=True)


def _role_main(args: argparse.Namespace) -> None:
    _loop_factory(args.stack)
    if args.role == "server":
        asyncio.run(_server(args.stack))
    else:
        message = MESSAGES[list(MESSAGES)[args.message]]
        asyncio.run(_client(args.stack, args.port, args.conns, message, args.t0, args.t1))


# -- orchestration -------------------------------------------------------------------------
def _available(stack: str) -> bool:
    """Whether the stack's packages import here (a missing one is reported and skipped)."""
    import importlib.util

    modules = [stack.split("+")[0].replace("-deflate", ""), *(["uvloop"] if stack.endswith("+uvloop") else [])]
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        print(f"(skipping {stack}: {', '.join(missing)} not installed)")
    return not missing


def measure(stack: str, message_index: int, conns: int, seconds: float) -> dict[str, float]:
    me = [sys.executable, os.path.abspath(__file__), "--stack", stack]
    server = subprocess.Popen([*me, "--role", "server"], stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline() if server.stdout else ""
        if not line.startswith("PORT "):
            raise RuntimeError(f"{stack} server did not start")
        port = int(line.split()[1])
        t0 = time.monotonic() + 1.5  # connect and warm up first
        t1 = t0 + seconds
        client = subprocess.Popen([*me, "--role", "client", "--port", str(port), "--conns", str(conns),
                                   "--message", str(message_index), "--t0", repr(t0), "--t1", repr(t1)], stdout=subprocess.PIPE, text=True)
        _procstat.sleep_until(t0)
        s0, m0 = _procstat.cpu_seconds(server.pid), _procstat.machine_busy()
        _procstat.sleep_until(t1)
        s1, m1 = _procstat.cpu_seconds(server.pid), _procstat.machine_busy()
        out, _ = client.communicate(timeout=seconds + 30)
        result = json.loads(out.strip().splitlines()[-1])
    finally:
        server.terminate()
        server.wait()
    n = result["round_trips"]
    return {
        "round_trips_per_s": n / seconds,
        "server_us_per_op": (s1 - s0) / (2 * n) * 1e6,
        "client_us_per_op": result["cpu_s"] / (2 * n) * 1e6,
        "server_cpu": (s1 - s0) / seconds,
        "machine_busy": (m1[0] - m0[0]) / max(1.0, m1[1] - m0[1]),
    }


def codec_table(number: int = 2000) -> list[tuple[str, str, float]]:
    """(message, operation, µs) for json/orjson loads+dumps and base64/pybase64 decode/encode."""
    rows = []
    for name, text in MESSAGES.items():
        rows.extend((name, op, us) for op, us in _codec_cases(text, number))
    return rows


def _codec_cases(text: str, number: int) -> list[tuple[str, float]]:
    import orjson
    import pybase64

    rows = []
    obj = json.loads(text)
    raw = text.encode()
    b64 = obj["media"]["payload"] if "media" in obj else obj["delta"]
    data = base64.b64decode(b64)
    cases = [
        ("json.loads(str)", lambda: json.loads(text)),
        ("orjson.loads(bytes)", lambda: orjson.loads(raw)),
        ("orjson.loads(str)", lambda: orjson.loads(text)),
        ("json.dumps", lambda: json.dumps(obj)),
        ("orjson.dumps", lambda: orjson.dumps(obj)),
        ("base64.b64decode", lambda: base64.b64decode(b64)),
        ("base64.b64decode(validate=True)", lambda: base64.b64decode(b64, validate=True)),
        ("pybase64.b64decode(validate=True)", lambda: pybase64.b64decode(b64, validate=True)),
        ("base64.b64encode().decode()", lambda: base64.b64encode(data).decode()),
        ("pybase64.b64encode_as_string", lambda: pybase64.b64encode_as_string(data)),
    ]
    for op, fn in cases:
        best = min(timeit.repeat(fn, number=number, repeat=25)) / number
        rows.append((op, best * 1e6))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=["server", "client"], help=argparse.SUPPRESS)
    parser.add_argument("--stack", default="websockets", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--message", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--t0", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--t1", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--conns", type=int, default=64, help="concurrent ping-pong connections")
    parser.add_argument("--seconds", type=float, default=3.0, help="measurement window per cell")
    parser.add_argument("--repeat", type=int, default=2, help="runs per cell (best is reported, all are printed)")
    parser.add_argument("--stacks", default=",".join(STACKS), help="comma-separated subset of " + ", ".join(STACKS))
    parser.add_argument("--no-codecs", action="store_true", help="skip the json/base64 table")
    args = parser.parse_args()
    if args.role:
        _role_main(args)
        return
    stacks = [s for s in args.stacks.split(",") if s and _available(s)]
    print(f"loopback ping-pong, {args.conns} connections, {args.seconds:.0f} s windows, best of {args.repeat}; "
          f"load average before: {_procstat.load_average()} (2-core VM shared with other jobs: noisy)\n")
    for index, (name, text) in enumerate(MESSAGES.items()):
        print(f"### {name}, {len(text)} B text\n")
        print("| stack | server µs per message op | client µs per message op | server msg ops per CPU-s | round trips/s | server CPU | machine busy | all runs (server µs) |")
        print("|---|---|---|---|---|---|---|---|")
        for stack in stacks:
            runs = [measure(stack, index, args.conns, args.seconds) for _ in range(args.repeat)]
            best = min(runs, key=lambda r: r["server_us_per_op"])
            print(f"| {stack} | {best['server_us_per_op']:.1f} | {best['client_us_per_op']:.1f} | {1e6 / best['server_us_per_op']:,.0f} | "
                  f"{best['round_trips_per_s']:,.0f} | {best['server_cpu']:.0%} | {best['machine_busy']:.0%} | "
                  f"{', '.join(format(r['server_us_per_op'], '.1f') for r in runs)} |", flush=True)
        print()
    print(f"load average after: {_procstat.load_average()}\n")
    if not args.no_codecs:
        print("### JSON and base64 on the same messages (in-process, best of 25 × 2,000)\n")
        print("| message | operation | µs |")
        print("|---|---|---|")
        for name, op, us in codec_table():
            print(f"| {name} | {op} | {us:.2f} |")


if __name__ == "__main__":
    main()
