"""`audiofmt convert`: audio files -> a session input format, one job per input, checked before any work."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from ..errors import AudioFormatError, OutputError, UsageError
from ..formats import FORMATS
from .common import (
    QUALITIES,
    Progress,
    add_overwrite_options,
    add_raw_options,
    finite_float,
    non_negative_int,
    note_compiling,
    parse_duration,
    policy,
    positive_int,
    say,
)

_EXTENSIONS = {("raw", "pcm16"): ".pcm", ("raw", "g711_ulaw"): ".ulaw", ("raw", "g711_alaw"): ".alaw"}
_CONTAINER_EXT = {"wav": ".wav", "jsonl": ".jsonl", "raw": ".raw"}


def _output_container(args: argparse.Namespace) -> str:
    """The container of convert's output(s), decided before anything is read."""
    from ..files.convert import container_for

    if args.output == "-":
        return args.container or "raw"  # stdout: the --to format's own bytes unless --container says
    if args.output:
        try:
            return container_for(args.output, args.container)
        except AudioFormatError as exc:
            raise UsageError(str(exc)) from None
    return args.container or "wav"


def _jobs(args: argparse.Namespace) -> tuple[list[Any], list[Any]]:
    """(jobs to run, jobs skipped because their output exists under -n), checked before any work."""
    from ..files.batch import Job
    from ..files.outputs import plan_outputs

    inputs = list(args.inputs)
    if "-" in inputs and len(inputs) > 1:
        raise UsageError("'-' (stdin) must be the only input")
    if args.output and len(inputs) > 1:
        raise UsageError("-o takes one input; use -d DIR for several")
    if inputs == ["-"] and not args.output:
        raise UsageError("reading stdin ('-') needs -o OUT, or -o - to write to stdout")
    if args.dask and "-" in inputs:
        raise UsageError("--dask cannot read stdin ('-')")
    if args.normalize and args.gain:
        raise UsageError("--gain and --normalize exclude each other")
    if args.normalize and inputs == ["-"]:
        raise UsageError("--normalize reads the input twice: it needs a file, not stdin")
    kind = _output_container(args)
    ext = _EXTENSIONS.get((kind, args.to), _CONTAINER_EXT[kind])
    created = False
    if args.output:
        destinations = [args.output]
    elif args.dir:
        directory = Path(args.dir)
        if directory.exists() and not directory.is_dir():
            raise UsageError(f"-d {args.dir}: not a directory")
        created = not directory.exists()
        directory.mkdir(parents=True, exist_ok=True)
        destinations = [str(directory / (Path(src).stem + ext)) for src in inputs]
    else:  # beside nothing the user named: ./STEM.FORMAT.EXT can never be the input's own name
        destinations = [f"{Path(src).stem}.{args.to}{ext}" for src in inputs]
    if args.dask:  # Dask workers run elsewhere, in another working directory
        inputs = [os.path.abspath(src) for src in inputs]
        destinations = [os.path.abspath(dst) for dst in destinations]
    try:
        runs = plan_outputs(list(zip(inputs, destinations)), policy(args))  # type: ignore[arg-type]
    except OutputError as exc:
        if args.dir and created:
            Path(args.dir).rmdir()  # leave nothing behind when nothing is done
        raise UsageError(str(exc)) from None
    raw = None
    if args.raw_format:
        raw = {"format": args.raw_format, "rate_hz": args.raw_rate, "channels": args.raw_channels}
    options = {"container": kind, "quality": args.quality, "raw": raw, "chunk_ms": args.chunk_ms,
               "event_id_prefix": args.event_id_prefix, "overwrite": bool(args.overwrite),
               "max_duration_s": args.max_duration, "channel": args.channel, "gain_db": args.gain or 0.0,
               "normalize_dbfs": -1.0 if args.normalize else None, "ignore_errors": args.ignore_errors}
    jobs = [Job(src, dst, {"to": args.to, **options}) for src, dst in zip(inputs, destinations)]
    return [j for j, run in zip(jobs, runs) if run], [j for j, run in zip(jobs, runs) if not run]


def _dask_client(args: argparse.Namespace) -> Any:
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--dask needs the optional extra: pip install 'audiofmt[dask]'") from None
    try:
        return Client(args.dask, timeout=args.dask_timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AudioFormatError(
            f"--dask {args.dask}: no scheduler reachable within {args.dask_timeout:g} s ({reason})"
        ) from None


def _convert(args: argparse.Namespace) -> int:
    from ..files.batch import run_dask, run_local

    jobs, skipped = _jobs(args)
    for job in skipped:
        say(args, f"audiofmt: skipped {job.source}: {job.destination} exists (-n)")
    if not jobs:
        return 0
    sizes = [os.path.getsize(j.source) if os.path.isfile(j.source) else 0 for j in jobs]
    bar = Progress(sizes, "convert", not args.quiet)
    index_of = {id(job): i for i, job in enumerate(jobs)}

    def done(outcome: Any) -> None:
        job = outcome.job
        bar.job_done(index_of.get(id(job), 0))
        if outcome.ok:
            r = outcome.result
            say(args, f"{job.source} -> {job.destination}: {r.frames_in} frames at {r.rate_in} Hz x {r.channels_in} ch "
                       f"-> {r.samples_out} samples {r.format} ({r.container})"
                       + (f", gain {r.gain_db:+.2f} dB" if r.gain_db else ""), 1)
            if r.n_clipped:
                bar.close()
                say(args, f"audiofmt: warning: {job.source}: {r.n_clipped} of {r.samples_out} samples clipped")
            for warning in r.warnings:
                say(args, f"audiofmt: warning: {warning}")
        else:
            bar.close()
            if args.verbose and outcome.traceback:
                say(args, outcome.traceback.rstrip(), 1)
            say(args, f"audiofmt: error: {outcome.error}")

    if args.dask:
        client = _dask_client(args)
        with client:
            outcomes = run_dask(jobs, client, done)
    else:
        note_compiling(args)
        try:
            outcomes = run_local(jobs, args.jobs if not any(j.source == "-" for j in jobs) else 1, done, bar.job_progress)
        finally:
            bar.close()
    failed = [o for o in outcomes if not o.ok]
    if len(jobs) + len(skipped) > 1:
        say(args, f"converted {len(jobs) - len(failed)} of {len(jobs) + len(skipped)} files"
                   + (f", skipped {len(skipped)} existing" if skipped else ""))
        for outcome in failed:
            say(args, f"  failed: {outcome.job.source}: {outcome.error}")
    return 1 if failed else 0




def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    example = argparse.RawDescriptionHelpFormatter
    convert = commands.add_parser(
        "convert",
        parents=[common],
        formatter_class=example,
        help="audio files -> a session input format (raw, WAV or JSONL append events)",
        epilog="examples:\n  audiofmt convert call.mp3 -o call.ulaw --to g711_ulaw\n"
        "  audiofmt convert *.flac -d out/ --to pcm16 --container jsonl -j 4\n"
        "  audiofmt convert - --raw-format s16le --raw-rate 16000 --to pcm16 -o - --container jsonl < in.raw\n"
        "  audiofmt convert call.wav --to pcm16          # writes ./call.pcm16.wav\n\n"
        "outputs: never over an input; an existing file only with -y (-n skips it);\n"
        "two inputs onto one output is an error. Without -o/-d: ./STEM.FORMAT.EXT.",
    )
    convert.add_argument("inputs", nargs="+", metavar="IN", help="audio files ('-' for stdin, then -o is required)")
    where = convert.add_mutually_exclusive_group()
    where.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="output file; container from its extension. '-' is stdout: raw --to bytes unless --container",
    )
    where.add_argument("-d", "--dir", metavar="DIR", help="output directory (created if missing): DIR/STEM.EXT")
    convert.add_argument("--to", required=True, choices=list(FORMATS), help="session format to produce")
    convert.add_argument(
        "--container", choices=["raw", "wav", "jsonl"], help="override the container (default: from OUT, else wav)"
    )
    convert.add_argument("--quality", default="hq", choices=QUALITIES)
    convert.add_argument("--chunk-ms", type=positive_int, default=100, help="audio per JSONL event, ms (default 100)")
    convert.add_argument("--event-id-prefix", help="give JSONL events event_id PREFIX1, PREFIX2, ...")
    add_overwrite_options(convert)
    convert.add_argument(
        "-t",
        "--max-duration",
        type=parse_duration,
        metavar="SECONDS",
        help="read at most this much of each input ([[HH:]MM:]SS[.frac]): the first floor(SECONDS x rate) frames",
    )
    mix = convert.add_argument_group("channels and level")
    mix.add_argument(
        "--channel", type=non_negative_int, metavar="N", help="take channel N (0 = first/left) instead of the mean of all"
    )
    mix.add_argument("--gain", type=finite_float, metavar="DB", help="scale by DB decibels before the rounding to int16")
    mix.add_argument("--normalize", action="store_true", help="scale so the output peaks at -1 dBFS (reads each input twice)")
    run = convert.add_argument_group("running")
    run.add_argument(
        "-j", "--jobs", type=positive_int, default=os.cpu_count() or 1, metavar="N", help="parallel processes (default: cores)"
    )
    run.add_argument(
        "--dask",
        metavar="SCHEDULER",
        help="run on a Dask cluster at this address (pip install 'audiofmt[dask]'); "
        "inputs and outputs are made absolute paths first, so the workers must see this file system",
    )
    run.add_argument(
        "--dask-timeout",
        type=finite_float,
        default=10.0,
        metavar="SECONDS",
        help="give up connecting to the scheduler after this long (default 10)",
    )
    run.add_argument(
        "--ignore-errors",
        action="store_true",
        help="convert what can be read of a damaged or cut-short input, with a warning saying how much was lost",
    )
    add_raw_options(convert)
    convert.set_defaults(run=_convert, signals=True)


