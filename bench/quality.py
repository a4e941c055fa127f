#!/usr/bin/env python3
"""Tone-based quality measurements for sample-rate converters.

All levels are in dB relative to the amplitude of the input tone (0 dB = a
passband tone passed at unity gain), frequencies in Hz, times in ms.
Tone frequencies are quantised to 1/RES Hz so that every tone's phase is an
exact integer modulo ``rate * RES``: generation and fitting are exact to
~1e-16 rad, which keeps the harness' own floor far below -220 dB
(see ``--check``).
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # make the in-repo `audiofmt` importable
    sys.path.insert(0, str(ROOT))

Resample = Callable[[np.ndarray, int, int], np.ndarray]
Stream = Any  # object with .process(chunk) -> ndarray and optionally .flush() -> ndarray
RES = 64  # tone frequency grid: 1/64 Hz
LENGTHS = (1, 2, 3, 7, 100, 101, 147, 160, 441, 999, 44101, 48000, 100003)
RATIOS = "8000:24000,16000:24000,22050:24000,44100:24000,48000:24000,96000:24000,24000:8000"
PEERS = ("soxr-hq", "soxr-vhq", "audiofmt-hq", "audiofmt-hq/float32", "audiofmt-vhq", "audiofmt-low_latency",
         "audiofmt-low_latency/float32")
BH7 = (0.27105140069342, 0.43329793923448, 0.21812299954311, 0.06592544638803,
       0.01081174209837, 0.00077658482522, 0.00001388721735)


@dataclass(frozen=True)
class Config:
    """Analysis settings. n_fft: steady-state output samples analysed;
    trim_s: seconds dropped at each end of the output; window: 'kaiser' or 'bh7'."""
    n_fft: int = 1 << 15
    trim_s: float = 0.1
    window: str = "kaiser"
    beta: float = 36.0
    n_rej: int = 40  # tones spread over the whole rejection range
    n_rej_fine: int = 96  # tones whose alias/image lands in 1.01 N .. 1.1 N (the transition's edge)
    n_flat_log: int = 20
    n_flat_lin: int = 32
    bisect_iters: int = 16
    amp: float = 0.5  # tone amplitude (linear, full scale = 1)


FULL = Config()
QUICK = Config(n_fft=1 << 13, n_rej=12, n_rej_fine=24, n_flat_log=6, n_flat_lin=10, bisect_iters=11)


# ----------------------------------------------------------------- tones
def kq(f_hz: float) -> int:
    """Frequency in Hz -> integer index on the 1/RES Hz grid."""
    return round(f_hz * RES)


def phase(k: int, start: int, n: int, rate: int) -> np.ndarray:
    """Exact phase 2*pi*(k/RES)*m/rate (rad) for samples m in [start, start+n)."""
    mod = rate * RES
    m = np.arange(start, start + n, dtype=np.int64)
    return 2.0 * np.pi * (((k * m) % mod) / mod)


def tone(k: int, rate: int, n: int, amp: float) -> np.ndarray:
    """float64 sine amp*sin(2*pi*f*t) with f = k/RES Hz, zero phase at sample 0."""
    return amp * np.sin(phase(k, 0, n, rate))


def fold(k: int, rate: int) -> int:
    """Apparent frequency index of k after sampling at `rate` (in [0, rate*RES/2])."""
    r = k % (rate * RES)
    return min(r, rate * RES - r)


@lru_cache(maxsize=16)
def window(n: int, kind: str, beta: float) -> np.ndarray:
    """Analysis window ('kaiser' with beta, or 7-term Blackman-Harris)."""
    if kind == "kaiser":
        return np.kaiser(n, beta)
    t = 2.0 * np.pi * np.arange(n) / n
    return sum((-1) ** i * a * np.cos(i * t) for i, a in enumerate(BH7))


# -------------------------------------------------------------- analysis
def run_tone(resample: Resample, fin: int, fout: int, k: int, cfg: Config) -> tuple[np.ndarray, int]:
    """Resample a tone; return (steady-state output segment of cfg.n_fft samples, its start index)."""
    m0 = math.ceil(cfg.trim_s * fout)
    n_in = math.ceil((cfg.n_fft + 2 * m0) * fin / fout) + 2
    y = np.asarray(resample(tone(k, fin, n_in, cfg.amp), fin, fout), dtype=np.float64).reshape(-1)
    if len(y) < m0 + cfg.n_fft + m0 // 2:
        raise ValueError(f"output too short: {len(y)} samples for {n_in} input samples")
    return y[m0:m0 + cfg.n_fft], m0


def spectrum(y: np.ndarray, fout: int, amp: float, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """Windowed, 2x zero-padded magnitude spectrum; returns (freqs Hz, linear level re amp)."""
    w = window(len(y), cfg.window, cfg.beta)
    mag = np.abs(np.fft.rfft(w * y, 2 * len(y))) * (2.0 / (w.sum() * amp))
    return np.fft.rfftfreq(2 * len(y), 1.0 / fout), mag


def spurious(y: np.ndarray, fout: int, k: int | None, cfg: Config, amp: float) -> tuple[float, float]:
    """Largest spectral peak (dB, Hz) outside the main lobe of tone index k (k=None: anywhere)."""
    freqs, mag = spectrum(y, fout, amp, cfg)
    if k is not None:
        f = fold(k, fout) / RES
        lobe = math.hypot(1.0, cfg.beta / math.pi) if cfg.window == "kaiser" else 7.0  # first null, bins
        hw = (lobe + 1.0) * fout / len(y)
        mag = np.where((np.abs(freqs - f) < hw) | (freqs + f < hw), 0.0, mag)
    i = int(np.argmax(mag))
    return (20 * math.log10(mag[i]) if mag[i] > 0 else -math.inf), float(freqs[i])


def spurious_db(resample: Resample, fin: int, fout: int, f: float, cfg: Config) -> tuple[float, float]:
    """Spurious level (dB re input tone, Hz) for an input tone at f Hz: the largest
    output peak if f is above the output Nyquist, else the largest outside its main lobe."""
    k = kq(f)
    y, _ = run_tone(resample, fin, fout, k, cfg)
    return spurious(y, fout, None if 2 * k > fout * RES else k, cfg, cfg.amp)


def fit(y: np.ndarray, start: int, rate: int, ks: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares fit of y[m] = sum_k R_k sin(w_k m + phi_k) + c (m from `start`).
    Returns (R per k, phi per k in rad, residual)."""
    cols = []
    for k in ks:
        ph = phase(k, start, len(y), rate)
        cols += [np.cos(ph), np.sin(ph)]
    a = np.column_stack(cols + [np.ones(len(y))])
    coef = np.linalg.lstsq(a, y, rcond=None)[0]
    c, s = coef[0:-1:2], coef[1:-1:2]
    return np.hypot(c, s), np.arctan2(c, s), y - a @ coef


def tone_response(resample: Resample, fin: int, fout: int, f: float, cfg: Config) -> tuple[float, float]:
    """Gain (dB) and output phase (rad, re. input phase 0) of an in-band tone at f Hz.
    The folded image fin-f is fitted jointly when upsampling (it nears f close to Nyquist)."""
    k = kq(f)
    y, m0 = run_tone(resample, fin, fout, k, cfg)
    ks = [k]
    km = fold(fin * RES - k, fout)
    sep_bins = abs(km - k) / RES * len(y) / fout
    if fin < fout and sep_bins > 1.0 and 0 < km < fout * RES // 2:
        ks.append(km)
    r, ph, _ = fit(y, m0, fout, ks)
    return 20 * math.log10(r[0] / cfg.amp), float(ph[0])


def _unwrap_delay(ph: float, f: float, ref: float) -> float:
    """Delay (s, positive = late) from phase ph at f Hz, chosen closest to ref."""
    d, period = -ph / (2 * math.pi * f), 1.0 / f
    return d + period * round((ref - d) / period)


def expected_len(n: int, fin: int, fout: int) -> int:
    """Round-half-up of n*fout/fin."""
    return (n * fout * 2 + fin) // (2 * fin)


# --------------------------------------------------------------- measure
def measure(resample: Resample, in_rate: int, out_rate: int, cfg: Config = FULL) -> dict[str, Any]:
    """Measure a one-shot resampler at in_rate -> out_rate (Hz). Keys: rejection_db (worst
    alias/image landing at >= 1.01 x the lower Nyquist N, dB re input tone; + tone/spur Hz),
    rejection_1p1_db (the same from 1.1 N on, the old figure), flatness_085_db (max |gain| to
    0.85 N, low_latency's band), flatness_db / ripple_pp_db (max |gain| and
    max-min gain, dB), bandwidth (-3 dB point / Nyq_lo), thdn_db, delay_ms (+ = late),
    length_ok / length_failures."""
    fin, fout = in_rate, out_rate
    nyq_lo, nyq_out, nyq_in = min(fin, fout) / 2, fout / 2, fin / 2
    res: dict[str, Any] = {"in_rate": fin, "out_rate": fout}
    # rejection: worst spurious over every tone whose alias (down: input tones in 1.01 N ..
    # 0.995 x in_rate/2) or image (up: tones up to 0.99 N, images from in_rate - 0.99 N = 1.01 N
    # on) lands >= 1.01 N; a fine grid where the alias/image lands in 1.01 N .. 1.1 N, where the
    # filter's worst sidelobes are, and a coarse one over the whole range
    if fin > fout:
        fine = np.linspace(1.01 * nyq_out, min(1.1 * nyq_out, 0.995 * nyq_in), cfg.n_rej_fine)
        coarse = np.linspace(1.01 * nyq_out, 0.995 * nyq_in, cfg.n_rej)
    else:
        fine = np.linspace(0.9 * nyq_in, 0.99 * nyq_in, cfg.n_rej_fine)
        coarse = np.linspace(50.0, 0.99 * nyq_in, cfg.n_rej)
    rej = [(*spurious_db(resample, fin, fout, f, cfg), f) for f in np.unique(np.concatenate([fine, coarse]))]
    worst = max(rej, key=lambda t: t[0])
    res.update(rejection_db=worst[0], rejection_tone_hz=worst[2], rejection_at_hz=worst[1])
    beyond = [t for t in rej if (t[2] >= 1.1 * nyq_out if fin > fout else t[2] <= 0.9 * nyq_in)]
    res["rejection_1p1_db"] = max(t[0] for t in beyond) if beyond else math.nan
    # flatness: log + linear grid, 20 Hz .. 0.9 Nyq_lo
    top = 0.9 * nyq_lo
    grid = np.unique(np.round(np.concatenate([
        np.geomspace(20.0, min(1000.0, top / 2), cfg.n_flat_log, endpoint=False),
        np.linspace(min(1000.0, top / 2), top, cfg.n_flat_lin), [0.85 * nyq_lo]]) * RES) / RES)
    gains = np.array([tone_response(resample, fin, fout, f, cfg)[0] for f in grid])
    res["flatness_085_db"] = float(np.abs(gains[grid <= 0.85 * nyq_lo]).max())
    res.update(flatness_db=float(np.abs(gains).max()), ripple_pp_db=float(np.ptp(gains)),
               flat_min_db=float(gains.min()), flat_max_db=float(gains.max()))
    res["bandwidth"] = bandwidth(resample, fin, fout, cfg)
    res.update(thdn_and_delay(resample, fin, fout, cfg))
    res["length_failures"] = fails = length_failures(resample, fin, fout)
    res["length_ok"] = not fails
    return res


def bandwidth(resample: Resample, fin: int, fout: int, cfg: Config) -> float:
    """-3 dB frequency / Nyq_lo by bisection on fitted gain in [0.85, 1.0]; 1.0 means the gain
    is still above -3 dB at 0.999 (the tone at exactly Nyquist is not measurable)."""
    nyq = min(fin, fout) / 2
    g = lambda frac: tone_response(resample, fin, fout, frac * nyq, cfg)[0]  # noqa: E731
    lo, hi = 0.85, 0.999
    if g(hi) > -3.0:
        return 1.0
    if g(lo) < -3.0 and g(lo := 0.5) < -3.0:
        return math.nan
    for _ in range(cfg.bisect_iters):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if g(mid) > -3.0 else (lo, mid)
    return 0.5 * (lo + hi)


def thdn_and_delay(resample: Resample, fin: int, fout: int, cfg: Config) -> dict[str, float]:
    """THD+N (dB) of a 2 s, -0.1 dBFS, 997 Hz tone (fundamental + DC fitted on the steady
    state, residual RMS / fundamental RMS, full band) and delay (ms, + = late) from the
    fitted 997 Hz phase, unwrapped via 4, 40 and 400 Hz tones (range +-125 ms)."""
    amp = 10 ** (-0.1 / 20)
    k = kq(997.0)
    y = np.asarray(resample(tone(k, fin, 2 * fin, amp), fin, fout), dtype=np.float64).reshape(-1)
    m0 = math.ceil(cfg.trim_s * fout)
    seg = y[m0:len(y) - m0]
    r, ph, resid = fit(seg, m0, fout, [k])
    thdn = 20 * math.log10(math.sqrt(np.mean(resid ** 2)) / (r[0] / math.sqrt(2)))
    d = 0.0
    for f in (4.0, 40.0, 400.0):
        d = _unwrap_delay(tone_response(resample, fin, fout, f, cfg)[1], f, d)
    d = _unwrap_delay(float(ph[0]), 997.0, d)
    return {"thdn_db": thdn, "delay_ms": 1e3 * d}


def length_failures(resample: Resample, fin: int, fout: int) -> list[str]:
    """Lengths n in LENGTHS for which len(output) != round-half-up(n*fout/fin)."""
    rng = np.random.default_rng(1)
    out = []
    for n in LENGTHS:
        want = expected_len(n, fin, fout)
        try:
            got: Any = len(np.asarray(resample(0.1 * rng.standard_normal(n), fin, fout)).reshape(-1))
        except Exception as e:  # report, don't crash
            got = f"{type(e).__name__}"
        if got != want:
            out.append(f"n={n}: got {got}, want {want}")
    return out


# ---------------------------------------------------------------- stream
class SoxrStream:
    """Adapter: soxr.ResampleStream with audiofmt-style process()/flush()."""

    def __init__(self, in_rate: int, out_rate: int, quality: str = "HQ") -> None:
        import soxr
        self._s = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float64", quality=quality)

    def process(self, chunk: np.ndarray) -> np.ndarray:
        return self._s.resample_chunk(np.ascontiguousarray(chunk, dtype=np.float64), last=False)

    def flush(self) -> np.ndarray:
        return self._s.resample_chunk(np.zeros(0), last=True)


class _CastStream:
    """A stream fed in another dtype."""

    def __init__(self, stream: Stream, cast: type) -> None:
        self._s, self._cast = stream, cast

    def process(self, chunk: np.ndarray) -> np.ndarray:
        return self._s.process(np.asarray(chunk, dtype=self._cast))

    def flush(self) -> np.ndarray:
        return self._s.flush()


def measure_stream_latency(make_stream: Callable[[], Stream], in_rate: int, out_rate: int,
                           chunk_ms: float = 20.0, dur_s: float = 2.0) -> dict[str, float]:
    """Streaming latency in ms of input time, pushing chunk_ms input chunks.

    An impulse at input sample n0 (~dur_s/2, n0*out/in integer, last sample of its chunk) is
    streamed; its output index m* = argmax|y| gives the stream's alignment (offset_ms; 0 if
    delay-compensated). impulse_ms: input time pushed when output m* is first emitted minus the
    time the impulse was pushed (a multiple of the chunk). latency_ms / latency_mean_ms: worst /
    mean of that for an impulse ending each chunk pushed at 0.1..0.8 dur_s (derived from the
    recorded, signal-independent (pushed, emitted) counts). gap_ms: worst gap between the newest
    pushed input sample and the input time of the newest emitted output sample (unquantised)."""
    c = max(1, round(in_rate * chunk_ms / 1000))
    n = round(dur_s * in_rate)
    step = in_rate // math.gcd(in_rate, out_rate)
    n0 = (n // 2 // step) * step
    x = np.zeros(n)
    x[n0] = 1.0
    edges = [0] + list(range((n0 + 1) % c or c, n, c)) + [n]
    s = make_stream()
    outs = [np.asarray(s.process(x[a:b]), dtype=np.float64).reshape(-1) for a, b in itertools.pairwise(edges)]
    pushed, emitted = edges[1:], list(np.cumsum([len(o) for o in outs]))
    if hasattr(s, "flush"):
        outs.append(np.asarray(s.flush(), dtype=np.float64).reshape(-1))
    y = np.concatenate(outs)
    m_star = int(np.argmax(np.abs(y)))
    off = m_star - n0 * out_rate / in_rate  # output samples
    p, e = np.array(pushed), np.array(emitted)
    gap = ((p - 1) / in_rate - (e - 1 - off) / out_rate)[(p > 0.1 * n) & (p < 0.9 * n)]

    def wait(j: int) -> float:  # impulse at the last sample of chunk j
        m = round((p[j] - 1) * out_rate / in_rate + off)
        k = np.flatnonzero(e[j:] > m)
        return (p[j + k[0]] - p[j]) / in_rate if len(k) else math.inf

    waits = np.array([wait(j) for j in np.flatnonzero((p > 0.1 * n) & (p < 0.8 * n))])
    return {"latency_ms": 1e3 * float(waits.max()), "latency_mean_ms": 1e3 * float(waits.mean()),
            "gap_ms": 1e3 * float(gap.max()), "impulse_ms": 1e3 * wait(pushed.index(n0 + 1)),
            "offset_ms": 1e3 * off / out_rate, "total_len": len(y), "expected_len": expected_len(n, in_rate, out_rate)}


# ----------------------------------------------------------------- peers
def peer(name: str) -> tuple[Resample, Callable[[int, int], Stream] | None]:
    """(one-shot resample, stream factory or None) for a peer name; raises if unavailable.

    A "/float32" suffix feeds the peer float32 samples (the tones are made in float64 and
    rounded to float32 first), which is the path audiofmt computes in float32."""
    name, _, dtype = name.partition("/")
    if dtype:
        rs, mk = peer(name)
        cast = np.dtype(dtype).type
        return ((lambda x, fi, fo: rs(np.asarray(x, dtype=cast), fi, fo)),
                (lambda fi, fo: _CastStream(mk(fi, fo), cast)) if mk else None)
    kind, _, q = name.partition("-")
    if kind == "soxr":
        import soxr
        return (lambda x, fi, fo: soxr.resample(x, fi, fo, quality=q.upper()),
                lambda fi, fo: SoxrStream(fi, fo, q.upper()))
    if kind == "audiofmt":
        try:
            import audiofmt
            fn = audiofmt.resample  # lazy attribute: ImportError until audiofmt/resample.py exists
        except Exception as e:
            raise RuntimeError(f"audiofmt.resample is not available ({type(e).__name__}: {e})") from None
        cls = getattr(audiofmt, "Resampler", None)
        return (lambda x, fi, fo: fn(x, fi, fo, quality=q),
                (lambda fi, fo: cls(fi, fo, quality=q)) if cls is not None else None)
    raise ValueError(f"unknown peer {name!r}")


def available(names: list[str] | tuple[str, ...]) -> list[str]:
    """The peers among `names` that can run; prints why the others are skipped."""
    ok = []
    for n in names:
        try:
            peer(n)
            ok.append(n)
        except Exception as e:
            print(f"skipping {n}: {e}", file=sys.stderr)
    return ok


def oracle_resample(x: np.ndarray, in_rate: int, out_rate: int, alias_db: float | None = None) -> np.ndarray:
    """Ideal resampler for pure tones on the 1/RES Hz grid (harness self-test): estimates
    the tone, fits amplitude/phase exactly and regenerates it at out_rate. Out-of-band tones
    give zeros, or (alias_db set) their alias at exactly alias_db re the input tone."""
    n_out = expected_len(len(x), in_rate, out_rate)
    if len(x) < 256:
        return np.zeros(n_out)
    pad = 1 << (8 * len(x)).bit_length()
    mag = np.log(np.abs(np.fft.rfft(x * np.kaiser(len(x), 20.0), pad)) + 1e-300)
    i = int(np.clip(np.argmax(mag), 1, len(mag) - 2))
    frac = 0.5 * (mag[i - 1] - mag[i + 1]) / (mag[i - 1] - 2 * mag[i] + mag[i + 1])
    k = kq((i + frac) * in_rate / pad)
    r, ph, _ = fit(x, 0, in_rate, [k])
    if 2 * k < out_rate * RES:
        return r[0] * np.sin(phase(k, 0, n_out, out_rate) + ph[0])
    if alias_db is None:
        return np.zeros(n_out)
    return 10 ** (alias_db / 20) * r[0] * np.sin(phase(fold(k, out_rate), 0, n_out, out_rate) + ph[0])


def check(cfg: Config, ratios: list[tuple[int, int]]) -> None:
    """Print window sidelobe levels and the harness floor (ideal tones / oracle resampler)."""
    for kind, beta in (("kaiser", cfg.beta), ("kaiser", 28.0), ("bh7", 0.0)):
        w = window(cfg.n_fft, kind, beta)
        mag = np.abs(np.fft.rfft(w, 16 * len(w)))
        mag /= mag[0]
        lobe = int(16 * (math.hypot(1, beta / math.pi) if kind == "kaiser" else 7.0)) + 2
        print(f"window {kind} beta={beta:g}: highest sidelobe {20 * np.log10(mag[lobe:].max()):.1f} dB")
    for kind in ("kaiser", "bh7"):
        c = Config(**{**cfg.__dict__, "window": kind})
        for fin, fout in ratios:
            floor = max(spurious(tone(kq(f), fout, c.n_fft, c.amp), fout, kq(f), c, c.amp)[0]
                        for f in np.linspace(50.0, 0.45 * fout, 40))
            line = f"[{kind}] {fin}->{fout}: direct tone at output rate: floor {floor:.1f} dB"
            if kind == "kaiser":
                m = measure(oracle_resample, fin, fout, c)
                line += (f"; oracle: rejection {m['rejection_db']:.1f} dB, flatness {m['flatness_db']:.1e} dB,"
                         f" bw {m['bandwidth']:.3f}, THD+N {m['thdn_db']:.1f} dB, delay {m['delay_ms']:.1e} ms,"
                         f" lengths {'ok' if m['length_ok'] else m['length_failures']}")
                if fin > fout:  # known -230 dB alias must be read back exactly
                    leak = measure(lambda x, a, b: oracle_resample(x, a, b, -230.0), fin, fout, c)
                    line += f"; injected -230 dB alias read as {leak['rejection_db']:.3f} dB"
            print(line, flush=True)


# ------------------------------------------------------------------- CLI
def run_one(name: str, fin: int, fout: int, cfg: Config, chunk_ms: float) -> dict[str, Any]:
    """Measure one peer at one ratio; errors are captured in the 'error' field."""
    t0 = time.perf_counter()
    try:
        rs, mk = peer(name)
        res = measure(rs, fin, fout, cfg)
        res["stream"] = measure_stream_latency(lambda: mk(fin, fout), fin, fout, chunk_ms) if mk else None
    except Exception as e:
        res = {"in_rate": fin, "out_rate": fout, "error": f"{type(e).__name__}: {e}"}
    res["seconds"] = time.perf_counter() - t0
    return res


def _fmt(v: Any, spec: str) -> str:
    """Format a table cell: n/a for missing/NaN, no '-0.0000'."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    s = format(v, spec)
    return s[1:] if s.startswith("-") and not s.strip("-0.") else s


def table(name: str, rows: list[dict[str, Any]]) -> str:
    """Markdown table for one peer."""
    out = [f"### {name}", "",
           "| ratio | rejection dB (>= 1.01 N) | rejection dB (>= 1.1 N) | flatness dB (0.85 N) | flatness dB | ripple p-p dB | -3 dB bw | THD+N dB | delay ms "
           "| stream latency ms (gap) | length rule |", "|" + "---|" * 11]
    for r in rows:
        ratio = f"{r['in_rate']}:{r['out_rate']}"
        if "error" in r:
            out.append(f"| {ratio} | error: {r['error']} |" + " |" * 9)
            continue
        st = r.get("stream")
        lr = "ok" if r["length_ok"] else f"{len(r['length_failures'])}/{len(LENGTHS)} off"
        out.append(f"| {ratio} | {_fmt(r['rejection_db'], '.1f')} | {_fmt(r.get('rejection_1p1_db'), '.1f')} "
                   f"| {_fmt(r.get('flatness_085_db'), '.1e')} | {_fmt(r['flatness_db'], '.1e')} "
                   f"| {_fmt(r['ripple_pp_db'], '.1e')} | {_fmt(r['bandwidth'], '.4f')} "
                   f"| {_fmt(r['thdn_db'], '.1f')} | {_fmt(r['delay_ms'], '.4f')} "
                   f"| {_fmt(st and st['latency_ms'], '.0f')} ({_fmt(st and st['gap_ms'], '.1f')}) | {lr} |")
    return "\n".join(out)


def _clean(o: Any) -> Any:
    """JSON-safe copy: numpy scalars -> Python, non-finite floats -> None."""
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    o = o.item() if isinstance(o, np.generic) else o
    return None if isinstance(o, float) and not math.isfinite(o) else o


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--peers", help=f"comma list from {','.join(PEERS)} (default: all importable)")
    ap.add_argument("--ratios", default=RATIOS, help="comma list of in:out rates")
    ap.add_argument("--json", type=Path, help="write full results here")
    ap.add_argument("--quick", action="store_true", help="coarser grids, shorter FFTs")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--chunk-ms", type=float, default=20.0, help="stream chunk size (ms)")
    ap.add_argument("--check", action="store_true", help="verify the harness floor and exit")
    a = ap.parse_args(argv)
    cfg = QUICK if a.quick else FULL
    ratios = [tuple(int(v) for v in r.split(":")) for r in a.ratios.split(",")]
    if a.check:
        check(cfg, ratios)
        return 0
    names = available(a.peers.split(",") if a.peers else PEERS)
    t0 = time.perf_counter()
    tasks = [(n, fi, fo) for n in names for fi, fo in ratios]
    with ProcessPoolExecutor(max(1, a.jobs)) as ex:
        results = list(ex.map(run_one, *zip(*tasks), [cfg] * len(tasks), [a.chunk_ms] * len(tasks)))
    for n in names:
        print(table(n, [r for (p, _, _), r in zip(tasks, results) if p == n]) + "\n")
    dt = time.perf_counter() - t0
    print(f"total {dt:.1f} s ({'quick' if a.quick else 'full'} grids, {a.jobs} jobs)")
    if a.json:
        by_peer = {n: [r for (p, _, _), r in zip(tasks, results) if p == n] for n in names}
        a.json.write_text(json.dumps(_clean({"config": cfg.__dict__, "seconds": dt, "results": by_peer}), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
