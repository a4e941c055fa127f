"""Malformed WebSocket frames and upgrade requests, one connection each, against a running bridge.

    python bench/hostile/protocol_probe.py

For each case: what the bridge answered (HTTP status, close code and reason, or nothing) and
whether the connection was closed; then an honest call checks the bridge still serves.
"""
from __future__ import annotations

import asyncio
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _stack
from _stack import frame, text

START = text(_stack.CONNECTED) + text(_stack.start_msg("MZprobe"))

FRAME_CASES = {
    "unmasked text frame": frame(0x1, b'{"event":"x"}', mask=False),
    "text with RSV1 (compressed claim)": frame(0x1, b'{"event":"x"}', rsv=4) + frame(0x9, b"alive?"),
    "text with RSV2|RSV3": frame(0x1, b'{"event":"x"}', rsv=3) + frame(0x9, b"alive?"),
    "invalid opcode 0x3": frame(0x3, b"x"),
    "invalid opcode 0xB": frame(0xB, b"x"),
    "ping of 126 bytes": frame(0x9, b"p" * 126),
    "fragmented ping (fin=0)": frame(0x9, b"p", fin=False),
    "continuation without a start": frame(0x0, b"x"),
    "text inside a fragmented text": frame(0x1, b"{", fin=False) + frame(0x1, b"}"),
    "invalid UTF-8 text": frame(0x1, b'{"event":"\xff\xfe"}'),
    "invalid UTF-8 across fragments": frame(0x1, b'{"e":"\xe2', fin=False) + frame(0x0, b'\x28\xa1"}'),
    "declared length 2^63 (MSB set)": frame(0x1, b"", length=2**63)[:2] + struct.pack(">Q", 2**63) + b"abcd",
    "declared length 2^62, 10 bytes": bytes([0x81, 0xFF]) + struct.pack(">Q", 2**62) + b"\0" * 14,
    "declared length 17000 (> 16 KiB), few bytes": bytes([0x81, 0xFE]) + struct.pack(">H", 17000)[:0] + bytes([0x81, 0xFF])[:0] + b"",
    "16-bit length under 126": bytes([0x81, 0xFE, 0x00, 0x05]) + b"\0" * 9,
    "close code 999": frame(0x8, struct.pack(">H", 999)),
    "close code 1005 (reserved)": frame(0x8, struct.pack(">H", 1005)),
    "close with a 1-byte payload": frame(0x8, b"\x03"),
    "close with invalid UTF-8 reason": frame(0x8, struct.pack(">H", 1000) + b"\xff"),
    "close code 4999 reason ok": frame(0x8, struct.pack(">H", 4999) + b"bye"),
    "binary message": frame(0x2, b'{"event":"stop","streamSid":"MZprobe"}'),
    "binary message, invalid UTF-8": frame(0x2, b"\xff" * 40) + frame(0x9, b"alive?"),
}
# fix the 17000 case: a 64-bit length is needed over 65535 only; 17000 uses the 16-bit form
FRAME_CASES["declared length 17000 (> 16 KiB), few bytes"] = bytes([0x81, 0xFE]) + struct.pack(">H", 17000) + b"\0" * 4 + b"x" * 10

HTTP_CASES = {
    "no Upgrade header": b"GET /twilio/%s HTTP/1.1\r\nHost: x\r\n\r\n",
    "POST with upgrade": b"POST /twilio/%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "version 8": b"GET /twilio/%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
    "no key": b"GET /twilio/%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "permessage-deflate offered": b"GET /twilio/%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
    "header line of 200 KB": b"GET /twilio/%s HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
    "5000 headers": b"GET /twilio/%s HTTP/1.1\r\nHost: x\r\n" + b"X-H: 1\r\n" * 5000 + b"\r\n",
    "garbage request line": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 100 + b"\r\n\r\n",
    "pipelined: two upgrades": (b"GET /twilio/%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n") * 2,
    "path with NUL and ..": b"GET /twilio/../twilio/%s\x00 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "wrong token": b"GET /twilio/wrong-token-00000000000000 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
}


def frame_case(port: int, payload: bytes) -> str:
    s, head = _stack.raw_connect(port)
    if b" 101 " not in head.split(b"\r\n")[0]:
        return f"upgrade refused: {head[:40]!r}"
    s.sendall(START)
    time.sleep(0.05)
    try:
        s.sendall(payload)
    except OSError as exc:
        return f"send failed {exc!r}"
    frames = _stack.read_frames(s, 2.5)
    s.close()
    close = _stack.close_of(frames)
    pongs = sum(op == 0xA for op, _ in frames)
    return f"close={close} pongs={pongs} other_frames={len(frames) - pongs - (close is not None)}"


def _first_line(data: bytes) -> bytes:
    return data.split(b"\r\n")[0][:60]


def http_case(port: int, request: bytes) -> str:
    if b"%s" in request:
        request = request.replace(b"%s", _stack.TOKEN.encode())
    s = socket.create_connection(("127.0.0.1", port))
    try:
        s.sendall(request)
    except OSError as exc:
        return f"send failed {exc!r}"
    s.settimeout(3)
    data = b""
    t0 = time.monotonic()
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except TimeoutError:
        return f"no EOF in 3 s; got {_first_line(data)!r} ({len(data)} bytes)"
    except OSError as exc:
        return f"{exc!r} after {data[:40]!r}"
    finally:
        s.close()
    deflate = b"permessage-deflate" in data.lower()
    return f"{_first_line(data)!r} ({len(data)} bytes, EOF after {time.monotonic() - t0:.2f} s){' DEFLATE ACCEPTED' if deflate else ''}"


def main() -> None:
    with _stack.stack({"close_s": 1.0}) as (port, log, _bridge):
        for name, payload in FRAME_CASES.items():
            print(f"{name:45s} {frame_case(port, payload)}", flush=True)
        for name, request in HTTP_CASES.items():
            print(f"HTTP {name:40s} {http_case(port, request)}", flush=True)
        print("honest call after:", asyncio.run(_stack.honest_call(port, 2.0)))
        errors = [line for line in _stack.log_lines(log) if "Traceback" in line or "exception" in line.lower()]
        print("tracebacks/exceptions in the bridge log:", len(errors))
        for line in errors[:5]:
            print("  ", line[:200])


if __name__ == "__main__":
    main()
