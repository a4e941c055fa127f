#!/usr/bin/env python3
"""Plot tone-measured responses of sample-rate converters, one column per ratio.

Top row (float64 samples): output level (dB re input tone) vs input tone frequency / (in_rate/2): passband
gain (solid, least-squares sine fit) and alias level (downsampling, tones above the output
Nyquist: largest output peak) or image level (upsampling: largest peak outside the tone's
main lobe), dashed. Bottom row: passband gain zoomed to +-0.01 dB. Peers: the audiofmt
presets that exist + soxr HQ. Measurement functions come from quality.py.
"""
from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality as q

CFG = q.Config(n_fft=1 << 13)  # 8192-sample steady-state segments: plenty for a plot
PEERS = ("audiofmt-hq", "audiofmt-vhq", "audiofmt-low_latency", "soxr-hq")
COLORS = {"audiofmt-hq": "C0", "audiofmt-vhq": "C2", "audiofmt-low_latency": "C3", "soxr-hq": "k"}


def curves(name: str, fin: int, fout: int, n: int = 40) -> dict[str, list[float]]:
    """Gain and spurious curves (Hz, dB) for one peer and ratio; {'error': ...} on failure."""
    try:
        rs, _ = q.peer(name)
        nyq_lo, nyq_in = min(fin, fout) / 2, fin / 2
        fr = np.concatenate([np.linspace(0.005, 0.85, n), np.linspace(0.86, 0.999, n // 2)])
        pf = np.round(fr * nyq_lo * q.RES) / q.RES
        pg = [q.tone_response(rs, fin, fout, f, CFG)[0] for f in pf]
        if fin > fout:  # aliases of tones above the output Nyquist
            sf = np.concatenate([np.linspace(1.001, 1.1, n // 2) * nyq_lo,
                                 np.linspace(1.1 * nyq_lo, 0.995 * nyq_in, n)[1:]])
        else:  # images of in-band tones
            sf = np.linspace(50.0, 0.99 * nyq_in, n + n // 2)
        sg = [q.spurious_db(rs, fin, fout, f, CFG)[0] for f in sf]
        return {"pass_hz": list(pf), "pass_db": pg, "spur_hz": list(sf), "spur_db": sg}
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--out", type=Path, default=Path(__file__).resolve().parent / "response.png")
    ap.add_argument("--peers", help=f"comma list (default: importable of {','.join(PEERS)})")
    ap.add_argument("--ratios", default=q.RATIOS)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args(argv)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = q.available(a.peers.split(",") if a.peers else PEERS)
    ratios = [tuple(int(v) for v in r.split(":")) for r in a.ratios.split(",")]
    t0 = time.perf_counter()
    tasks = [(n, fi, fo) for fi, fo in ratios for n in names]
    with ProcessPoolExecutor(max(1, a.jobs)) as ex:
        res = dict(zip(tasks, ex.map(curves, *zip(*tasks)) if tasks else []))

    fig, axes = plt.subplots(2, len(ratios), figsize=(3.6 * len(ratios), 7.5), squeeze=False,
                             gridspec_kw={"height_ratios": [2, 1]})
    colors = {n: COLORS.get(n, f"C{4 + i}") for i, n in enumerate(names)}
    for col, (fi, fo) in enumerate(ratios):
        top, bot = axes[0, col], axes[1, col]
        half, edge = fi / 2, min(fi, fo) / fi
        for n in names:
            r, c = res[(n, fi, fo)], colors[n]
            if "error" in r:
                print(f"{n} {fi}:{fo}: {r['error']}", file=sys.stderr)
                continue
            px, sx = np.array(r["pass_hz"]) / half, np.array(r["spur_hz"]) / half
            top.plot(px, r["pass_db"], "-", color=c, lw=1.2, label=f"{n} gain")
            top.plot(sx, np.maximum(r["spur_db"], -300), "--", color=c, lw=1,
                     label=f"{n} alias/image")
            bot.plot(px, r["pass_db"], "-", color=c, lw=1.2, label=n)
        for ax in (top, bot):
            ax.axvline(edge, color="0.6", lw=0.8, ls=":")
            ax.grid(True, lw=0.3)
            ax.set_xlim(0, 1)
        top.set_ylim(-260, 5)
        top.set_title(f"{fi} -> {fo} Hz ({'down' if fi > fo else 'up'})", fontsize=10)
        bot.set_ylim(-0.01, 0.01)
        bot.set_xlim(0, edge)
        bot.set_xlabel("input tone f / (in_rate/2)")
        if col == 0:
            top.set_ylabel("output level, dB re input tone")
            bot.set_ylabel("passband gain, dB")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=max(1, len(labels)), fontsize=8)
    fig.suptitle("Resampler tone responses (solid: passband gain; dashed: worst alias/image)")
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
