"""A caller that keeps sending media (at the real-time rate, or 2x with 40 ms frames) but never
reads what the bridge sends back (SO_RCVBUF 4 KiB): does the call end with send_timeout, and when?

    python bench/hostile/half_open.py [--send-timeout 2] [--payload 320]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _stack


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--send-timeout", type=float, default=2.0)
    ap.add_argument("--payload", type=int, default=160, help="μ-law bytes per media message (20 ms each)")
    ap.add_argument("--max-seconds", type=float, default=90.0)
    args = ap.parse_args()
    with _stack.stack({"send_timeout_s": args.send_timeout}) as (port, log, _bridge):
        s, _ = _stack.raw_connect(port, rcvbuf=4096)
        s.sendall(_stack.text(_stack.CONNECTED) + _stack.text(_stack.start_msg("MZhalf")))
        s.settimeout(0.2)
        t0 = time.monotonic()
        i = 0
        ended = None
        while time.monotonic() - t0 < args.max_seconds:
            payload = bytes((i + k) % 256 for k in range(args.payload))
            try:
                s.sendall(_stack.text(_stack.media_msg(i, "MZhalf", payload=payload, timestamp=i * args.payload // 8)))
            except (TimeoutError, OSError):
                pass
            i += 1
            time.sleep(0.02)
            if i % 25 == 0:
                lines = [line for line in _stack.log_lines(log) if "ended (" in line]
                if lines:
                    ended = lines[0]
                    break
        print(f"after {time.monotonic() - t0:.1f} s and {i} media messages:", ended[24:] if ended else "call still running")
        series = _stack.rss_series(log)
        print(f"bridge RSS {series[0][1] / 2**20:.1f} -> {max(r[1] for r in series) / 2**20:.1f} MiB")
        s.close()


if __name__ == "__main__":
    main()
