"""The command line: argument handling and printing only; the work happens in the library."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .errors import AudioFormatError
from .formats import FORMATS


def _roundtrip(args: argparse.Namespace) -> int:
    import numpy as np
    import soundfile

    from . import codecs

    fmt = FORMATS[args.format]
    try:
        samples, rate_hz = soundfile.read(args.input, dtype="float64", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioFormatError(f"{args.input}: cannot read audio: {exc}") from None
    mono = samples.mean(axis=1)
    if rate_hz != fmt.rate_hz:
        from .resampler import resample

        mono = resample(mono, rate_hz, fmt.rate_hz)
    data = codecs.encode(mono, fmt, clip="warn")
    back = codecs.decode(data, fmt)
    reference, _ = codecs.float_to_int16(mono, clip="ignore")
    error = back.astype(np.float64) - reference
    snr_db = 10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / max(np.sum(error**2), 1e-30))
    print(f"read     {args.input}: {samples.shape[0]} frames x {samples.shape[1]} ch at {rate_hz} Hz")
    if rate_hz != fmt.rate_hz:
        print(f"resample {rate_hz} Hz -> {fmt.rate_hz} Hz: {mono.shape[0]} samples")
    print(f"encode   {fmt.name}: {len(data)} bytes ({len(data) // fmt.bytes_per_ms} ms)")
    print(f"decode   {back.shape[0]} int16 samples; round-trip SNR {snr_db:.1f} dB, max error {int(np.abs(error).max(initial=0))}")
    if args.output:
        soundfile.write(args.output, back, fmt.rate_hz, subtype="PCM_16")
        print(f"wrote    {args.output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audiofmt", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    roundtrip = commands.add_parser(
        "roundtrip",
        help="encode an audio file to a session format and decode it back, printing what happened",
        epilog="example: audiofmt roundtrip fixtures/speech_16k.wav --format g711_ulaw -o back.wav",
    )
    roundtrip.add_argument("input", help="audio file (any format libsndfile reads)")
    roundtrip.add_argument("--format", choices=list(FORMATS), default="g711_ulaw")
    roundtrip.add_argument("-o", "--output", help="write the decoded audio to this WAV")
    roundtrip.set_defaults(run=_roundtrip)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except AudioFormatError as exc:
        print(f"audiofmt: error: {exc}", file=sys.stderr)
        return 1
