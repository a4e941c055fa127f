"""Slow upgrade requests: one byte every 0.5 s (handshake_s 2), and 600 idle connections against
max_connections 512, while an honest call runs.

    python bench/hostile/slowloris.py
"""
from __future__ import annotations

import asyncio
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _stack


def slow(port: int) -> str:
    s = socket.create_connection(("127.0.0.1", port))
    request = _stack.upgrade_request(port)
    t0 = time.monotonic()
    try:
        for i in range(len(request)):
            s.sendall(request[i : i + 1])
            time.sleep(0.5)
    except OSError as exc:
        return f"slow: dropped after {time.monotonic() - t0:.1f} s ({i} bytes): {exc!r}"
    return "slow: never dropped"


def _closed(held: list[socket.socket]) -> int:
    gone = 0
    for s in held:
        s.settimeout(0.001)
        try:
            if s.recv(1) == b"":
                gone += 1
        except TimeoutError:
            pass
        except OSError:
            gone += 1
    return gone


def many(port: int, n: int, handshake_s: float) -> str:
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    t0 = time.monotonic()
    time.sleep(0.5)
    at_once = _closed(held)
    time.sleep(max(0.0, t0 + handshake_s + 1.0 - time.monotonic()))
    later = _closed(held)
    for s in held:
        s.close()
    return f"many: {n} idle connections, {at_once} closed within 0.5 s (over the cap), {later} closed after handshake_s + 1 s"


async def main() -> None:
    handshake_s = float(os.environ.get("HANDSHAKE_S", "2"))
    with _stack.stack({"handshake_s": handshake_s}) as (port, _log, _bridge):
        loop = asyncio.get_running_loop()
        honest = asyncio.create_task(_stack.honest_call(port, 5.0))
        await asyncio.sleep(0.5)
        print(*await asyncio.gather(loop.run_in_executor(None, slow, port), loop.run_in_executor(None, many, port, 600, handshake_s)), sep="\n")
        print("honest:", {k: (round(v, 2) if isinstance(v, float) else v) for k, v in (await honest).items()})


if __name__ == "__main__":
    asyncio.run(main())
