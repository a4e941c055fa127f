"""`audiofmt decode`, `info` and `roundtrip`: model output to audio, what a file holds, a codec round trip."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import AudioFormatError, OutputError, UsageError
from ..formats import FORMATS
from .common import QUALITIES, add_overwrite_options, add_raw_options, policy, say

_RAW_BY_EXTENSION = {".ulaw": "g711_ulaw", ".mulaw": "g711_ulaw", ".alaw": "g711_alaw", ".pcm": "pcm16"}


def _decode(args: argparse.Namespace) -> int:
    from ..files.decode import decode_file
    from ..files.outputs import plan_outputs

    if args.output is None:
        if args.input == "-":
            raise UsageError("decode from stdin needs -o OUT (or -o - for stdout)")
        args.output = str(Path(args.input).with_suffix(".wav"))
    if args.input != "-":
        try:
            if not plan_outputs([(args.input, args.output)], policy(args))[0]:  # type: ignore[arg-type]
                say(args, f"audiofmt: skipped {args.input}: {args.output} exists (-n)")
                return 0
        except OutputError as exc:
            raise UsageError(str(exc)) from None
    result = decode_file(args.input, args.output, args.from_format, rate_hz=args.rate, quality=args.quality,
                         container=args.container, overwrite=bool(args.overwrite))
    say(args, f"{result.source} -> {result.destination}: {result.samples} samples at {result.rate_hz} Hz", 1)
    if result.clipped:
        say(args, f"audiofmt: warning: {result.source}: {result.clipped} of {result.samples} samples clipped")
    return 0


def _info(args: argparse.Namespace) -> int:
    from ..files.info import probe
    from ..files.sources import RawSpec

    explicit = RawSpec(args.raw_format, args.raw_rate, args.raw_channels) if args.raw_format else None
    reports: list[dict[str, Any]] = []
    failed = 0
    for path in args.files:
        raw = explicit
        if raw is None and Path(path).suffix.lower() in _RAW_BY_EXTENSION:  # what convert writes raw
            raw = RawSpec(_RAW_BY_EXTENSION[Path(path).suffix.lower()])
        try:
            reports.append(probe(path, raw).to_dict())
        except AudioFormatError as exc:
            failed += 1
            reports.append({"path": path, "error": str(exc)})
            if not args.json:
                say(args, f"audiofmt: error: {exc}")
    if args.json:
        for r in reports:  # silence is -inf dBFS, which JSON cannot hold: null
            r.update({k: None for k in ("peak_dbfs", "rms_dbfs") if k in r and r[k] == float("-inf")})
        print(json.dumps(reports if len(reports) > 1 else reports[0], indent=2, allow_nan=False))
    else:
        for r in reports:
            if "error" not in r:
                print(f"{r['path']}: {r['container']} {r['subtype']}, {r['rate_hz']} Hz, {r['channels']} ch, "
                      f"{r['frames']} frames, {r['duration_s']:.3f} s, peak {r['peak_dbfs']:.1f} dBFS, "
                      f"RMS {r['rms_dbfs']:.1f} dBFS")
    return 1 if failed else 0


def _roundtrip(args: argparse.Namespace) -> int:
    import numpy as np

    from .. import codecs
    from ..files.outputs import atomic_output, plan_outputs
    from ..files.sources import open_source
    from ..resampler.core import channel_mean, resample

    fmt = FORMATS[args.format]
    if args.output:
        kind = {".wav": "WAV", ".flac": "FLAC"}.get(Path(args.output).suffix.lower())
        if kind is None:
            raise UsageError(f"roundtrip -o writes .wav or .flac; got {args.output!r}")
        try:
            if not plan_outputs([(args.input, args.output)], policy(args))[0]:  # type: ignore[arg-type]
                say(args, f"audiofmt: skipped: {args.output} exists (-n)")
                args.output = None
        except OutputError as exc:
            raise UsageError(str(exc)) from None
    src = open_source(args.input)
    try:
        samples = np.concatenate(list(src.blocks()))
    finally:
        src.close()
    mono = channel_mean(samples)
    resampled = mono if src.rate_hz == fmt.rate_hz else resample(mono, src.rate_hz, fmt.rate_hz)
    reference, n_clipped = codecs.float_to_int16(resampled, clip="ignore")
    data = codecs.encode(reference, fmt)
    back = codecs.decode(data, fmt)
    error = back.astype(np.float64) - reference
    snr_db = 10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / max(float(np.sum(error**2)), 1e-30))
    frames, channels = samples.shape
    print(f"read     {src.name}: {frames} frames x {channels} ch at {src.rate_hz} Hz ({src.container} {src.subtype})")
    if src.rate_hz != fmt.rate_hz:
        print(f"resample {src.rate_hz} Hz -> {fmt.rate_hz} Hz: {resampled.shape[0]} samples")
    print(f"encode   {fmt.name}: {len(data)} bytes ({len(data) // fmt.bytes_per_ms} ms)")
    print(
        f"decode   {back.shape[0]} int16 samples; round-trip SNR {snr_db:.1f} dB, max error {int(np.abs(error).max(initial=0))}"
    )
    if n_clipped:
        say(args, f"audiofmt: warning: {src.name}: {n_clipped} of {reference.shape[0]} samples clipped")
    if args.output:
        import soundfile

        with (
            atomic_output(args.output, overwrite=bool(args.overwrite)) as out,
            soundfile.SoundFile(out, "w", fmt.rate_hz, 1, "PCM_16", format=kind) as writer,
        ):
            writer.write(back)
        print(f"wrote    {args.output}")
    return 0




def add_decode_info_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    example = argparse.RawDescriptionHelpFormatter
    decode = commands.add_parser(
        "decode",
        parents=[common],
        formatter_class=example,
        help="model output (raw bytes or JSONL of audio delta events) -> WAV, FLAC or raw PCM",
        epilog="examples:\n  audiofmt decode deltas.jsonl --from pcm16 -o reply.wav\n"
        "  audiofmt decode reply.ulaw --from g711_ulaw --rate 16000 -o reply.flac\n"
        "  audiofmt decode reply.ulaw --from g711_ulaw -o - | aplay -f S16_LE -r 8000",
    )
    decode.add_argument("input", metavar="IN", help="raw bytes or .jsonl ('-' for stdin)")
    decode.add_argument("--from", dest="from_format", required=True, choices=list(FORMATS))
    decode.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help=".wav, .flac, .pcm or .raw (default: IN with .wav); '-' is stdout (raw s16le unless --container wav)",
    )
    decode.add_argument("--container", choices=["wav", "flac", "raw"], help="override the container (default: from OUT)")
    decode.add_argument("--rate", type=int, metavar="HZ", help="output rate (default: the format's own)")
    decode.add_argument("--quality", default="hq", choices=QUALITIES)
    add_overwrite_options(decode)
    decode.set_defaults(run=_decode, signals=True)

    info = commands.add_parser(
        "info",
        parents=[common],
        formatter_class=example,
        help="what an audio file holds",
        epilog="examples:\n  audiofmt info call.wav\n  audiofmt info --json *.flac\n"
        "  audiofmt info call.ulaw           # .ulaw/.alaw/.pcm: read as g711_ulaw/g711_alaw/pcm16 raw",
    )
    info.add_argument("files", nargs="+", metavar="FILE")
    info.add_argument("--json", action="store_true", help="machine-readable output (levels of silence: null)")
    add_raw_options(info)
    info.set_defaults(run=_info, signals=True)


def add_roundtrip_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    roundtrip = commands.add_parser(
        "roundtrip",
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="encode a file to a session format and decode it back, printing what happened",
        epilog="example:\n  audiofmt roundtrip fixtures/speech_16k.wav --format g711_ulaw -o back.wav",
    )
    roundtrip.add_argument("input")
    roundtrip.add_argument("--format", choices=list(FORMATS), default="g711_ulaw")
    roundtrip.add_argument("-o", "--output", help="write the decoded audio to this .wav or .flac")
    add_overwrite_options(roundtrip)
    roundtrip.set_defaults(run=_roundtrip, signals=True)

