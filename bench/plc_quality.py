#!/usr/bin/env python3
"""Packet loss concealment quality: G.711 Appendix I (`audiofmt.bridge.plc.Concealer`) against
silence insertion and repeat-last-frame, on the fixture speech.

    python bench/plc_quality.py [--loss 0.05] [--seed 1] [--trials 20]

Speech: fixtures/speech_8k.wav, and fixtures/speech_16k.wav resampled to 8 kHz by audiofmt
(8 s of espeak-ng speech each). Frames of 20 ms (160 samples); loss patterns, each seeded:
- random at `--loss` and at 2 × `--loss`: every frame lost independently;
- bursts: runs of 2 or 3 frames (equally likely), started so that about `--loss` of the frames
  are lost, with at least one good frame between runs.

Concealers, fed the same frames and losses:
- plc: Appendix I, sample-exact to the ITU-T reference; its output lags by 30 samples, so the
  held-back tail is flushed at the end and out[30:] is compared with the input;
- silence: a lost frame is zeros;
- repeat: a lost frame is the last received frame again (zeros before any), no fading.
All three are scored on the whole signal.

Each pattern is drawn `--trials` times (seeds derived from `--seed`); the table shows the mean
over trials of each measure, and the lost frames summed over trials.

Measures (all in dB, higher SNR better, lower LSD better):
- SNR: 10·log10(Σx² / Σ(x - y)²) over the whole span;
- segSNR lost: the mean over lost frames of the frame SNR, each clipped to [-10, 35] dB (the
  usual segmental-SNR clamp; silence insertion scores exactly 0 on every lost frame);
- LSD lost: log-spectral distance over the lost frames themselves: per 20 ms frame, Hann
  window, 256-point FFT, level in dB re a full-scale sine in the bin, floored at -80 dB, RMS over
  the 129 bins of the difference between original and output; then the mean over frames. The
  Hann window is ~0 at the frame's edges, so this measure does not see the joins;
- LSD joins: the same over every 20 ms window at a 10 ms hop that overlaps a lost frame by at
  least half (starting 10 ms before, at, and 10 ms after each lost frame's start), so the joins
  into and out of each loss are inside the windows.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # make the in-repo `audiofmt` importable
    sys.path.insert(0, str(ROOT))

import soundfile as sf

from audiofmt import resample
from audiofmt.bridge.plc import Concealer

FRAME = 160
DELAY = Concealer.delay_samples
NFFT = 256
FLOOR_DB = -80.0


def load_speech() -> dict[str, np.ndarray]:
    x8, rate = sf.read(ROOT / "fixtures" / "speech_8k.wav", dtype="int16")
    assert rate == 8000 and x8.ndim == 1
    x16, rate = sf.read(ROOT / "fixtures" / "speech_16k.wav", dtype="int16")
    assert rate == 16000 and x16.ndim == 1
    return {"speech_8k": x8, "speech_16k → 8k": resample(x16, 16000, 8000)}


def random_loss(n_frames: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    return rng.random(n_frames) < rate


def burst_loss(n_frames: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Runs of 2–3 lost frames; a run starts after a good frame with probability p, chosen so
    that the expected fraction lost is `rate` (mean run 2.5 frames, then ≥ 1 good frame)."""
    p = rate / (2.5 * (1.0 - rate) + rate)  # per good frame: runs cost 2.5 lost frames each
    lost = np.zeros(n_frames, dtype=bool)
    i = 0
    while i < n_frames:
        if rng.random() < p:
            run = int(rng.integers(2, 4))
            lost[i : i + run] = True
            i += run + 1  # the good frame that ends the run
        else:
            i += 1
    return lost


def conceal_plc(frames: np.ndarray, lost: np.ndarray) -> np.ndarray:
    c = Concealer(FRAME)
    out = [c.lost() if miss else c.good(f) for f, miss in zip(frames, lost)]
    return np.concatenate([*out, c.flush()])[DELAY:]  # aligned: out[DELAY + t] is input time t


def conceal_silence(frames: np.ndarray, lost: np.ndarray) -> np.ndarray:
    out = frames.copy()
    out[lost] = 0
    return out.reshape(-1)


def conceal_repeat(frames: np.ndarray, lost: np.ndarray) -> np.ndarray:
    out = frames.copy()
    last = np.zeros(FRAME, dtype=np.int16)
    for i, miss in enumerate(lost):
        if miss:
            out[i] = last
        else:
            last = frames[i]
    return out.reshape(-1)


METHODS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "G.711 App. I PLC": conceal_plc,
    "silence": conceal_silence,
    "repeat last frame": conceal_repeat,
}


def spectra_db(frames: np.ndarray) -> np.ndarray:
    """Level per bin in dB re a full-scale sine, floored, of each row."""
    w = np.hanning(FRAME + 2)[1:-1]
    spec = np.abs(np.fft.rfft(frames / 32768.0 * w, NFFT, axis=1)) * (2.0 / w.sum())
    return np.maximum(20.0 * np.log10(np.maximum(spec, 1e-30)), FLOOR_DB)


def lsd(x: np.ndarray, y: np.ndarray, starts: list[int]) -> float:
    xf = np.stack([x[s : s + FRAME] for s in starts])
    yf = np.stack([y[s : s + FRAME] for s in starts])
    return float(np.mean(np.sqrt(np.mean((spectra_db(xf) - spectra_db(yf)) ** 2, axis=1))))


def score(x: np.ndarray, y: np.ndarray, lost: np.ndarray) -> tuple[float, float, float, float]:
    """(SNR, segSNR lost, LSD lost, LSD joins) of y against x, both int16 units, same length."""
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    snr = 10.0 * np.log10(np.sum(x**2) / np.sum((x - y) ** 2))
    starts = [f * FRAME for f in np.flatnonzero(lost) if (f + 1) * FRAME <= len(x)]
    xf = np.stack([x[s : s + FRAME] for s in starts])
    yf = np.stack([y[s : s + FRAME] for s in starts])
    sig = np.sum(xf**2, axis=1)
    err = np.sum((xf - yf) ** 2, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame_snr = 10.0 * np.log10(sig / err)
    frame_snr = np.where(err == 0, 35.0, np.where(sig == 0, -10.0, frame_snr))
    seg = float(np.mean(np.clip(frame_snr, -10.0, 35.0)))
    half = FRAME // 2
    joins = sorted({s + d for s in starts for d in (-half, 0, half) if 0 <= s + d <= len(x) - FRAME})
    return float(snr), seg, lsd(x, y, starts), lsd(x, y, joins)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--loss", type=float, default=0.05, help="loss rate (random) and burst loss rate")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--trials", type=int, default=20, help="loss patterns drawn per scenario")
    args = ap.parse_args(argv)

    speech = load_speech()
    scenarios = [
        (f"random {args.loss:.0%}", random_loss, args.loss),
        (f"random {2 * args.loss:.0%}", random_loss, 2 * args.loss),
        (f"bursts of 2–3, ~{args.loss:.0%}", burst_loss, args.loss),
    ]
    print(f"`python bench/plc_quality.py --loss {args.loss} --seed {args.seed} --trials {args.trials}`: "
          f"20 ms frames, mean of {args.trials} loss patterns per row, PLC output aligned for its "
          f"{DELAY}-sample delay\n")
    print("| speech | loss pattern | frames lost | concealer | SNR (dB) | segSNR lost (dB) "
          "| LSD lost (dB) | LSD joins (dB) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for si, (name, x) in enumerate(speech.items()):
        n_frames = len(x) // FRAME
        frames = x[: n_frames * FRAME].reshape(n_frames, FRAME)
        span = n_frames * FRAME
        ref = frames.reshape(-1)[:span]
        for ci, (label, make, rate) in enumerate(scenarios):
            rngs = [np.random.default_rng([args.seed, si, ci, t]) for t in range(args.trials)]
            patterns = [make(n_frames, rate, rng) for rng in rngs]
            n_lost = sum(int(p.sum()) for p in patterns)
            for method, conceal in METHODS.items():
                scores = np.mean([score(ref, conceal(frames, lost)[:span], lost) for lost in patterns],
                                 axis=0)
                cells = " | ".join(f"{v:.2f}" for v in scores)
                print(f"| {name} | {label} | {n_lost}/{n_frames * args.trials} | {method} | {cells} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
