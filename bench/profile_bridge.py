"""Run `audiofmt bridge` under cProfile with a CPU-time clock, for bench/bridge_e2e_load.py.

    python bench/bridge_e2e_load.py --relays audiofmt --steps 25 --no-refine --formats g711_ulaw \\
        --bridge-cmd "python bench/profile_bridge.py --out /tmp/bridge.prof --"
    python bench/profile_bridge.py --report /tmp/bridge.prof

The clock is time.process_time (the process's own CPU, user + kernel), not wall time, so time the
process spends runnable-but-waiting on a busy machine is not counted anywhere; socket send and
recv calls (C functions, which cProfile times too) carry the kernel's share of loopback TCP.
cProfile's own overhead inflates Python-heavy code more than C calls: read shares, not µs.
The bridge stops on SIGTERM (what the load bench sends); the profile is written then. Profile
below the bridge's capacity (cProfile roughly doubles its CPU): e.g. 25 calls.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import signal
import sys
import time
from collections import defaultdict


def _group(filename: str, name: str) -> str:
    """A profile entry -> the layer it belongs to."""
    if filename == "~":  # a C function: name looks like "<method 'send' of '_socket.socket' objects>"
        if "_socket.socket" in name:
            return "socket syscalls (send/recv: kernel loopback TCP)"
        if "picows" in name:
            return "picows (C: framing, send)"
        if "uvloop" in name:
            return "uvloop (C)"
        if "select.epoll" in name:
            return "epoll"
        if "json" in name or "_json" in name:
            return "json (C)"
        if "binascii" in name:
            return "base64 (C)"
        if "numpy" in name or "numba" in name:
            return "numpy / numba (C)"
        return "other C builtins"
    for key, label in (("/websockets/", "websockets (Python)"), ("/asyncio/", "asyncio (Python)"), ("/json/", "json (Python)"),
                       ("base64.py", "base64 (Python)"), ("/audiofmt/", "audiofmt (core, codecs, resampler, server)"),
                       ("/numpy/", "numpy (Python)"), ("/numba/", "numba dispatch (Python)")):
        if key in filename:
            return label
    return "other Python"


def report(path: str, top: int = 25) -> None:
    stats = pstats.Stats(path)
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    groups: dict[str, float] = defaultdict(float)
    for (filename, _line, name), value in stats.stats.items():  # type: ignore[attr-defined]
        groups[_group(filename, name)] += value[2]
    print(f"{total:.2f} CPU-s profiled (self time by layer)\n")
    print("| layer | self CPU share |\n|---|---|")
    for label, seconds in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"| {label} | {seconds / total:.1%} |")
    print("\n| function | calls | self CPU share | inclusive share |\n|---|---|---|---|")
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]  # type: ignore[attr-defined]
    for (filename, line, name), (_cc, calls, tt, ct, _callers) in rows:
        where = filename.rsplit("/", 2)[-1] if filename != "~" else "C"
        print(f"| `{name}` ({where}:{line}) | {calls:,} | {tt / total:.1%} | {ct / total:.1%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="write the profile here when the bridge stops")
    parser.add_argument("--report", help="print a profile written earlier")
    parser.add_argument("bridge_args", nargs=argparse.REMAINDER, help="-- then the `audiofmt bridge` arguments")
    args = parser.parse_args()
    if args.report:
        report(args.report)
        return
    from audiofmt.cli import main as cli_main

    bridge_args = [a for a in args.bridge_args if a != "--"]
    profile = cProfile.Profile(time.process_time)

    def stop(signum: int, frame: object) -> None:  # write the profile now: shutting 50 calls down can outlast the bench's wait
        profile.disable()
        if args.out:
            profile.dump_stats(args.out)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    profile.enable()
    try:
        cli_main(["bridge", *bridge_args])
    except KeyboardInterrupt:
        pass
    finally:
        profile.disable()
        if args.out:
            profile.dump_stats(args.out)
    sys.exit(0)


if __name__ == "__main__":
    main()
