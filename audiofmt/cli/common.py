"""What every command shares: printing, the progress bar, argument types, the first-run note."""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

from .._checks import QUALITY_NAMES
from ..formats import FORMATS

QUALITIES = list(QUALITY_NAMES)  # the resampling presets


class Progress:
    """A one-line bar on stderr by input frames, with an ETA: drawn only on a TTY and only
    after the first 0.5 s. Jobs weigh by input size in bytes (equally when unknown); within a
    job the fraction is input frames done / frames expected (a job whose length is unknown,
    e.g. stdin without -t, counts when it ends)."""

    def __init__(self, weights: Sequence[float], label: str, enabled: bool) -> None:
        total = sum(weights)
        n = max(len(weights), 1)
        self.weights = [w / total for w in weights] if total > 0 else [1 / n] * len(weights)
        self.fractions = [0.0] * len(weights)
        self.label = label
        self.enabled = enabled and sys.stderr.isatty()
        self.start = self.last = time.monotonic()
        self.drawn = False

    def job_progress(self, index: int, frames_done: int, frames_expected: int | None) -> None:
        if frames_expected:
            self.fractions[index] = min(frames_done / frames_expected, 1.0)
            self._draw()

    def job_done(self, index: int) -> None:
        self.fractions[index] = 1.0
        self._draw()

    def _draw(self) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.start < 0.5 or now - self.last < 0.1:
            return
        self.last, self.drawn = now, True
        fraction = min(sum(w * f for w, f in zip(self.weights, self.fractions)), 1.0)
        bar = "#" * int(fraction * 30)
        eta = f"eta {(now - self.start) * (1 - fraction) / fraction:4.0f}s" if fraction > 0 else "eta    ?"
        sys.stderr.write(f"\r{self.label} [{bar:<30}] {fraction:6.1%}  {eta}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.drawn:
            sys.stderr.write("\r" + " " * 60 + "\r")
            sys.stderr.flush()
            self.drawn = False


def say(args: argparse.Namespace, text: str, level: int = 0) -> None:
    if not args.quiet and args.verbose >= level:
        print(text, file=sys.stderr)


def kernel_cache_cold(modules: Sequence[str] = ("pcm",)) -> bool:
    """Whether this run will compile kernels: for one of the kernel `modules` ("pcm", used by
    every conversion; "g711"), numba's on-disk cache holds no index file (.nbi) newer than the
    module's source. A few stat calls, where numba keeps its cache (NUMBA_CACHE_DIR, else the
    package's kernels/__pycache__)."""
    kernels = Path(__file__).resolve().parent.parent / "kernels"
    tag = f".py{sys.version_info[0]}{sys.version_info[1]}.nbi"
    base = os.environ.get("NUMBA_CACHE_DIR")
    if base:
        cache = Path(base) / f"kernels_{hashlib.sha1(str(kernels).encode()).hexdigest()}"
    else:
        cache = kernels / "__pycache__"
    try:
        names = [n for n in os.listdir(cache) if n.endswith(tag)]
    except OSError:
        return True
    for module in modules:
        try:
            source_mtime = os.stat(kernels / f"{module}.py").st_mtime
        except OSError:
            continue
        if not any(os.stat(cache / n).st_mtime >= source_mtime for n in names if n.startswith(module + ".")):
            return True
    return False


def note_compiling(args: argparse.Namespace) -> None:
    # the resampler loads the PCM kernels; G.711 output is encoded with numpy tables, G.711 raw
    # input is decoded with the G.711 kernels
    raw_g711 = args.raw_format in FORMATS and FORMATS[args.raw_format].codec != "pcm_s16le"
    modules = ("pcm", "g711") if raw_g711 else ("pcm",)
    if not args.quiet and sys.stderr.isatty() and kernel_cache_cold(modules):
        print("audiofmt: compiling kernels, once…", file=sys.stderr, flush=True)


def policy(args: argparse.Namespace) -> str:
    return "overwrite" if args.overwrite else "skip" if args.no_overwrite else "error"


def parse_duration(text: str) -> Fraction:
    """[[HH:]MM:]SS[.fraction] → exact seconds (ffmpeg's duration syntax, without units)."""
    match = re.fullmatch(r"(?:(?:(\d+):)?(\d+):)?(\d+(?:\.\d*)?|\.\d+)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"expected seconds or [[HH:]MM:]SS[.frac]; got {text!r}")
    hours, minutes, seconds = match.groups()
    value = Fraction(seconds) + 60 * int(minutes or 0) + 3600 * int(hours or 0)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds; got {text!r}")
    return value


def int_at_least(lo: int) -> Callable[[str], int]:
    """An argparse type: an integer >= lo."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {lo}; got {text!r}") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"must be at least {lo}; got {value}")
        return value

    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number; got {text!r}")
    return value



def add_raw_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("headerless input")
    group.add_argument(
        "--raw-format", metavar="F", help="read inputs as raw: pcm16, g711_ulaw, g711_alaw, s16le, s16be, s32le, f32le, f64le, u8"
    )
    group.add_argument("--raw-rate", type=int, metavar="HZ", help="raw sample rate (session formats default to theirs)")
    group.add_argument("--raw-channels", type=int, default=1, metavar="N")


def add_overwrite_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-y", "--overwrite", action="store_true", help="replace existing outputs (never an input)")
    group.add_argument("-n", "--no-overwrite", action="store_true", help="skip inputs whose output exists")



