#!/usr/bin/env python3
"""CPU cost of `Concealer` per 20 ms frame (µs), the figure a many-calls server pays per call.

    python bench/plc_speed.py [--repeats 7] [--frames 2000]

Fixture speech (fixtures/speech_8k.wav) in 20 ms frames through one Concealer; each case timed
over `--frames` frames, `--repeats` times, best and median shown (process CPU time, so other
load on the machine counts less, but a shared VM is still noisy):
- good: every frame received (the common case: a copy through the 30-sample delay line);
- lost, first: the first lost frame of a loss (pitch search + synthesis of two 10 ms units);
- lost, later: the 2nd–3rd lost 20 ms frames of a loss (fade, growing segment);
- recovery: the first good frame after a one-frame loss (cross-fade, then the delay line).
Kernels are compiled (or loaded from the cache) before timing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # make the in-repo `audiofmt` importable
    sys.path.insert(0, str(ROOT))

import soundfile as sf

from audiofmt.bridge.plc import Concealer

FRAME = 160


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--frames", type=int, default=2000)
    args = ap.parse_args(argv)
    x, rate = sf.read(ROOT / "fixtures" / "speech_8k.wav", dtype="int16")
    assert rate == 8000
    frames = x[: len(x) // FRAME * FRAME].reshape(-1, FRAME)
    n = args.frames
    picks = [frames[i % len(frames)].copy() for i in range(n)]

    c = Concealer(FRAME)
    for f in picks[:20]:  # compile / load the kernels, fill the history
        c.good(f)
    c.lost()
    c.lost()
    c.good(picks[0])

    def good() -> float:
        t = time.process_time()
        for f in picks:
            c.good(f)
        return time.process_time() - t

    def lost_first() -> float:
        total = 0.0
        for f in picks:
            c.good(f)
            t = time.process_time()
            c.lost()
            total += time.process_time() - t
        return total

    def lost_later() -> float:
        total = 0.0
        for i, f in enumerate(picks):
            if i % 4 == 0:
                c.good(f)
                c.lost()
            else:
                t = time.process_time()
                c.lost()
                total += time.process_time() - t
        return total * n / (n - (n + 3) // 4)

    def recovery() -> float:
        total = 0.0
        for f in picks:
            c.lost()
            t = time.process_time()
            c.good(f)
            total += time.process_time() - t
        return total

    print(f"`python bench/plc_speed.py --repeats {args.repeats} --frames {n}`: µs of process CPU per "
          f"20 ms frame, one Concealer\n")
    print("| case | best (µs) | median (µs) |")
    print("| --- | --- | --- |")
    for name, fn in (("good", good), ("lost, first of a loss", lost_first),
                     ("lost, 2nd-4th of a loss", lost_later), ("recovery (good after a loss)", recovery)):
        times = sorted(fn() / n * 1e6 for _ in range(args.repeats))
        print(f"| {name} | {times[0]:.1f} | {times[len(times) // 2]:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
