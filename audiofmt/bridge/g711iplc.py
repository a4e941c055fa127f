"""`python -m audiofmt.bridge.g711iplc [-noplc] [--frame-ms 10] PATTERN.g192 IN.raw OUT.raw`

A drop-in for the ITU-T STL (G.191) program `g711iplc` (G.711 Appendix I concealment), same
arguments and same output, sample for sample: IN and OUT are headerless 8 kHz mono int16
little-endian; PATTERN is an ITU-T G.192 frame-erasure file, one 16-bit little-endian word per
frame (0x6B21 received, 0x6B20 lost), read cyclically when shorter than the input. OUT is
time-aligned with IN and exactly as long. `--frame-ms` (a multiple of 10; the reference's is 10)
sets the frame each pattern word stands for. `-noplc` replaces lost frames by silence.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ..errors import AudioFormatError
from .plc import RATE_HZ, conceal, read_g192

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line; 0 on success, 1 on a bad file (message on stderr), 2 on bad usage."""
    ap = argparse.ArgumentParser(
        prog="python -m audiofmt.bridge.g711iplc",
        description="G.711 Appendix I packet loss concealment, sample-exact to ITU-T STL g711iplc.",
    )
    ap.add_argument("-noplc", action="store_true", help="lost frames become silence")
    ap.add_argument("--frame-ms", type=int, default=10, help="ms per pattern word, a multiple of 10 (default 10)")
    ap.add_argument("pattern", help="G.192 frame-erasure pattern (0x6B21 received, 0x6B20 lost)")
    ap.add_argument("input", help="headerless 8 kHz int16 little-endian")
    ap.add_argument("output", help="headerless 8 kHz int16 little-endian, aligned with the input")
    args = ap.parse_args(argv)
    if args.frame_ms <= 0 or args.frame_ms % 10:
        ap.error(f"--frame-ms {args.frame_ms}: expected a positive multiple of 10")
    try:
        with open(args.pattern, "rb") as f:
            pattern = read_g192(f.read())
        with open(args.input, "rb") as f:
            raw = f.read()
        if len(raw) % 2:
            raise AudioFormatError(f"{args.input}: {len(raw)} bytes, not a whole number of 16-bit samples")
        x = np.frombuffer(raw, dtype="<i2").astype(np.int16)
        frame = args.frame_ms * (RATE_HZ // 1000)
        y = conceal(x, np.resize(pattern, -(-len(x) // frame)), frame, plc=not args.noplc)
        with open(args.output, "wb") as f:
            f.write(y.astype("<i2").tobytes())
    except (AudioFormatError, OSError) as e:
        print(f"g711iplc: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
