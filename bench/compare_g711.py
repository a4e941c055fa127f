#!/usr/bin/env python3
"""audiofmt's G.711 against its peers: stdlib audioop, plain numpy lookup tables, and memcpy.

Run (from the repository root):

    .venv/bin/python bench/compare_g711.py [--seconds 600] [--repeat 7] [--json PATH]

(on Python >= 3.13 `audioop` comes from the `audioop-lts` package: pip install audioop-lts).

Everything is measured in one process on the same input (`--seconds` of 24 kHz speech-like int16
noise), with the repeats of all cases interleaved and the best of `--repeat` kept
(time.perf_counter). Each case is called once before timing, so numba's compile / cache load is
excluded. 20 ms frames (160 and 480 samples) are timed bytes in -> bytes out, per call, in
batches. Prints a Markdown table: ratios vs audioop (same operation) and vs memcpy (np.copyto of
the same number of int16 samples into a preallocated array), PASS/MISS against the issue's
targets, and for each implementation how many of all inputs (65536 int16 samples, or 256 codes)
it maps differently from audiofmt, which is G.191-exact.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from signals import speech_like

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # make the in-repo `audiofmt` importable without installing it
    sys.path.insert(0, str(ROOT))

import numba

import audiofmt
from audiofmt.g711 import encode_table
from audiofmt.kernels import g711

with warnings.catch_warnings():  # stdlib audioop is deprecated (3.11, 3.12); audioop-lts from 3.13
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop
    except ImportError:
        sys.exit("compare_g711: no `audioop` module; on Python >= 3.13: pip install audioop-lts")

RATE_HZ = 24_000
FRAME_SIZES = (160, 480)
LAW_NAME = {"ulaw": "μ-law", "alaw": "A-law"}
FORMAT = {"ulaw": "g711_ulaw", "alaw": "g711_alaw"}
AUDIOOP_ENCODE = {"ulaw": audioop.lin2ulaw, "alaw": audioop.lin2alaw}
AUDIOOP_DECODE = {"ulaw": audioop.ulaw2lin, "alaw": audioop.alaw2lin}
EXPAND = {"ulaw": g711.ulaw_expand, "alaw": g711.alaw_expand}
ALL_INT16 = np.arange(65536, dtype=np.uint16).view(np.int16)
ALL_CODES = np.arange(256, dtype=np.uint8)
MEMCPY = "numpy memcpy: np.copyto(dst, x)"
# The targets: operation kind -> (text, test on a Row)
TARGETS: dict[str, tuple[str, Callable[[Row], bool]]] = {
    "encode": ("≥25× audioop, ≥0.6× memcpy", lambda r: (r.vs_audioop or 0) >= 25 and (r.vs_memcpy or 0) >= 0.6),
    "decode": ("≥1.5× audioop", lambda r: (r.vs_audioop or 0) >= 1.5),
    "frame": ("≤2 µs", lambda r: r.seconds * 1e6 <= 2.0),
}


@dataclass
class Row:
    """One measured case; `fn` is excluded from the JSON output."""

    operation: str
    implementation: str
    n_samples: int
    per_frame: bool = False  # time reported in µs per call instead of ms
    target: str = ""  # key into TARGETS, or ""
    differs: str = "—"  # "k/N": inputs mapped differently from audiofmt
    batch: int = 1  # calls per timed batch
    seconds: float = float("inf")  # best time per call
    vs_audioop: float | None = None
    vs_memcpy: float | None = None
    result: str = ""  # PASS / MISS / ""


def count_diff(got: object, want: np.ndarray) -> str:
    """How many entries of `got` (bytes or array) differ from `want`, as "k/N"."""
    arr = np.frombuffer(got, dtype=want.dtype) if isinstance(got, (bytes, bytearray)) else np.asarray(got)
    return f"{int(np.count_nonzero(arr != want))}/{want.size}"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def build_cases(x: np.ndarray) -> list[tuple[Row, Callable[[], object]]]:
    """Every (row, callable) to time; differs columns are filled in here, once."""
    n = x.shape[0]
    xb, xu = x.tobytes(), x.view(np.uint16)
    cases: list[tuple[Row, Callable[[], object]]] = []

    def add(row: Row, fn: Callable[[], object]) -> None:
        cases.append((row, fn))

    dst16 = np.empty_like(x)
    add(Row("memcpy", MEMCPY, n), lambda: np.copyto(dst16, x))
    add(Row("memcpy", "numpy memcpy: x.copy()", n), lambda: x.copy())
    code_arrays: dict[str, np.ndarray] = {}
    for law in ("ulaw", "alaw"):
        fmt, op, table = FORMAT[law], f"{LAW_NAME[law]} encode", encode_table(law)
        codes_out = np.empty(n, dtype=np.uint8)
        enc_audioop = AUDIOOP_ENCODE[law]
        add(Row(op, "audiofmt kernel g711.lut_encode", n, target="encode",
                differs=count_diff(table, table)), lambda t=table, o=codes_out: g711.lut_encode(x, t, o))
        add(Row(op, "audiofmt encode() -> bytes", n, target="encode",
                differs=count_diff(audiofmt.encode(ALL_INT16, fmt), table)), lambda f=fmt: audiofmt.encode(x, f))
        add(Row(op, f"audioop.lin2{law}", n, differs=count_diff(enc_audioop(ALL_INT16.tobytes(), 2), table)),
            lambda e=enc_audioop: e(xb, 2))
        add(Row(op, "numpy LUT table[x.view(uint16)]", n, differs=count_diff(table[ALL_INT16.view(np.uint16)], table)),
            lambda t=table: t[xu])

        op = f"{LAW_NAME[law]} decode"
        codes = np.empty(n, dtype=np.uint8)
        g711.lut_encode(x, table, codes)
        cb = codes.tobytes()
        dtab = np.empty(256, dtype=np.int16)
        EXPAND[law](ALL_CODES, dtab)
        code_arrays[law] = codes
        dec_audioop, kernel, pcm_out = AUDIOOP_DECODE[law], EXPAND[law], np.empty(n, dtype=np.int16)
        add(Row(op, f"audiofmt kernel g711.{law}_expand", n, target="decode", differs=count_diff(dtab, dtab)),
            lambda k=kernel, c=codes, o=pcm_out: k(c, o))
        add(Row(op, "audiofmt decode() from bytes", n, target="decode",
                differs=count_diff(audiofmt.decode(ALL_CODES.tobytes(), fmt), dtab)),
            lambda b=cb, f=fmt: audiofmt.decode(b, f))
        add(Row(op, f"audioop.{law}2lin", n, differs=count_diff(dec_audioop(ALL_CODES.tobytes(), 2), dtab)),
            lambda d=dec_audioop, b=cb: d(b, 2))
        add(Row(op, "numpy LUT dtab[codes]", n, differs=count_diff(dtab[ALL_CODES], dtab)),
            lambda t=dtab, c=codes: t[c])

    op, u2a = "μ→A transcode", g711.ULAW_TO_ALAW
    ucodes = code_arrays["ulaw"]
    ubytes = ucodes.tobytes()
    add(Row(op, "audiofmt transcode()", n,
            differs=count_diff(audiofmt.transcode(ALL_CODES.tobytes(), "g711_ulaw", "g711_alaw"), u2a)),
        lambda: audiofmt.transcode(ubytes, "g711_ulaw", "g711_alaw"))
    roundtrip = audioop.lin2alaw(audioop.ulaw2lin(ALL_CODES.tobytes(), 2), 2)
    add(Row(op, "audioop.lin2alaw(ulaw2lin()) (not G.711-exact)", n, differs=count_diff(roundtrip, u2a)),
        lambda: audioop.lin2alaw(audioop.ulaw2lin(ubytes, 2), 2))
    add(Row(op, "numpy LUT u2a[codes]", n, differs=count_diff(u2a[ALL_CODES], u2a)), lambda: u2a[ucodes])

    for size in FRAME_SIZES:
        pcm = x[:size].tobytes()
        for law in ("ulaw", "alaw"):
            fmt, name = FORMAT[law], LAW_NAME[law]
            codes_b = audiofmt.encode(np.frombuffer(pcm, np.int16), fmt)
            other = "alaw" if law == "ulaw" else "ulaw"
            a2b, other_fmt = AUDIOOP_ENCODE[other], FORMAT[other]
            enc, dec = AUDIOOP_ENCODE[law], AUDIOOP_DECODE[law]
            frame = f"frame {size}: "
            add(Row(frame + f"{name} encode", "audiofmt encode(frombuffer(pcm))", size, True, "frame"),
                lambda p=pcm, f=fmt: audiofmt.encode(np.frombuffer(p, np.int16), f))
            add(Row(frame + f"{name} encode", f"audioop.lin2{law}", size, True), lambda p=pcm, e=enc: e(p, 2))
            add(Row(frame + f"{name} decode", "audiofmt decode().tobytes()", size, True, "frame"),
                lambda c=codes_b, f=fmt: audiofmt.decode(c, f).tobytes())
            add(Row(frame + f"{name} decode", f"audioop.{law}2lin", size, True), lambda c=codes_b, d=dec: d(c, 2))
            op = frame + f"{name}→{LAW_NAME[other]} transcode"
            add(Row(op, "audiofmt transcode()", size, True, "frame"),
                lambda c=codes_b, f=fmt, g=other_fmt: audiofmt.transcode(c, f, g))
            add(Row(op, f"audioop.lin2{other}({law}2lin())", size, True), lambda c=codes_b, d=dec, e=a2b: e(d(c, 2), 2))
    return cases


def time_batch(fn: Callable[[], object], batch: int) -> float:
    """Seconds per call of `fn`, over `batch` back-to-back calls."""
    t0 = time.perf_counter()
    for _ in range(batch):
        fn()
    return (time.perf_counter() - t0) / batch


def measure(cases: list[tuple[Row, Callable[[], object]]], repeat: int) -> None:
    """Warm up, size the frame batches to ~20 ms, then best-of-`repeat`, all cases interleaved."""
    for row, fn in cases:
        fn()  # numba compile / cache load, first touch of memory
        if row.per_frame:
            row.batch = max(1, int(0.02 / max(time_batch(fn, 200), 1e-9)))
    for _ in range(repeat):
        for row, fn in cases:
            row.seconds = min(row.seconds, time_batch(fn, row.batch))


def finish(rows: list[Row]) -> None:
    """Fill in the ratio and PASS/MISS columns."""
    memcpy = next(r.seconds for r in rows if r.implementation == MEMCPY)
    for row in rows:
        audioop_row = next((r for r in rows if r.operation == row.operation and r.implementation.startswith("audioop")), None)
        if audioop_row is not None:
            row.vs_audioop = audioop_row.seconds / row.seconds
        if not row.per_frame:
            row.vs_memcpy = memcpy / row.seconds
        if row.target:
            row.result = "PASS" if TARGETS[row.target][1](row) else "MISS"


def ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def table(rows: list[Row]) -> str:
    lines = ["| operation | implementation | time | Msamples/s | vs audioop | vs memcpy | target | result | differs |",
             "| --- | --- | ---: | ---: | ---: | ---: | --- | --- | ---: |"]
    for r in rows:
        when = f"{r.seconds * 1e6:.2f} µs" if r.per_frame else f"{r.seconds * 1e3:.2f} ms"
        target = TARGETS[r.target][0] if r.target else ""
        lines.append(f"| {r.operation} | {r.implementation} | {when} | {r.n_samples / r.seconds / 1e6:,.0f} | "
                     f"{ratio(r.vs_audioop)} | {ratio(r.vs_memcpy)} | {target} | {r.result} | {r.differs} |")
    return "\n".join(lines)


def environment(args: argparse.Namespace, n: int) -> dict[str, object]:
    return {
        "python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
        "audiofmt": audiofmt.__version__, "audioop": getattr(audioop, "__file__", None) or "builtin",
        "cpu": cpu_model(), "cpus": os.cpu_count(), "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "seconds": args.seconds, "samples": n, "repeat": args.repeat,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="input length at 24 kHz (default 600)")
    parser.add_argument("--repeat", type=int, default=7, help="timed repeats per case, best kept (default 7)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)

    x = speech_like(max(int(args.seconds * RATE_HZ), max(FRAME_SIZES)))
    env = environment(args, x.shape[0])
    print("# G.711: audiofmt vs peers\n")
    for key, value in env.items():
        print(f"- {key}: {value}")
    cases = build_cases(x)
    measure(cases, args.repeat)
    rows = [row for row, _ in cases]
    finish(rows)
    print(f"\n{table(rows)}\n")
    print("time: best of --repeat; frames are µs per call, bytes in -> bytes out. vs audioop: audioop's time / this "
          "time for the same operation; vs memcpy: np.copyto of as many int16 samples / this time. differs: inputs "
          "(all 65536 int16, or all 256 codes) mapped differently from audiofmt (G.191-exact; frames as above).")
    if args.json:
        args.json.write_text(json.dumps({"environment": env, "results": [asdict(r) for r in rows]}, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
