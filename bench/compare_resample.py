"""Resampler speed against its peers, measured in one run.

    python bench/compare_resample.py [--clock cpu] [--seconds 60] [--repeat 5] [--json OUT]

Peers (bench-only dependencies): soxr HQ and VHQ (python-soxr), scipy.signal.resample_poly,
audioop.ratecv (stdlib; audioop-lts on Python >= 3.13). Every implementation resamples the same
float32 white-noise signal (int16 bytes for audioop) for the seven ratios the README reports;
time is the best of --repeat runs after a warm-up, the runs of all implementations interleaved
round by round; throughput is input Msamples/s. Ratios are
soxr HQ time / audiofmt hq time (> 1 means audiofmt is faster).

Then, in the same run: one-shot resample() of 60 s of 44.1 kHz float32 and float64 noise to
24 kHz on 1 and on 2 threads (runs interleaved, always wall time, best of --thread-repeat), per
preset: the speed-up of the parallel one-shot path, with the cores the best 2-thread call got
(its CPU time / wall time) and the load average, so that a busy machine shows as such.
`--threads-only` runs just that table; `--no-threads` leaves it out.

Also measures the low_latency preset the way a telephony bridge uses it: one 20 ms frame per
process() call, µs per frame (minimum and median over 60 timing windows), for 8k -> 24k and
24k -> 8k, with float32 and float64 frames.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from collections.abc import Callable

import numpy as np

import audiofmt

RATIOS = [(8000, 24000), (16000, 24000), (22050, 24000), (44100, 24000), (48000, 24000), (96000, 24000), (24000, 8000)]


CLOCK = time.perf_counter  # --clock cpu: time.process_time (CPU seconds of this process)


def best_times(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Best time (s, wall or CPU per --clock) of `repeat` calls of each function after one
    warm-up call each.

    The calls are interleaved (one of each per round), so a slow spell of a shared VM hits
    every implementation alike instead of whichever happened to be running.
    """
    for fn in fns.values():
        fn()
    best = dict.fromkeys(fns, math.inf)
    for _ in range(repeat):
        for name, fn in fns.items():
            start = CLOCK()
            fn()
            best[name] = min(best[name], CLOCK() - start)
    return best


def peers(in_rate: int, out_rate: int) -> dict[str, Callable[[np.ndarray], object]]:
    """name -> one-shot resampler of a float32 signal, for the peers that are installed."""
    found: dict[str, Callable[[np.ndarray], object]] = {
        f"audiofmt {q}": (lambda x, q=q: audiofmt.resample(x, in_rate, out_rate, q, threads=1)) for q in ("hq", "vhq", "low_latency")
    }

    def scipy_fft_hq(x: np.ndarray) -> object:  # hq with scipy.fft instead of numpy.fft: what scipy would gain
        from audiofmt.resampler import fft as _fft

        _fft.BACKEND = "scipy"
        try:
            return audiofmt.resample(x, in_rate, out_rate, "hq", threads=1)
        finally:
            _fft.BACKEND = "numpy"

    try:
        import scipy.fft  # noqa: F401

        found["audiofmt hq scipy.fft"] = scipy_fft_hq
    except ImportError:
        pass
    try:
        import soxr

        found["soxr HQ"] = lambda x: soxr.resample(x, in_rate, out_rate, "HQ")
        found["soxr VHQ"] = lambda x: soxr.resample(x, in_rate, out_rate, "VHQ")
    except ImportError:
        pass
    try:
        from scipy.signal import resample_poly

        g = math.gcd(in_rate, out_rate)
        found["scipy resample_poly"] = lambda x: resample_poly(x, out_rate // g, in_rate // g)
    except ImportError:
        pass
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import audioop

        found["audioop.ratecv"] = lambda x: audioop.ratecv(
            (x * 32767).astype("<i2").tobytes(), 2, 1, in_rate, out_rate, None
        )
    except ImportError:
        pass
    return found


def frame_cost_us(in_rate: int, out_rate: int, dtype: type, windows: int = 60, per_window: int = 200) -> tuple[float, float]:
    """(min, median) µs per 20 ms frame through a streaming low_latency Resampler (steady state).

    Timed over `windows` runs of `per_window` frames each: on a noisy VM the minimum is the
    machine's cost, the median what a busy neighbour leaves of it.
    """
    frame = (np.random.default_rng(1).standard_normal(in_rate // 50) * 0.1).astype(dtype)
    stream = audiofmt.Resampler(in_rate, out_rate, "low_latency")
    for _ in range(50):
        stream.process(frame)
    costs = []
    for _ in range(windows):
        start = time.perf_counter()
        for _ in range(per_window):
            stream.process(frame)
        costs.append((time.perf_counter() - start) / per_window * 1e6)
    costs.sort()
    return costs[0], costs[len(costs) // 2]


def threads_table(seconds: float, repeat: int) -> dict[str, float]:
    """Print the one-shot speed-up of 2 threads over 1 (44.1 kHz -> 24 kHz, `seconds` of noise),
    timed by the wall clock whatever --clock says (CPU time would count both threads); returns
    the speed-ups by "preset dtype"."""
    global CLOCK
    clock, CLOCK = CLOCK, time.perf_counter
    try:
        return _threads_table(seconds, repeat)
    finally:
        CLOCK = clock


def _threads_table(seconds: float, repeat: int) -> dict[str, float]:
    speedups: dict[str, float] = {}
    rng = np.random.default_rng(3)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(f"one-shot 44100 -> 24000, {seconds:g} s of noise, best of {repeat}, 1 vs 2 threads (interleaved); "
          f"load average before: {load}")
    print("| preset | dtype | 1 thread Msamples/s | 2 threads Msamples/s | speed-up | cores the best 2-thread call got |")
    print("|---|---|---|---|---|---|")
    for dtype in (np.float32, np.float64):
        x = (rng.standard_normal(int(44100 * seconds)) * 0.1).astype(dtype)
        for q in ("hq", "low_latency", "vhq"):
            best = {1: (math.inf, 0.0), 2: (math.inf, 0.0)}  # threads -> (wall s, CPU s) of the fastest call
            for n in (1, 2):
                audiofmt.resample(x, 44100, 24000, q, threads=n)  # warm-up
            for _ in range(repeat):
                for n in (1, 2):
                    wall, cpu = time.perf_counter(), time.process_time()
                    audiofmt.resample(x, 44100, 24000, q, threads=n)
                    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                    if wall < best[n][0]:
                        best[n] = (wall, cpu)
            one, two = x.shape[0] / best[1][0] / 1e6, x.shape[0] / best[2][0] / 1e6
            cores = best[2][1] / best[2][0]
            print(f"| {q} | {np.dtype(dtype).name} | {one:.1f} | {two:.1f} | {two / one:.2f}x | {cores:.2f} |")
            speedups[f"{q} {np.dtype(dtype).name}"] = two / one
    print("(cores = CPU time / wall time of that call: near 1.0 means the other core was busy with other work "
          "and no speed-up was possible)")
    return speedups


def throughput_table(results: dict[str, dict[str, float]]) -> float:
    """Print the throughput table; returns the geometric mean of hq / soxr HQ."""
    names = list(next(iter(results.values())))
    print("| ratio | " + " | ".join(names) + " | hq / soxr HQ | vhq / soxr VHQ |")
    print("|---" * (len(names) + 3) + "|")
    hq_ratios, vhq_ratios = [], []
    for key, row in results.items():
        hq = row["audiofmt hq"] / row["soxr HQ"] if {"audiofmt hq", "soxr HQ"} <= row.keys() else math.nan
        vhq = row["audiofmt vhq"] / row["soxr VHQ"] if {"audiofmt vhq", "soxr VHQ"} <= row.keys() else math.nan
        hq_ratios.append(hq)
        vhq_ratios.append(vhq)
        cells = " | ".join(f"{row[n]:.1f}" for n in names)
        print(f"| {key} | {cells} | {hq:.2f}x | {vhq:.2f}x |")
    geo = math.exp(sum(math.log(r) for r in hq_ratios) / len(hq_ratios))
    geo_v = math.exp(sum(math.log(r) for r in vhq_ratios) / len(vhq_ratios))
    print(f"\nthroughput in input Msamples/s; geometric mean hq / soxr HQ = {geo:.2f}x (min {min(hq_ratios):.2f}x), "
          f"vhq / soxr VHQ = {geo_v:.2f}x (min {min(vhq_ratios):.2f}x)")
    return geo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="signal length in seconds (default 60)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--thread-repeat", type=int, default=15,
                        help="calls of each kind for the 1 vs 2 thread table (best of; default 15: its ~10 ms "
                        "calls on a shared machine need more tries than the throughput table's)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--frames-only", action="store_true", help="only the low_latency 20 ms frame costs")
    parser.add_argument("--threads-only", action="store_true", help="only the 1 vs 2 thread one-shot speed-up")
    parser.add_argument("--no-threads", action="store_true", help="leave out the 1 vs 2 thread one-shot speed-up")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: time each single-threaded call by this process's CPU time, which a machine "
                        "overloaded by other processes inflates far less than wall time (not for --threads-only)")
    parser.add_argument("--peers", help="comma list of the implementations to run (default: all installed; "
                        "'audiofmt hq' and 'soxr HQ' are needed for the ratio column)")
    args = parser.parse_args()
    global CLOCK
    if args.clock == "cpu":
        CLOCK = time.process_time  # the threads table times by the wall clock whatever this says
    wanted = set(args.peers.split(",")) if args.peers else set(peers(8000, 24000))
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.processor() or platform.machine()}")
    print(f"signal: {args.seconds:g} s of float32 white noise per ratio; best of {args.repeat}; {args.clock} time\n")
    if args.threads_only:
        threads_table(args.seconds, args.thread_repeat)
        return
    results: dict[str, dict[str, float]] = {}
    rng = np.random.default_rng(0)
    for in_rate, out_rate in [] if args.frames_only else RATIOS:
        x = (rng.standard_normal(int(in_rate * args.seconds)) * 0.1).astype(np.float32)
        key = f"{in_rate}->{out_rate}"
        calls = {name: (lambda fn=fn, x=x: fn(x)) for name, fn in peers(in_rate, out_rate).items() if name in wanted}
        results[key] = {name: x.shape[0] / t / 1e6 for name, t in best_times(calls, args.repeat).items()}
    geo = throughput_table(results) if results else math.nan
    frames = {
        f"{i}->{o} {np.dtype(dt).name}": frame_cost_us(i, o, dt)
        for i, o in ((8000, 24000), (24000, 8000))
        for dt in (np.float32, np.float64)
    }
    print("low_latency streaming, µs per 20 ms frame (min / median of 60 windows of 200 frames, wall time):")
    for key, (low, median) in frames.items():
        print(f"  {key}: {low:.2f} / {median:.2f}")
    speedups: dict[str, float] = {}
    if not (args.frames_only or args.no_threads):
        print()
        speedups = threads_table(60.0, args.thread_repeat)
    if args.json:
        with open(args.json, "w") as out:
            summary = {"throughput_msps": results, "geomean_hq_vs_soxr": geo, "frame_us": frames}
            json.dump({**summary, "two_thread_speedup": speedups}, out, indent=2)


if __name__ == "__main__":
    main()
