"""WebSocket frame-level floods from an authenticated client, next to an honest call.

    python bench/hostile/frames_attack.py SCENARIO [--seconds 6]

Scenarios (each one client, after the upgrade and a proper `connected` + `start`):
  ping-read      PINGs of 125 bytes as fast as the socket takes them, reading the PONGs
  ping-noread    the same, never reading (SO_RCVBUF small)
  ping-empty     empty PINGs (6 bytes each), reading
  pong           unsolicited PONGs (125 bytes)
  cont-empty     a TEXT frame with fin=0, then empty CONTINUATION frames (fin=0) forever
  cont-tiny      a TEXT frame with fin=0, then 1-byte CONTINUATION frames (fin=0) up to the limit
  media-flood    control: ordinary media messages as fast as possible (the rate limit applies)
  tiny-flood     whole 2-byte text messages ("{}") as fast as possible (the rate limit applies)
  big-flood      media messages of ~16 KiB (12 KB of audio) as fast as possible, read side drained
Prints the honest call's round trips, the bridge's RSS and CPU over the attack, and its log tail.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _stack


def attacker(port: int, scenario: str, seconds: float, out: mp.Queue) -> None:
    read = scenario in ("ping-read", "ping-empty", "pong", "media-flood", "tiny-flood", "big-flood")
    s, head = _stack.raw_connect(port, rcvbuf=4096 if not read else None)
    assert b" 101 " in head.split(b"\r\n")[0], head
    s.sendall(_stack.text(_stack.CONNECTED) + _stack.text(_stack.start_msg("MZattack")))
    if read:
        import threading

        got = [0]

        def drain() -> None:
            s.settimeout(None)
            while True:
                try:
                    chunk = s.recv(1 << 16)
                except OSError:
                    return
                if not chunk:
                    return
                got[0] += len(chunk)

        threading.Thread(target=drain, daemon=True).start()
    if scenario in ("ping-read", "ping-noread"):
        unit = _stack.frame(0x9, b"p" * 125) * 512
    elif scenario == "ping-empty":
        unit = _stack.frame(0x9) * 8192
    elif scenario == "pong":
        unit = _stack.frame(0xA, b"q" * 125) * 512
    elif scenario == "cont-empty":
        s.sendall(_stack.frame(0x1, b"{", fin=False))
        unit = _stack.frame(0x0, b"", fin=False) * 8192
    elif scenario == "cont-tiny":
        s.sendall(_stack.frame(0x1, b"{", fin=False))
        unit = _stack.frame(0x0, b"x", fin=False) * 8192
    elif scenario == "tiny-flood":
        unit = _stack.text("{}") * 8192
    elif scenario == "big-flood":
        big = bytes(range(256)) * 47
        unit = b"".join(_stack.text(_stack.media_msg(i, "MZattack", payload=big, timestamp=i * 1504)) for i in range(64))
    elif scenario == "media-flood":
        unit = b"".join(_stack.text(_stack.media_msg(i, "MZattack")) for i in range(200))
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    sent = 0
    t_end = time.monotonic() + seconds
    s.settimeout(1.0)
    while time.monotonic() < t_end:
        try:
            s.sendall(unit)
            sent += len(unit)
        except TimeoutError:
            continue
        except OSError as exc:
            out.put(("attacker", f"socket error after {sent} bytes: {exc!r}"))
            break
    out.put(("attacker", f"sent {sent} bytes in {seconds:g} s"))
    time.sleep(0.5)
    s.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--clients", type=int, default=1, help="attacking connections (each its own process)")
    args = ap.parse_args()
    with _stack.stack() as (port, log, _bridge):
        out: mp.Queue = mp.Queue()
        time.sleep(0.3)
        before = _stack.rss_series(log)[-1]
        procs = [mp.Process(target=attacker, args=(port, args.scenario, args.seconds, out)) for _ in range(args.clients)]
        for proc in procs:
            proc.start()
        time.sleep(0.3)
        result = asyncio.run(_stack.honest_call(port, args.seconds - 1))
        for proc in procs:
            proc.join(args.seconds + 10)
        time.sleep(1.0)
        series = _stack.rss_series(log)
        during = [r for r in series if r[0] >= before[0]]
        peak = max(r[1] for r in during)
        after = series[-1]
        print(f"scenario {args.scenario}")
        while not out.empty():
            print(*out.get())
        print("honest:", {k: (round(v, 2) if isinstance(v, float) else v) for k, v in result.items()})
        print(f"bridge RSS before {before[1] / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB, after {after[1] / 2**20:.1f} MiB; "
              f"CPU {after[2] - before[2]:.2f} s over {after[0] - before[0]:.1f} s")
        print("\n".join(line for line in _stack.log_lines(log) if "audiofmt.bridge " in line or "ERROR" in line)[-2000:])


if __name__ == "__main__":
    main()
