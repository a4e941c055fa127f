"""Hostile-client audit helpers: the bridge and an echoing stand-in Realtime server, each in its own
process on 127.0.0.1, a raw WebSocket client that can send any frame, and an honest caller that
measures the round trip of each of its 20 ms frames (sent every 20 ms, echoed by the stand-in)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable
TOKEN = "hostile-audit-path-token-0123456789"


# ---- processes -------------------------------------------------------------------------------------

def _standin_main(port_file: str) -> None:
    from websockets.asyncio.server import serve

    async def handler(ws: Any) -> None:
        async for message in ws:
            event = json.loads(message)
            if event["type"] == "session.update":
                await ws.send(json.dumps({"type": "session.updated", "session": event["session"]}))
            elif event["type"] == "input_audio_buffer.append":
                await ws.send(json.dumps({"type": "response.audio.delta", "response_id": "r1", "item_id": "item_1",
                                          "output_index": 0, "content_index": 0, "delta": event["audio"]}))

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, max_size=None) as server:
            with open(port_file, "w") as f:
                f.write(str(server.sockets[0].getsockname()[1]))
            await asyncio.Future()

    asyncio.run(main())


def _bridge_main(model_port: int, port_file: str, limits_json: str) -> None:
    import logging

    from audiofmt.bridge.auth import Auth
    from audiofmt.bridge.server import BridgeConfig, Limits, serve
    from audiofmt.bridge.service import run_loop

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    os.environ["HOSTILE_KEY"] = "sk-hostile-test"

    async def rss_probe() -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while True:
            with open("/proc/self/statm") as f:
                rss = int(f.read().split()[1]) * page
            cpu = time.process_time()
            print(f"RSS {rss} CPU {cpu:.3f} T {time.monotonic():.3f}", file=sys.stderr, flush=True)
            await asyncio.sleep(0.25)

    async def main() -> None:
        config = BridgeConfig(f"ws://127.0.0.1:{model_port}", api_key_env="HOSTILE_KEY",
                              auth=Auth("wss://bridge.example.com/twilio", path_token=TOKEN),
                              limits=Limits(**json.loads(limits_json)))
        server = await serve("127.0.0.1", 0, config)
        with open(port_file, "w") as f:
            f.write(str(server.sockets[0].getsockname()[1]))
        asyncio.get_running_loop().create_task(rss_probe())
        await asyncio.Future()

    run_loop(main())


def _wait_port(path: str, proc: subprocess.Popen[Any]) -> int:
    for _ in range(400):
        if os.path.getsize(path):
            return int(open(path).read())
        if proc.poll() is not None:
            raise RuntimeError("process died")
        time.sleep(0.05)
    raise RuntimeError("no port")


@contextlib.contextmanager
def stack(limits: dict[str, Any] | None = None, log_path: str | None = None) -> Any:
    """Yields (bridge port, bridge log path): the stand-in and the bridge in their own processes."""
    tmp = tempfile.mkdtemp(prefix="hostile-")
    model_pf, bridge_pf = os.path.join(tmp, "model"), os.path.join(tmp, "bridge")
    open(model_pf, "w").close()
    open(bridge_pf, "w").close()
    log_path = log_path or os.path.join(tmp, "bridge.log")
    here = f"import sys; sys.path.insert(0, {HERE!r}); import _stack; "
    model = subprocess.Popen([PY, "-c", here + f"_stack._standin_main({model_pf!r})"])
    procs = [model]
    try:
        model_port = _wait_port(model_pf, model)
        with open(log_path, "w") as log:
            bridge = subprocess.Popen([PY, "-c", here + f"_stack._bridge_main({model_port}, {bridge_pf!r}, "
                                       f"{json.dumps(json.dumps(limits or {}))})"], stderr=log)
        procs.append(bridge)
        yield _wait_port(bridge_pf, bridge), log_path, bridge
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(5)
            if p.poll() is None:
                p.kill()


def rss_series(log_path: str) -> list[tuple[float, int, float]]:
    """(monotonic time, RSS bytes, process CPU s) lines the bridge wrote."""
    out = []
    with open(log_path) as f:
        lines = f.readlines()
    for line in lines:
        if line.startswith("RSS "):
            parts = line.split()
            out.append((float(parts[5]), int(parts[1]), float(parts[3])))
    return out


def log_lines(log_path: str) -> list[str]:
    with open(log_path) as f:
        return [line.rstrip() for line in f if not line.startswith("RSS ")]


# ---- Twilio messages -------------------------------------------------------------------------------

CONNECTED = json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})


def start_msg(sid: str = "MZ1", params: dict[str, Any] | None = None) -> str:
    start = {"streamSid": sid, "callSid": "CA" + sid, "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}
    if params is not None:
        start["customParameters"] = params
    return json.dumps({"event": "start", "streamSid": sid, "start": start})


def media_msg(i: int, sid: str = "MZ1", payload: bytes | None = None, timestamp: int | None = None, chunk: Any = None) -> str:
    if payload is None:
        payload = struct.pack(">I", i) + bytes((i * 7 + k) % 256 for k in range(156))
    return json.dumps({"event": "media", "streamSid": sid, "media": {
        "track": "inbound", "chunk": str(i + 1) if chunk is None else chunk,
        "timestamp": str(i * 20 if timestamp is None else timestamp), "payload": base64.b64encode(payload).decode()}})


# ---- a raw WebSocket client ------------------------------------------------------------------------

def frame(opcode: int, payload: bytes = b"", fin: bool = True, mask: bool = True, rsv: int = 0,
          length: int | None = None) -> bytes:
    """One frame; `length` overrides the declared payload length."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack(">H", n)
    else:
        head += bytes([m | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if len(payload) < 4096 else _xor(payload, key)
    return head + key + body


def _xor(data: bytes, key: bytes) -> bytes:
    import numpy as np

    k = np.frombuffer(key * ((len(data) + 3) // 4), np.uint8)[: len(data)]
    return (np.frombuffer(data, np.uint8) ^ k).tobytes()


def upgrade_request(port: int, path: str | None = None, extra: str = "") -> bytes:
    path = path or f"/twilio/{TOKEN}"
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n").encode()


def raw_connect(port: int, path: str | None = None, extra: str = "", rcvbuf: int | None = None) -> tuple[socket.socket, bytes]:
    """A blocking socket after the upgrade; returns (socket, response head)."""
    s = socket.socket()
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    s.sendall(upgrade_request(port, path, extra))
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    return s, head


def text(message: str, **kw: Any) -> bytes:
    return frame(0x1, message.encode(), **kw)


def read_frames(s: socket.socket, timeout: float = 2.0) -> list[tuple[int, bytes]]:
    """Every whole (server, unmasked) frame that arrives within `timeout` or until EOF."""
    s.settimeout(timeout)
    data = b""
    with contextlib.suppress(OSError):
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    out = []
    i = 0
    while i + 2 <= len(data):
        op, n = data[i] & 0xF, data[i + 1] & 0x7F
        i += 2
        if n == 126:
            n = struct.unpack(">H", data[i : i + 2])[0]
            i += 2
        elif n == 127:
            n = struct.unpack(">Q", data[i : i + 8])[0]
            i += 8
        out.append((op, data[i : i + n]))
        i += n
    return out


def close_of(frames: list[tuple[int, bytes]]) -> tuple[int, str] | None:
    for op, payload in frames:
        if op == 0x8:
            return (struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005, payload[2:].decode("utf-8", "replace"))
    return None


# ---- the honest caller ---------------------------------------------------------------------------

async def honest_call(port: int, seconds: float, sid: str = "MZhonest") -> dict[str, Any]:
    """A well-behaved call: a 20 ms frame every 20 ms for `seconds`; each is echoed back by the
    stand-in. Returns round trips (ms) per frame, frames lost, wrong audio, and the close."""
    from websockets.asyncio.client import connect

    sent: dict[int, float] = {}
    rtt: dict[int, float] = {}
    wrong = 0
    async with connect(f"ws://127.0.0.1:{port}/twilio/{TOKEN}", max_size=None) as ws:
        await ws.send(CONNECTED)
        await ws.send(start_msg(sid))
        n = int(seconds * 50)

        async def receiver() -> None:
            nonlocal wrong
            async for message in ws:
                msg = json.loads(message)
                if msg.get("event") != "media":
                    continue
                payload = base64.b64decode(msg["media"]["payload"])
                i = struct.unpack(">I", payload[:4])[0]
                if i not in sent or payload != base64.b64decode(json.loads(media_msg(i))["media"]["payload"]):
                    wrong += 1
                    continue
                rtt[i] = (time.perf_counter() - sent[i]) * 1000

        task = asyncio.create_task(receiver())
        t0 = time.perf_counter()
        for i in range(n):
            delay = t0 + i * 0.02 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[i] = time.perf_counter()
            await ws.send(media_msg(i, sid))
        await asyncio.sleep(1.0)
        await ws.send(json.dumps({"event": "stop", "streamSid": sid, "stop": {}}))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)
        task.cancel()
        close = (ws.close_code, ws.close_reason)
    values = sorted(rtt.values())
    first = min(rtt) if rtt else 0  # the model socket opens after start; frames before it wait
    steady = sorted(v for i, v in rtt.items() if i >= first + 25)

    def pct(vs: list[float], p: float) -> float:
        return vs[min(len(vs) - 1, int(p * len(vs)))] if vs else float("nan")

    return {"sent": n, "echoed": len(values), "wrong": wrong, "close": close,
            "rtt_p50": pct(steady, 0.5), "rtt_p99": pct(steady, 0.99), "rtt_max": steady[-1] if steady else float("nan"),
            "over_40ms": sum(v > 40 for v in steady)}
