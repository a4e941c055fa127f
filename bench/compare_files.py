"""File conversion with the `audiofmt` command against ffmpeg: wall and CPU time, peak memory, start-up, batch.

    python bench/compare_files.py [--minutes 10] [--long-minutes 60] [--skip-long] [--repeat 3] [--json OUT]
                                  [--audiofmt PATH]   # another version's command, for before/after

Every input is generated into a temporary directory (deleted at the end) from the bundled speech
fixtures, looped with a different gain per loop. Every measurement is a fresh subprocess, timed
from Popen to os.wait4; its peak RSS is the ru_maxrss wait4 returns (Linux: KiB, the maximum over
the child and the descendants it reaped, e.g. the worker processes of `-j 2`, not their sum).
Linux also carries the parent's peak RSS into a child's ru_maxrss at exec (a child of a process
that once held 400 MB reports >= 400 MB), so children are started by a small launcher process
(plain Python, no numpy) and the floor this leaves (`true` through the launcher) is printed.
CPU time is the child's user + system time (rusage): on a shared machine it is disturbed far
less than wall time by other processes, so it is printed beside it.
The numba cache is warmed by short conversions of every kind before anything is timed.

  1. --minutes of 44.1 kHz stereo FLAC (PCM_16) -> 24 kHz pcm16 WAV and -> 8 kHz μ-law raw:
     audiofmt vs ffmpeg (default swresample) vs ffmpeg with aresample=resampler=soxr, best of
     --repeat; target audiofmt <= 1.5x ffmpeg (issue 12 item 13; 1.0x later).
  2. --long-minutes of 48 kHz stereo WAV -> pcm16 WAV: wall time and peak RSS; target <= 150 MB.
  3. Start-up, warm numba cache, best and median of 5 processes: the time before the first
     output sample (the command writes raw samples into a FIFO; the first byte's arrival is
     timed from the start of the process) for a 1 s 48 kHz stereo WAV and for the FLAC of part 1,
     and the whole command on the 1 s file; target <= 0.5 s to the first sample.
  4. Batch: 200 two-second files -> g711_ulaw with -j 1 and -j 2; target speed-up >= 1.7x;
     the two output directories must be byte-identical.
Output lengths are checked against the length rule round_half_up(frames * out_rate / in_rate).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
AUDIOFMT = str(Path(sys.executable).parent / "audiofmt") if (Path(sys.executable).parent / "audiofmt").exists() \
    else shutil.which("audiofmt") or "audiofmt"
FFMPEG = ["ffmpeg", "-nostdin", "-v", "error", "-y"]

LAUNCHER = r"""
import json, os, subprocess, sys, time
for line in sys.stdin:
    cmd = json.loads(line)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read()  # to EOF, i.e. until the child exits; then reap it
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    print(json.dumps([wall, usage.ru_maxrss, proc.returncode, err.decode(errors="replace")[-2000:], cpu]), flush=True)
"""
_launcher: subprocess.Popen | None = None


def run(cmd: list[str], cpu: list[float] | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one child process (its CPU seconds appended to `cpu`
    if given); raises if it fails."""
    global _launcher
    if _launcher is None:
        _launcher = subprocess.Popen([sys.executable, "-S", "-c", LAUNCHER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
    _launcher.stdin.write(json.dumps(cmd) + "\n")
    _launcher.stdin.flush()
    wall, maxrss, code, err, cpu_s = json.loads(_launcher.stdout.readline())
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])} ... exited {code}: {err.strip()}")
    if cpu is not None:
        cpu.append(cpu_s)
    return wall, maxrss


def best_of(cmd: list[str], repeat: int) -> dict[str, float]:
    cpu: list[float] = []
    runs = [run(cmd, cpu) for _ in range(repeat)]
    return {"s": min(w for w, _ in runs), "median_s": statistics.median(w for w, _ in runs),
            "cpu_s": min(cpu), "rss_mib": max(r for _, r in runs) / 1024}


def length_rule(n: int, rate_in: int, rate_out: int) -> int:
    return (2 * n * rate_out + rate_in) // (2 * rate_in)  # round half up, exact in integers


def speech(rate: int) -> np.ndarray:
    """The 2 s stereo speech fixture at `rate`, float32 (frames, 2)."""
    x, fs = sf.read(FIXTURES / "speech_48k_stereo.flac", dtype="float32", always_2d=True)
    if fs != rate:
        import soxr  # bench extra

        x = soxr.resample(x, fs, rate, quality="VHQ").astype(np.float32)
    return x


def write_looped(path: Path, clip: np.ndarray, rate: int, seconds: float, fmt: str) -> int:
    """Loop `clip` to `seconds` with a slowly changing gain per loop, written block by block."""
    total, done, i = round(seconds * rate), 0, 0
    with sf.SoundFile(path, "w", rate, clip.shape[1], "PCM_16", format=fmt) as out:
        while done < total:
            piece = clip[: total - done] * np.float32(0.55 + 0.4 * np.sin(0.7 * i))
            out.write(piece)
            done, i = done + piece.shape[0], i + 1
    return total


def busy_fraction(seconds: float = 2.0) -> float:
    """Fraction of all CPUs busy over `seconds` while this benchmark runs nothing (Linux /proc/stat)."""
    try:
        a = [int(v) for v in Path("/proc/stat").read_text().split()[1:9]]
        time.sleep(seconds)
        b = [int(v) for v in Path("/proc/stat").read_text().split()[1:9]]
    except OSError:
        return float("nan")
    delta = [y - x for x, y in zip(a, b)]
    return 1 - (delta[3] + delta[4]) / max(sum(delta), 1)  # idle + iowait


def quiet(busy: float) -> str:
    note = " (other processes are using the CPUs: timings and -j speed-ups suffer)" if busy > 0.05 else ""
    return f"CPUs {busy:.0%} busy with other work{note}"


def table(head: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(head) + " |")
    print("|" + " --- |" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()


def snr_db(ref: np.ndarray, x: np.ndarray) -> float:
    n = min(ref.shape[0], x.shape[0])
    ref, x = ref[:n].astype(np.float64), x[:n].astype(np.float64)
    return 10 * np.log10(np.sum(ref**2) / max(np.sum((ref - x) ** 2), 1e-30))


def bench_flac(tmp: Path, minutes: float, repeat: int, results: dict) -> None:
    src = tmp / "in.flac"
    frames = write_looped(src, speech(44100), 44100, minutes * 60, "FLAC")
    seconds = frames / 44100
    print(f"## {minutes:g} min of 44.1 kHz stereo FLAC ({src.stat().st_size / 2**20:.1f} MiB), best of {repeat}\n")
    soxr_af = ["-af", "aresample=resampler=soxr"]
    jobs = {
        "pcm16 WAV 24 kHz": (
            ("audiofmt", [AUDIOFMT, "convert", str(src), "-o", str(tmp / "a.wav"), "--to", "pcm16", "-q", "-y"]),
            ("ffmpeg", [*FFMPEG, "-i", str(src), "-ac", "1", "-ar", "24000", str(tmp / "f.wav")]),
            ("ffmpeg soxr", [*FFMPEG, "-i", str(src), "-ac", "1", *soxr_af, "-ar", "24000", str(tmp / "s.wav")]),
        ),
        "μ-law raw 8 kHz": (
            ("audiofmt", [AUDIOFMT, "convert", str(src), "-o", str(tmp / "a.ulaw"), "--to", "g711_ulaw", "-q", "-y"]),
            ("ffmpeg", [*FFMPEG, "-i", str(src), "-ac", "1", "-ar", "8000", "-f", "mulaw", str(tmp / "f.ulaw")]),
            ("ffmpeg soxr", [*FFMPEG, "-i", str(src), "-ac", "1", *soxr_af, "-ar", "8000", "-f", "mulaw", str(tmp / "s.ulaw")]),
        ),
    }
    rows, out = [], {}
    for target, tools in jobs.items():
        timed = {name: best_of(cmd, repeat) for name, cmd in tools}
        out[target] = timed
        for name, t in timed.items():
            ratios = [f"{timed['audiofmt']['s'] / timed[p]['s']:.2f}×" for p in ("ffmpeg", "ffmpeg soxr")] \
                if name == "audiofmt" else ["", ""]
            cpu_ratio = f"{timed['audiofmt']['cpu_s'] / timed['ffmpeg']['cpu_s']:.2f}×" if name == "audiofmt" else ""
            ok = "✓" if timed["audiofmt"]["s"] <= 1.5 * timed["ffmpeg"]["s"] else "misses"
            rows.append([target, name, f"{t['s']:.2f} s", f"{seconds / t['s']:.0f}×", *ratios,
                         ok if name == "audiofmt" else "", f"{t['cpu_s']:.2f} s", cpu_ratio, f"{t['rss_mib']:.0f} MiB"])
    table(["output", "tool", "wall (best)", "× realtime", "audiofmt / ffmpeg", "audiofmt / ffmpeg soxr",
           "≤ 1.5× ffmpeg", "CPU (best)", "CPU audiofmt / ffmpeg", "peak RSS"], rows)

    # sanity: lengths by the rule, and agreement with ffmpeg+soxr (ffmpeg's -ac 1 also averages L and R)
    want_24k, want_8k = length_rule(frames, 44100, 24000), length_rule(frames, 44100, 8000)
    got = {"audiofmt": sf.info(tmp / "a.wav").frames, "ffmpeg": sf.info(tmp / "f.wav").frames,
           "ffmpeg soxr": sf.info(tmp / "s.wav").frames}
    got_8k = {n: (tmp / f"{k}.ulaw").stat().st_size for n, k in (("audiofmt", "a"), ("ffmpeg", "f"), ("ffmpeg soxr", "s"))}
    assert sf.info(tmp / "a.wav").samplerate == 24000 and sf.info(tmp / "a.wav").channels == 1
    assert got["audiofmt"] == want_24k, (got, want_24k)
    assert got_8k["audiofmt"] == want_8k, (got_8k, want_8k)
    agree = snr_db(sf.read(tmp / "s.wav", dtype="int16")[0], sf.read(tmp / "a.wav", dtype="int16")[0])
    out["check"] = {"frames_in": frames, "samples_24k": got, "expected_24k": want_24k,
                    "bytes_8k": got_8k, "expected_8k": want_8k, "snr_vs_ffmpeg_soxr_db": agree}
    print(f"Lengths: {frames} frames in → audiofmt {got['audiofmt']} samples at 24 kHz (rule: {want_24k}) and "
          f"{got_8k['audiofmt']} μ-law bytes (rule: {want_8k}); ffmpeg {got['ffmpeg']} / {got_8k['ffmpeg']}, "
          f"ffmpeg soxr {got['ffmpeg soxr']} / {got_8k['ffmpeg soxr']}. audiofmt vs ffmpeg soxr 24 kHz: "
          f"SNR {agree:.1f} dB.\n")
    results["flac"] = out


def bench_long(tmp: Path, minutes: float, results: dict) -> None:
    src = tmp / "long.wav"
    start = time.perf_counter()
    frames = write_looped(src, speech(48000), 48000, minutes * 60, "WAV")
    made = time.perf_counter() - start
    wall, rss = run([AUDIOFMT, "convert", str(src), "-o", str(tmp / "long_out.wav"), "--to", "pcm16", "-q", "-y"])
    n_out = sf.info(tmp / "long_out.wav").frames
    assert n_out == length_rule(frames, 48000, 24000), n_out
    for done in (src, tmp / "long_out.wav"):  # 0.9 GB; free the disk before the next part
        done.unlink()
    print(f"## {minutes:g} min of 48 kHz stereo WAV → pcm16 WAV (input {frames * 4 / 2**20:.0f} MiB, written in {made:.0f} s)\n")
    table(["wall", "× realtime", "peak RSS", "target ≤ 150 MB"],
          [[f"{wall:.1f} s", f"{frames / 48000 / wall:.0f}×", f"{rss / 1024:.0f} MiB ({rss * 1024 / 1e6:.0f} MB)",
            "✓" if rss * 1024 <= 150e6 else "misses"]])
    results["long"] = {"minutes": minutes, "s": wall, "rss_mib": rss / 1024, "samples_out": n_out}


def first_sample(args: list[str], fifo: Path) -> tuple[float, float, float]:
    """`audiofmt convert ARGS -o FIFO`: seconds from the start of the process to the first byte of
    output in the FIFO, to its exit, and its CPU seconds."""
    start = time.perf_counter()
    proc = subprocess.Popen([AUDIOFMT, "convert", *args, "-o", str(fifo), "--container", "raw", "-q", "-y"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # no writer yet: poll until the command writes
    first, n_bytes = None, 0
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 0.002)
            if ready:
                try:
                    data = os.read(fd, 1 << 20)
                except BlockingIOError:
                    continue
                if data and first is None:
                    first = time.perf_counter() - start
                n_bytes += len(data)
                if not data and first is not None:
                    break  # the writer closed the FIFO
                if not data:  # no writer yet (a FIFO then reads as at its end): wait, not spin on a CPU
                    time.sleep(0.001)
            if proc.poll() is not None and not ready:
                break
    finally:
        os.close(fd)
    _, status, usage = os.wait4(proc.pid, 0)
    total = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0 or first is None or not n_bytes:
        raise RuntimeError(f"audiofmt convert {' '.join(args)} -o FIFO failed: {err.strip()}")
    return first, total, usage.ru_utime + usage.ru_stime


def bench_startup(tmp: Path, results: dict) -> None:
    one = tmp / "one_second.wav"
    sf.write(one, speech(48000)[:48000], 48000, subtype="PCM_16")
    fifo = tmp / "out.fifo"
    os.mkfifo(fifo)
    cases = {"1 s 48 kHz stereo WAV → pcm16": [str(one), "--to", "pcm16"],
             "1 s 48 kHz stereo WAV → g711_ulaw": [str(one), "--to", "g711_ulaw"]}
    if (tmp / "in.flac").exists():
        minutes = sf.info(tmp / "in.flac").frames / 44100 / 60
        cases[f"{minutes:g} min 44.1 kHz stereo FLAC → pcm16"] = [str(tmp / "in.flac"), "--to", "pcm16"]
    print("## Start-up: time before the first output sample, warm numba cache, 5 processes\n")
    rows = []
    for name, args in cases.items():
        runs = [first_sample(args, fifo) for _ in range(5)]
        firsts = [f for f, _, _ in runs]
        rows.append([name, f"{min(firsts):.3f} s", f"{statistics.median(firsts):.3f} s",
                     "✓" if min(firsts) <= 0.5 else "misses", f"{min(t for _, t, _ in runs):.3f} s",
                     f"{min(c for _, _, c in runs):.3f} s"])
        results.setdefault("first_sample", {})[name] = {"best_s": min(firsts), "median_s": statistics.median(firsts),
                                                       "exit_best_s": min(t for _, t, _ in runs),
                                                       "cpu_best_s": min(c for _, _, c in runs)}
    table(["conversion", "first sample (best)", "median", "≤ 0.5 s", "exit (best)", "CPU (best)"], rows)

    cli_cpu: list[float] = []
    cli = [run([AUDIOFMT, "convert", str(one), "-o", str(tmp / "x.pcm"), "--to", "pcm16", "-q", "-y"], cli_cpu) for _ in range(5)]
    imp = [run([sys.executable, "-c", "import audiofmt"]) for _ in range(5)]
    nb = [run([sys.executable, "-c", "import numpy, numba"]) for _ in range(5)]
    bare = [run([sys.executable, "-c", "pass"]) for _ in range(5)]
    assert (tmp / "x.pcm").stat().st_size == 2 * 24000
    print("Whole processes (1 s 48 kHz stereo WAV → pcm16 raw), for comparison:\n")
    rows = []
    for name, runs in (("audiofmt convert", cli), ("python -c 'import audiofmt'", imp),
                       ("python -c 'import numpy, numba'", nb), ("python -c pass", bare)):
        walls = [w for w, _ in runs]
        rows.append([name, f"{min(walls):.3f} s", f"{statistics.median(walls):.3f} s",
                     f"{min(cli_cpu):.3f} s" if name == "audiofmt convert" else "",
                     f"{max(r for _, r in runs) / 1024:.0f} MiB"])
        results.setdefault("startup", {})[name] = {"best_s": min(walls), "median_s": statistics.median(walls)}
    table(["process", "best", "median", "CPU (best)", "peak RSS"], rows)


def bench_batch(tmp: Path, repeat: int, results: dict) -> None:
    clip, rate = sf.read(FIXTURES / "speech_16k_stereo_pcm16.wav", dtype="float32", always_2d=True)
    (tmp / "batch_in").mkdir()
    files = [str(tmp / "batch_in" / f"clip{i:03d}.wav") for i in range(200)]
    for i, name in enumerate(files):  # a different gain each, so no two files are the same
        sf.write(name, clip * np.float32(0.3 + 0.65 * i / 199), rate, subtype="PCM_16")
    timed, digests = {}, {}
    for jobs in (1, 2):
        outdir = tmp / f"batch_j{jobs}"
        timed[jobs] = best_of([AUDIOFMT, "convert", *files, "-d", str(outdir), "--to", "g711_ulaw", "-q", "-y", "-j", str(jobs)],
                              repeat)
        digests[jobs] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(outdir.iterdir())}
    identical = digests[1] == digests[2] and len(digests[1]) == 200
    sizes = {(tmp / "batch_j1" / name).stat().st_size for name in digests[1]}
    speedup = timed[1]["s"] / timed[2]["s"]
    print(f"## Batch: 200 × 2 s 16 kHz stereo WAV → g711_ulaw WAV, best of {repeat}\n")
    table(["-j", "wall (best)", "files/s", "speed-up", "≥ 1.7×", "peak RSS (largest process)"],
          [["1", f"{timed[1]['s']:.2f} s", f"{200 / timed[1]['s']:.0f}", "", "", f"{timed[1]['rss_mib']:.0f} MiB"],
           ["2", f"{timed[2]['s']:.2f} s", f"{200 / timed[2]['s']:.0f}", f"{speedup:.2f}×",
            "✓" if speedup >= 1.7 else "misses", f"{timed[2]['rss_mib']:.0f} MiB"]])
    print(f"Outputs: {len(digests[1])} files of {sorted(sizes)} bytes each; -j 1 and -j 2 "
          f"{'byte-identical' if identical else 'DIFFER'}.\n")
    results["batch"] = {"j1": timed[1], "j2": timed[2], "speedup": speedup, "identical": identical}
    if not identical:
        raise SystemExit("batch outputs differ between -j 1 and -j 2")


def warm_up(tmp: Path) -> None:
    """One short conversion of every kind timed below, so numba's on-disk cache is filled."""
    short44, short48 = tmp / "warm44.flac", tmp / "warm48.wav"
    sf.write(short44, speech(44100), 44100, subtype="PCM_16")
    sf.write(short48, speech(48000), 48000, subtype="PCM_16")
    for cmd in (
        [str(short44), "-o", str(tmp / "w.wav"), "--to", "pcm16"],
        [str(short44), "-o", str(tmp / "w.ulaw"), "--to", "g711_ulaw"],
        [str(short48), "-o", str(tmp / "w.pcm"), "--to", "pcm16"],
        [str(FIXTURES / "speech_16k_stereo_pcm16.wav"), "-o", str(tmp / "w16.wav"), "--to", "g711_ulaw"],
    ):
        run([AUDIOFMT, "convert", *cmd, "-q", "-y"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--long-minutes", type=float, default=60)
    parser.add_argument("--skip-long", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    parser.add_argument("--audiofmt", metavar="PATH", help="the audiofmt command to measure (default: this venv's)")
    args = parser.parse_args()
    if args.audiofmt:
        global AUDIOFMT
        AUDIOFMT = args.audiofmt
    results: dict = {"audiofmt": AUDIOFMT, "cpus": os.cpu_count(),
                     "ffmpeg": subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n")[0]}
    results["rss_floor_mib"] = run(["true"])[1] / 1024
    results["busy_at_start"] = busy_fraction()
    print(f"{results['ffmpeg']}; {os.cpu_count()} CPUs; {AUDIOFMT}; "
          f"peak-RSS floor of the launcher (`true`): {results['rss_floor_mib']:.1f} MiB; {quiet(results['busy_at_start'])}\n")
    try:
        with tempfile.TemporaryDirectory(prefix="audiofmt-bench-") as name:
            tmp = Path(name)
            warm_up(tmp)
            bench_flac(tmp, args.minutes, args.repeat, results)
            if not args.skip_long:
                bench_long(tmp, args.long_minutes, results)
            bench_startup(tmp, results)
            bench_batch(tmp, args.repeat, results)
        results["busy_at_end"] = busy_fraction()
        print(f"At the end: {quiet(results['busy_at_end'])}")
    finally:
        if _launcher is not None:
            _launcher.stdin.close()
            _launcher.wait()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
