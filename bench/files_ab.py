"""Two versions of the `audiofmt` command and ffmpeg, interleaved: CPU and wall time per conversion.

    .venv/bin/python bench/files_ab.py --before /path/to/old/audiofmt [--after .venv/bin/audiofmt] [--rounds 5]

On a shared machine the load changes from minute to minute, so the versions run in turn, round
after round, and each is reported by its best and median. CPU time is the process's user +
system time (os.wait4), which other load disturbs far less than wall time. The inputs are made in
a temporary directory: 10 min of 44.1 kHz stereo FLAC (from the speech fixture, as in
compare_files.py), 1 s of 48 kHz stereo WAV and 1 s of 8 kHz stereo WAV. Outputs of the two
versions are compared byte for byte.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_files import speech, write_looped


def timed(cmd: list[str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one process; raises if it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed")
    return usage.ru_utime + usage.ru_stime, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, metavar="PATH", help="the other version's audiofmt command")
    parser.add_argument("--after", default=str(Path(sys.executable).parent / "audiofmt"), metavar="PATH")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--minutes", type=float, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="audiofmt-ab-") as name:
        tmp = Path(name)
        write_looped(tmp / "in.flac", speech(44100), 44100, args.minutes * 60, "FLAC")
        sf.write(tmp / "one48.wav", speech(48000)[:48000], 48000, subtype="PCM_16")
        t = np.arange(8000) / 8000
        sf.write(tmp / "one8.wav", np.stack([0.5 * np.sin(2 * np.pi * 440 * t)] * 2, axis=1), 8000, subtype="PCM_16")
        cases = {
            f"{args.minutes:g} min 44.1 kHz stereo FLAC → pcm16": ("in.flac", "pcm16", 24000),
            f"{args.minutes:g} min 44.1 kHz stereo FLAC → g711_ulaw": ("in.flac", "g711_ulaw", 8000),
            "1 s 48 kHz stereo WAV → pcm16": ("one48.wav", "pcm16", None),
            "1 s 8 kHz stereo WAV → g711_ulaw": ("one8.wav", "g711_ulaw", None),
        }
        versions = {"before": args.before, "after": args.after}
        for exe in versions.values():  # warm numba's cache for every kind
            for source, to, _ in cases.values():
                timed([exe, "convert", str(tmp / source), "-o", str(tmp / "warm.raw"), "--container", "raw", "--to", to, "-q", "-y"])
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(args.rounds):
            for case, (source, to, ffmpeg_rate) in cases.items():
                for version, exe in versions.items():
                    out = tmp / f"{version}.raw"
                    results.setdefault((case, version), []).append(
                        timed([exe, "convert", str(tmp / source), "-o", str(out), "--container", "raw", "--to", to, "-q", "-y"]))
                if ffmpeg_rate:
                    fmt = ["-f", "s16le"] if to == "pcm16" else ["-f", "mulaw"]
                    results.setdefault((case, "ffmpeg"), []).append(timed(
                        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(tmp / source), "-ac", "1", "-ar", str(ffmpeg_rate),
                         *fmt, str(tmp / "ffmpeg.raw")]))
                same = (tmp / "before.raw").read_bytes() == (tmp / "after.raw").read_bytes()
                if not same:
                    print(f"OUTPUTS DIFFER: {case}")
        print(f"best / median of {args.rounds} rounds; load average {os.getloadavg()[0]:.1f} at the end\n")
        print("| conversion | version | CPU best | CPU median | wall best | wall median |")
        print("| --- | --- | --- | --- | --- | --- |")
        for (case, version), runs in results.items():
            cpu, wall = [c for c, _ in runs], [w for _, w in runs]
            print(f"| {case} | {version} | {min(cpu):.3f} s | {statistics.median(cpu):.3f} s | "
                  f"{min(wall):.3f} s | {statistics.median(wall):.3f} s |")


if __name__ == "__main__":
    main()
