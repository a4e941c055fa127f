"""audiofmt's command line: argument handling and printing only; the work is in the library.

Exit codes: 0 all good, 1 some inputs failed (the others were still converted), 2 usage error.
Errors print as one line; -v adds the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from .errors import AudioFormatError
from .formats import FORMATS

class UsageError(AudioFormatError):
    """A command line that cannot be carried out as given (exit code 2)."""


_EXTENSIONS = {("raw", "pcm16"): ".pcm", ("raw", "g711_ulaw"): ".ulaw", ("raw", "g711_alaw"): ".alaw"}


class Progress:
    """A one-line progress bar on stderr, drawn only on a TTY and only after the first 0.5 s."""

    def __init__(self, total: float, label: str, enabled: bool) -> None:
        self.total, self.label, self.done = max(total, 1e-9), label, 0.0
        self.enabled = enabled and sys.stderr.isatty()
        self.start = self.last = time.monotonic()

    def advance(self, amount: float) -> None:
        self.done += amount
        now = time.monotonic()
        if self.enabled and now - self.start > 0.5 and now - self.last > 0.1:
            self.last = now
            fraction = min(self.done / self.total, 1.0)
            bar = "#" * int(fraction * 30)
            eta = (now - self.start) * (1 - fraction) / fraction if fraction > 0 else 0
            sys.stderr.write(f"\r{self.label} [{bar:<30}] {fraction:6.1%}  eta {eta:4.0f}s")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.last > self.start:
            sys.stderr.write("\r" + " " * 60 + "\r")
            sys.stderr.flush()


def _say(args: argparse.Namespace, text: str, level: int = 0) -> None:
    if not args.quiet and args.verbose >= level:
        print(text, file=sys.stderr)


def _jobs(args: argparse.Namespace) -> list:
    from .files.batch import Job
    from .files.convert import container_for

    inputs = args.inputs
    if args.output and len(inputs) > 1:
        raise UsageError("-o takes one input; use -d DIR for several")
    if args.output:
        destinations = [args.output]
    else:
        directory = Path(args.dir or ".")
        directory.mkdir(parents=True, exist_ok=True)
        kind = args.container or "wav"
        ext = _EXTENSIONS.get((kind, args.to), ".wav" if kind == "wav" else ".jsonl" if kind == "jsonl" else ".raw")
        destinations = [str(directory / (Path(src).stem + ext)) for src in inputs]
    if "-" in inputs and len(inputs) > 1:
        raise UsageError("'-' (stdin) must be the only input")
    raw = None
    if args.raw_format:
        raw = {"format": args.raw_format, "rate": args.raw_rate, "channels": args.raw_channels}
    options = {"container": args.container, "quality": args.quality, "raw": raw, "chunk_ms": args.chunk_ms,
               "event_id_prefix": args.event_id_prefix, "ignore_errors": args.ignore_errors}
    for dst in destinations:
        try:
            container_for(dst, args.container)  # a bad destination is a usage error, before any work
        except AudioFormatError as exc:
            raise UsageError(str(exc)) from None
    return [Job(src, dst, {"to": args.to, **options}) for src, dst in zip(inputs, destinations)]


def _convert(args: argparse.Namespace) -> int:
    from .files.batch import run_dask, run_local

    jobs = _jobs(args)
    total_bytes = sum(os.path.getsize(j.source) if os.path.isfile(j.source) else 0 for j in jobs)
    bar = Progress(total_bytes or len(jobs), "convert", not args.quiet and args.output != "-")

    def done(outcome) -> None:  # noqa: ANN001
        job = outcome.job
        bar.advance(os.path.getsize(job.source) if total_bytes and os.path.isfile(job.source) else 1)
        if outcome.ok:
            r = outcome.result
            _say(args, f"{job.source} -> {job.destination}: {r.frames_in} frames at {r.rate_in} Hz x {r.channels_in} ch "
                       f"-> {r.samples_out} samples {r.format} ({r.container}), {r.n_clipped} clipped", 1)
            for warning in r.warnings:
                _say(args, f"audiofmt: warning: {warning}")
        else:
            bar.close()
            if args.verbose and outcome.traceback:
                _say(args, outcome.traceback.rstrip(), 1)
            _say(args, f"audiofmt: error: {outcome.error}")

    if args.dask:
        try:
            from distributed import Client
        except ImportError:
            raise UsageError("--dask needs the optional extra: pip install 'audiofmt[dask]'") from None
        with Client(args.dask) as client:
            outcomes = run_dask(jobs, client, done)
    else:
        outcomes = run_local(jobs, args.jobs if not any(j.source == "-" for j in jobs) else 1, done)
    bar.close()
    failed = [o for o in outcomes if not o.ok]
    if len(jobs) > 1:
        _say(args, f"converted {len(jobs) - len(failed)} of {len(jobs)} files")
        for outcome in failed:
            _say(args, f"  failed: {outcome.error}")
    return 1 if failed else 0


def _decode(args: argparse.Namespace) -> int:
    from .files.convert import decode_file

    output = args.output or (str(Path(args.input).with_suffix(".wav")) if args.input != "-" else None)
    if output is None:
        raise UsageError("decode from stdin needs -o OUT")
    result = decode_file(args.input, output, args.from_format, rate=args.rate, quality=args.quality)
    _say(args, f"{result.source} -> {result.destination}: {result.samples} samples at {result.rate_hz} Hz", 1)
    return 0


def _info(args: argparse.Namespace) -> int:
    from .files.convert import RawSpec, probe

    raw = RawSpec(args.raw_format, args.raw_rate, args.raw_channels) if args.raw_format else None
    reports, failed = [], 0
    for path in args.files:
        try:
            reports.append(probe(path, raw))
        except AudioFormatError as exc:
            failed += 1
            reports.append({"path": path, "error": str(exc)})
            if not args.json:
                _say(args, f"audiofmt: error: {exc}")
    if args.json:
        print(json.dumps(reports if len(reports) > 1 else reports[0], indent=2))
    else:
        for r in reports:
            if "error" not in r:
                print(f"{r['path']}: {r['container']} {r['subtype']}, {r['rate_hz']} Hz, {r['channels']} ch, "
                      f"{r['frames']} frames, {r['duration_s']:.3f} s, peak {r['peak_dbfs']:.1f} dBFS, "
                      f"RMS {r['rms_dbfs']:.1f} dBFS")
    return 1 if failed else 0


def _roundtrip(args: argparse.Namespace) -> int:
    import numpy as np
    import soundfile

    from . import codecs
    from .files.convert import open_source
    from .resampler.core import channel_mean, resample

    fmt = FORMATS[args.format]
    src = open_source(args.input)
    samples = np.concatenate(list(src.blocks()))
    src.close()
    mono = channel_mean(samples)
    resampled = mono if src.rate == fmt.rate_hz else resample(mono, src.rate, fmt.rate_hz)
    data = codecs.encode(resampled, fmt, clip="warn")
    back = codecs.decode(data, fmt)
    reference, _ = codecs.float_to_int16(resampled, clip="ignore")
    error = back.astype(np.float64) - reference
    snr_db = 10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / max(float(np.sum(error**2)), 1e-30))
    print(f"read     {src.name}: {samples.shape[0]} frames x {samples.shape[1]} ch at {src.rate} Hz ({src.container} {src.subtype})")
    if src.rate != fmt.rate_hz:
        print(f"resample {src.rate} Hz -> {fmt.rate_hz} Hz: {resampled.shape[0]} samples")
    print(f"encode   {fmt.name}: {len(data)} bytes ({len(data) // fmt.bytes_per_ms} ms)")
    print(f"decode   {back.shape[0]} int16 samples; round-trip SNR {snr_db:.1f} dB, max error {int(np.abs(error).max(initial=0))}")
    if args.output:
        soundfile.write(args.output, back, fmt.rate_hz, subtype="PCM_16")
        print(f"wrote    {args.output}")
    return 0


def _bridge(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from .bridge.server import BridgeConfig, serve

    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--listen must be HOST:PORT; got {args.listen!r}")
    session = {"input_audio_format": args.format, "output_audio_format": args.format}
    if args.session:
        session = json.loads(Path(args.session).read_text())
    config = BridgeConfig(args.realtime_url, api_key_env=args.api_key_env, session=session, beta_header=not args.ga)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(name)s %(message)s")

    async def run() -> None:
        async with await serve(host, int(port), config):
            _say(args, f"bridge listening on ws://{host}:{port}, model at {args.realtime_url}")
            await asyncio.Future()  # until interrupted

    asyncio.run(run())
    return 0


def _add_raw_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("headerless input")
    group.add_argument("--raw-format", metavar="F", help="read inputs as raw: pcm16, g711_ulaw, g711_alaw, s16le, s16be, s32le, f32le, f64le, u8")
    group.add_argument("--raw-rate", type=int, metavar="HZ", help="raw sample rate (session formats default to theirs)")
    group.add_argument("--raw-channels", type=int, default=1, metavar="N")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors' exit code")
    common.add_argument("-v", "--verbose", action="count", default=0, help="more detail (and tracebacks)")
    parser = argparse.ArgumentParser(prog="audiofmt", description="Audio for realtime voice APIs: convert, decode, inspect.")
    commands = parser.add_subparsers(dest="command", required=True)
    example = argparse.RawDescriptionHelpFormatter

    convert = commands.add_parser("convert", parents=[common], formatter_class=example,
        help="audio files -> a session input format (raw, WAV or JSONL append events)",
        epilog="examples:\n  audiofmt convert call.mp3 -o call.ulaw --to g711_ulaw\n"
               "  audiofmt convert *.flac -d out/ --to pcm16 --container jsonl -j 4\n"
               "  audiofmt convert - --raw-format s16le --raw-rate 16000 --to pcm16 -o - --container jsonl < in.raw")
    convert.add_argument("inputs", nargs="+", metavar="IN", help="audio files ('-' for stdin)")
    where = convert.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", metavar="OUT", help="output file ('-' for stdout); container from its extension")
    where.add_argument("-d", "--dir", metavar="DIR", help="output directory for several inputs")
    convert.add_argument("--to", required=True, choices=list(FORMATS), help="session format to produce")
    convert.add_argument("--container", choices=["raw", "wav", "jsonl"], help="override the container (default: from OUT, else wav)")
    convert.add_argument("--quality", default="hq", choices=["hq", "vhq", "low_latency"])
    convert.add_argument("--chunk-ms", type=int, default=100, help="audio per JSONL event, ms (default 100)")
    convert.add_argument("--event-id-prefix", help="give JSONL events event_id PREFIX1, PREFIX2, ...")
    convert.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, metavar="N", help="parallel processes (default: cores)")
    convert.add_argument("--ignore-errors", action="store_true",
                         help="convert what can be read of a damaged or cut-short input, with a warning saying how much was lost")
    convert.add_argument("--dask", metavar="SCHEDULER", help="run on a Dask cluster at this address (pip install 'audiofmt[dask]')")
    _add_raw_options(convert)
    convert.set_defaults(run=_convert)

    decode = commands.add_parser("decode", parents=[common], formatter_class=example,
        help="model output (raw bytes or JSONL of audio delta events) -> WAV, FLAC or raw PCM",
        epilog="examples:\n  audiofmt decode deltas.jsonl --from pcm16 -o reply.wav\n  audiofmt decode reply.ulaw --from g711_ulaw --rate 16000 -o reply.flac")
    decode.add_argument("input", metavar="IN", help="raw bytes or .jsonl ('-' for stdin)")
    decode.add_argument("--from", dest="from_format", required=True, choices=list(FORMATS))
    decode.add_argument("-o", "--output", metavar="OUT", help=".wav, .flac, .pcm or .raw (default: IN with .wav)")
    decode.add_argument("--rate", type=int, metavar="HZ", help="output rate (default: the format's own)")
    decode.add_argument("--quality", default="hq", choices=["hq", "vhq", "low_latency"])
    decode.set_defaults(run=_decode)

    info = commands.add_parser("info", parents=[common], formatter_class=example, help="what an audio file holds",
        epilog="examples:\n  audiofmt info call.wav\n  audiofmt info --json *.flac")
    info.add_argument("files", nargs="+", metavar="FILE")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    _add_raw_options(info)
    info.set_defaults(run=_info)

    bridge = commands.add_parser("bridge", parents=[common], formatter_class=example,
        help="run a Twilio Media Streams <-> Realtime bridge (pip install 'audiofmt[bridge]')",
        epilog="example:\n  OPENAI_API_KEY=... audiofmt bridge --listen 127.0.0.1:8080 \\\n"
               "      --realtime-url 'wss://api.openai.com/v1/realtime?model=gpt-4o-realtime-preview'")
    bridge.add_argument("--listen", default="127.0.0.1:8080", metavar="HOST:PORT", help="where Twilio connects")
    bridge.add_argument("--realtime-url", required=True, metavar="URL", help="the Realtime WebSocket endpoint")
    bridge.add_argument("--api-key-env", default="OPENAI_API_KEY", metavar="VAR", help="environment variable holding the API key (never logged)")
    bridge.add_argument("--format", default="g711_ulaw", choices=list(FORMATS), help="session audio format, both directions")
    bridge.add_argument("--session", metavar="FILE", help="a session object (JSON, either shape) to send instead")
    bridge.add_argument("--ga", action="store_true", help="speak the GA event shapes (no OpenAI-Beta header)")
    bridge.set_defaults(run=_bridge)

    roundtrip = commands.add_parser("roundtrip", parents=[common], formatter_class=example,
        help="encode a file to a session format and decode it back, printing what happened",
        epilog="example:\n  audiofmt roundtrip fixtures/speech_16k.wav --format g711_ulaw -o back.wav")
    roundtrip.add_argument("input")
    roundtrip.add_argument("--format", choices=list(FORMATS), default="g711_ulaw")
    roundtrip.add_argument("-o", "--output", help="write the decoded audio to this WAV")
    roundtrip.set_defaults(run=_roundtrip)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except AudioFormatError as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"audiofmt: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1
    except KeyboardInterrupt:
        print("audiofmt: interrupted", file=sys.stderr)
        return 130
