"""Peak memory (RSS) of `audiofmt` on long inputs: a 2 h MP3, a 2 h M4A, a WAV on stdin, and a
JSONL file whose one line is 1 GiB (decode and convert).

    python bench/memory_inputs.py [--workdir /tmp/audiofmt-mem] [--hours 2] [--line-gib 1]

Inputs are generated once with ffmpeg into the work directory (never the repository; ~2.5 GB of
disk) and reused on later runs. Every command runs in a fresh process; its peak RSS is
ru_maxrss from getrusage(RUSAGE_CHILDREN) after it exits (a new process per command, so each
maximum is that command's own). The target is 200 MB each.
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import time
from pathlib import Path

TARGET_MB = 200


def generate(work: Path, hours: float, line_gib: float) -> dict[str, Path]:
    seconds = int(hours * 3600)
    files = {"mp3": work / f"speech_{hours:g}h.mp3", "m4a": work / f"speech_{hours:g}h.m4a",
             "wav": work / "long_stdin.wav", "jsonl": work / f"one_line_{line_gib:g}gib.jsonl"}
    # a 44.1 kHz stereo tone at the bit rates of typical uploads (not silence, which encoders shrink)
    source = f"sine=frequency=300:sample_rate=44100:duration={seconds}"
    for key, codec in (("mp3", ["-c:a", "libmp3lame", "-b:a", "128k", "-compression_level", "9"]),
                       ("m4a", ["-c:a", "aac", "-b:a", "96k"])):
        if not files[key].exists():
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source, "-ac", "2", *codec, str(files[key])],
                           check=True)
    if not files["wav"].exists():  # 30 min of 48 kHz stereo 16-bit: 345 MB, as in the issue
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1800",
                        "-ac", "2", "-c:a", "pcm_s16le", str(files["wav"])], check=True)
    if not files["jsonl"].exists():
        target = int(line_gib * (1 << 30))
        piece = os.urandom(3 << 20)  # 3 MiB of "pcm16": its base64 is 4 MiB with no padding
        text = base64.b64encode(piece)
        with open(files["jsonl"], "wb") as out:
            out.write(b'{"type":"response.output_audio.delta","item_id":"item_1","content_index":0,"delta":"')
            out.writelines(text for _ in range(target // len(text)))
            out.write(b'"}\n')
    return files


def peak(command: list[str], stdin: Path | None = None) -> tuple[float, float, int]:
    """(peak RSS in MB, wall seconds, exit code) of one command in a fresh process."""
    child = ("import resource, subprocess, sys, time\n"
             "start = time.perf_counter()\n"
             "feed = open(sys.argv[1], 'rb') if sys.argv[1] else None\n"
             "code = subprocess.run(sys.argv[2:], stdin=feed, stdout=subprocess.DEVNULL).returncode\n"
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - start, code)\n")
    run = subprocess.run([sys.executable, "-c", child, str(stdin or ""), *command], capture_output=True, text=True, check=True)
    kib, wall, code = run.stdout.split()
    return int(kib) / 1024, float(wall), int(code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default="/tmp/audiofmt-mem")
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--line-gib", type=float, default=1.0)
    args = parser.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    files = generate(work, args.hours, args.line_gib)
    print(f"inputs ready in {time.perf_counter() - start:.0f} s: " + ", ".join(f"{p.name} {p.stat().st_size / 1e6:.0f} MB" for p in files.values()))
    cli = [sys.executable, "-m", "audiofmt"]
    out = str(work / "out.pcm")
    cases = [
        (f"convert {files['mp3'].name} (MP3, {args.hours:g} h)", [*cli, "convert", str(files["mp3"]), "-o", out, "-y", "--to", "pcm16"], None),
        (f"convert {files['m4a'].name} (AAC in M4A, {args.hours:g} h)", [*cli, "convert", str(files["m4a"]), "-o", out, "-y", "--to", "pcm16"], None),
        (f"convert - < {files['wav'].name} (WAV on stdin, 30 min)", [*cli, "convert", "-", "-o", out, "-y", "--to", "pcm16"], files["wav"]),
        (f"decode {files['jsonl'].name} (one {args.line_gib:g} GiB line)", [*cli, "decode", str(files["jsonl"]), "--from", "pcm16", "-o", out, "-y"], None),
        (f"convert {files['jsonl'].name} --raw-format pcm16", [*cli, "convert", str(files["jsonl"]), "--raw-format", "pcm16", "-o", out, "-y", "--to", "pcm16"], None),
        (f"info {files['mp3'].name}", [*cli, "info", str(files["mp3"])], None),
    ]
    print(f"{'command':<62} {'peak RSS':>9} {'wall':>8}  exit  (target <= {TARGET_MB} MB)")
    for label, command, stdin in cases:
        mb, wall, code = peak(command, stdin)
        print(f"{label:<62} {mb:7.0f} MB {wall:7.1f} s  {code:>4}  {'ok' if mb <= TARGET_MB and code == 0 else 'MISS'}")
    os.unlink(out)


if __name__ == "__main__":
    main()
