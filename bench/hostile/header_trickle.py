"""Pre-auth CPU: upgrade requests that trickle in a few bytes per segment up to picows' 16 KiB
header limit (each read re-copies and re-searches the whole header so far), from N connections,
next to an honest call.

    python bench/hostile/header_trickle.py [--conns 50] [--chunk 8]
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _stack


def trickle(port: int, conns: int, chunk: int, seconds: float) -> None:
    request = b"GET /x HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 16300
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        socks = []
        for _ in range(conns):
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            socks.append(s)
        for i in range(0, len(request), chunk):
            for s in socks:
                try:
                    s.send(request[i : i + chunk])
                except OSError:
                    pass
            time.sleep(0.0005)
            if time.monotonic() > t_end:
                break
        for s in socks:
            s.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--chunk", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=6.0)
    args = ap.parse_args()
    with _stack.stack() as (port, log, _bridge):
        time.sleep(0.3)
        before = _stack.rss_series(log)[-1]
        proc = mp.Process(target=trickle, args=(port, args.conns, args.chunk, args.seconds))
        proc.start()
        result = asyncio.run(_stack.honest_call(port, args.seconds - 1))
        proc.join()
        time.sleep(0.5)
        after = _stack.rss_series(log)[-1]
        print("honest:", {k: (round(v, 2) if isinstance(v, float) else v) for k, v in result.items()})
        print(f"bridge CPU {after[2] - before[2]:.2f} s over {after[0] - before[0]:.1f} s")


if __name__ == "__main__":
    main()
