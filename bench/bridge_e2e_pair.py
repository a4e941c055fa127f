"""Paired A/B of two relays' CPU per call: both run at the same time on the same machine, each with
N callers from its own load generator, one stand-in Realtime server, the same measurement windows.

    python bench/bridge_e2e_pair.py --b-cmd "env PYTHONPATH=/path/to/other/checkout python -m audiofmt bridge" [--n 120]
    python bench/bridge_e2e_pair.py --b-relay naive-picows

On a shared machine the CPU per call of one relay moves by ±20 % from one minute to the next
(other jobs change how often the relay sleeps and wakes); run one after the other, two relays'
difference drowns in that. Run side by side, both see the same load: the ratio B/A per window is
what to read (run it twice with A and B swapped). Relays and harness as in bridge_e2e_load.py
(same processes, same signed callers); CPU from /proc/<pid>/stat. Not a capacity measurement: the
two relays compete for the same cores.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import _procstat
import bridge_e2e_load as e2e


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a-cmd", default=f"{shlex.quote(sys.executable)} -m audiofmt bridge", help="relay A: this bridge command")
    parser.add_argument("--b-cmd", default="", help="relay B, when --b-relay is audiofmt: another bridge command")
    parser.add_argument("--b-relay", default="audiofmt", help="relay B: audiofmt (with --b-cmd), naive, naive-picows or audiofmt-core-picows")
    parser.add_argument("--format", default="g711_ulaw", choices=["g711_ulaw", "pcm16"])
    parser.add_argument("--n", type=int, default=120, help="callers per relay")
    parser.add_argument("--windows", type=int, default=6)
    parser.add_argument("--measure", type=float, default=5.0, help="seconds per window")
    parser.add_argument("--bridge-args", default="--workers 1 --max-calls 4000 --max-connections 8000")
    parser.add_argument("--log-dir", default="/tmp/audiofmt-e2e-pair")
    args = parser.parse_args()
    if args.b_relay == "audiofmt" and not args.b_cmd:
        parser.error("--b-relay audiofmt needs --b-cmd")
    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    bench = argparse.Namespace(bridge_cmd=args.a_cmd, bridge_cmd_b=args.b_cmd, bridge_args=args.bridge_args, no_auth=False,
                               public_url="wss://bridge.bench.invalid/twilio/media", renice=0, help_text=e2e.bridge_help(args.a_cmd))
    port_file = log_dir / "standin.port"
    port_file.unlink(missing_ok=True)
    standin = subprocess.Popen([sys.executable, e2e.__file__, "--role", "standin", "--standin-port-file", str(port_file)])
    relays: list[e2e.Relay] = []
    gens: list[subprocess.Popen[str]] = []
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline:
                raise RuntimeError("the stand-in Realtime server did not start")
            time.sleep(0.05)
        standin_port = int(port_file.read_text())
        relays = [e2e.Relay("audiofmt", args.format, standin_port, bench, log_dir),
                  e2e.Relay("audiofmt-b" if args.b_relay == "audiofmt" else args.b_relay, args.format, standin_port, bench, log_dir)]
        n_frames = int((1 + args.windows * args.measure + 0.5) / e2e.TICK_S) + 50
        for relay in relays:
            cmd = [sys.executable, e2e.__file__, "--role", "gen", "--gen-port", str(relay.port), "--gen-path", relay.path,
                   "--gen-calls", str(args.n), "--gen-first", "0", "--gen-total", str(args.n), "--gen-frames", str(n_frames),
                   "--gen-drain", "1", "--gen-slots", "40"]
            if relay.signature():
                cmd += ["--gen-signature", relay.signature() or ""]
            gens.append(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        ready = [json.loads(g.stdout.readline() or "{}") if g.stdout else {} for g in gens]
        start = time.monotonic() + 0.5
        for g in gens:
            assert g.stdin is not None
            g.stdin.write(f"{start!r} {start + 1!r} {start + 1 + args.windows * args.measure!r}\n")
            g.stdin.flush()
        _procstat.sleep_until(start + 1)
        per_window: list[list[float]] = [[], []]
        for _ in range(args.windows):
            c0 = [_procstat.tree_cpu_seconds(r.pids()) for r in relays]
            t0 = time.monotonic()
            time.sleep(args.measure)
            c1 = [_procstat.tree_cpu_seconds(r.pids()) for r in relays]
            window = time.monotonic() - t0
            for i in range(2):
                per_window[i].append((c1[i] - c0[i]) / window / args.n * e2e.TICK_S * 1e6)
        results = [json.loads(g.communicate(timeout=120)[0].strip().splitlines()[-1]) for g in gens]
    finally:
        for relay in relays:
            relay.close()
        standin.terminate()
        standin.wait()
    print(f"{args.format}, {args.n} callers per relay, {args.windows} windows of {args.measure:g} s; load average {_procstat.load_average()}\n")
    print("| relay | connected | CPU µs per call per 20 ms, per window | mean | p99 lateness ms | frames short |\n|---|---|---|---|---|---|")
    for i, (relay, label) in enumerate(zip(relays, ("A", "B"))):
        gaps = results[i]["gaps"]
        short = sum(max(0, s - g) for s, g in zip(results[i]["sent_bytes"], results[i]["received_bytes"])) // e2e.FRAME_BYTES
        print(f"| {label}: {relay.kind} `{' '.join(relay.cmd[:4])} …` | {ready[i].get('ready', 0)} | "
              f"{' / '.join(f'{x:.1f}' for x in per_window[i])} | {sum(per_window[i]) / len(per_window[i]):.1f} | "
              f"{(e2e._pct(gaps, 0.99) - e2e.TICK_S) * 1000:.1f} | {short} |")
    ratios = [b / a for a, b in zip(per_window[0], per_window[1]) if a > 0]
    print(f"\nB/A per window: {' '.join(f'{r:.3f}' for r in ratios)}; over all windows {sum(per_window[1]) / sum(per_window[0]):.3f}")


if __name__ == "__main__":
    main()
