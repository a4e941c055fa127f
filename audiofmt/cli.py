"""audiofmt's command line: argument handling and printing only; the work is in the library.

Exit codes: 0 all good, 1 some inputs failed (the others were still converted), 2 usage error
(nothing was done), 128+N ended by signal N (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).
Errors print as one line; -v adds the traceback. Outputs follow audiofmt.files.outputs' rules: never
over an input, never two jobs onto one file, an existing file only with -y.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from . import __version__
from ._checks import QUALITY_NAMES
from .errors import AudioFormatError, OutputError, UsageError
from .formats import FORMATS

_EXTENSIONS = {("raw", "pcm16"): ".pcm", ("raw", "g711_ulaw"): ".ulaw", ("raw", "g711_alaw"): ".alaw"}
_CONTAINER_EXT = {"wav": ".wav", "jsonl": ".jsonl", "raw": ".raw"}
# raw outputs info reads without --raw-format (what convert writes for each session format)
_RAW_BY_EXTENSION = {".ulaw": "g711_ulaw", ".mulaw": "g711_ulaw", ".alaw": "g711_alaw", ".pcm": "pcm16"}
_QUALITIES = list(QUALITY_NAMES)  # the resampling presets


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


def _say(args: argparse.Namespace, text: str, level: int = 0) -> None:
    if not args.quiet and args.verbose >= level:
        print(text, file=sys.stderr)


def kernel_cache_cold(modules: Sequence[str] = ("pcm",)) -> bool:
    """Whether this run will compile kernels: for one of the kernel `modules` ("pcm", used by
    every conversion; "g711"), numba's on-disk cache holds no index file (.nbi) newer than the
    module's source. A few stat calls, where numba keeps its cache (NUMBA_CACHE_DIR, else the
    package's kernels/__pycache__)."""
    kernels = Path(__file__).resolve().parent / "kernels"
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


def _note_compiling(args: argparse.Namespace) -> None:
    modules = ("pcm", "g711") if FORMATS[args.to].codec != "pcm_s16le" else ("pcm",)
    if not args.quiet and sys.stderr.isatty() and kernel_cache_cold(modules):
        print("audiofmt: compiling kernels, once…", file=sys.stderr, flush=True)


def _policy(args: argparse.Namespace) -> str:
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


def _int_at_least(lo: int) -> Callable[[str], int]:
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


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number; got {text!r}")
    return value


def _output_container(args: argparse.Namespace) -> str:
    """The container of convert's output(s), decided before anything is read."""
    from .files.convert import container_for

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
    from .files.batch import Job
    from .files.outputs import plan_outputs

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
        runs = plan_outputs(list(zip(inputs, destinations)), _policy(args))  # type: ignore[arg-type]
    except OutputError as exc:
        if args.dir and created:
            Path(args.dir).rmdir()  # leave nothing behind when nothing is done
        raise UsageError(str(exc)) from None
    raw = None
    if args.raw_format:
        raw = {"format": args.raw_format, "rate": args.raw_rate, "channels": args.raw_channels}
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
    from .files.batch import run_dask, run_local

    jobs, skipped = _jobs(args)
    for job in skipped:
        _say(args, f"audiofmt: skipped {job.source}: {job.destination} exists (-n)")
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
            _say(args, f"{job.source} -> {job.destination}: {r.frames_in} frames at {r.rate_in} Hz x {r.channels_in} ch "
                       f"-> {r.samples_out} samples {r.format} ({r.container})"
                       + (f", gain {r.gain_db:+.2f} dB" if r.gain_db else ""), 1)
            if r.n_clipped:
                bar.close()
                _say(args, f"audiofmt: warning: {job.source}: {r.n_clipped} of {r.samples_out} samples clipped")
            for warning in r.warnings:
                _say(args, f"audiofmt: warning: {warning}")
        else:
            bar.close()
            if args.verbose and outcome.traceback:
                _say(args, outcome.traceback.rstrip(), 1)
            _say(args, f"audiofmt: error: {outcome.error}")

    if args.dask:
        client = _dask_client(args)
        with client:
            outcomes = run_dask(jobs, client, done)
    else:
        _note_compiling(args)
        try:
            outcomes = run_local(jobs, args.jobs if not any(j.source == "-" for j in jobs) else 1, done, bar.job_progress)
        finally:
            bar.close()
    failed = [o for o in outcomes if not o.ok]
    if len(jobs) + len(skipped) > 1:
        _say(args, f"converted {len(jobs) - len(failed)} of {len(jobs) + len(skipped)} files"
                   + (f", skipped {len(skipped)} existing" if skipped else ""))
        for outcome in failed:
            _say(args, f"  failed: {outcome.job.source}: {outcome.error}")
    return 1 if failed else 0


def _decode(args: argparse.Namespace) -> int:
    from .files.convert import decode_file
    from .files.outputs import plan_outputs

    if args.output is None:
        if args.input == "-":
            raise UsageError("decode from stdin needs -o OUT (or -o - for stdout)")
        args.output = str(Path(args.input).with_suffix(".wav"))
    if args.input != "-":
        try:
            if not plan_outputs([(args.input, args.output)], _policy(args))[0]:  # type: ignore[arg-type]
                _say(args, f"audiofmt: skipped {args.input}: {args.output} exists (-n)")
                return 0
        except OutputError as exc:
            raise UsageError(str(exc)) from None
    result = decode_file(args.input, args.output, args.from_format, rate=args.rate, quality=args.quality,
                         container=args.container, overwrite=bool(args.overwrite))
    _say(args, f"{result.source} -> {result.destination}: {result.samples} samples at {result.rate_hz} Hz", 1)
    if result.clipped:
        _say(args, f"audiofmt: warning: {result.source}: {result.clipped} of {result.samples} samples clipped")
    return 0


def _info(args: argparse.Namespace) -> int:
    from .files.convert import RawSpec, probe

    explicit = RawSpec(args.raw_format, args.raw_rate, args.raw_channels) if args.raw_format else None
    reports: list[dict[str, Any]] = []
    failed = 0
    for path in args.files:
        raw = explicit
        if raw is None and Path(path).suffix.lower() in _RAW_BY_EXTENSION:  # what convert writes raw
            raw = RawSpec(_RAW_BY_EXTENSION[Path(path).suffix.lower()])
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

    from . import codecs
    from .files.convert import open_source
    from .files.outputs import atomic_output, plan_outputs
    from .resampler.core import channel_mean, resample

    fmt = FORMATS[args.format]
    if args.output:
        kind = {".wav": "WAV", ".flac": "FLAC"}.get(Path(args.output).suffix.lower())
        if kind is None:
            raise UsageError(f"roundtrip -o writes .wav or .flac; got {args.output!r}")
        try:
            if not plan_outputs([(args.input, args.output)], _policy(args))[0]:  # type: ignore[arg-type]
                _say(args, f"audiofmt: skipped: {args.output} exists (-n)")
                args.output = None
        except OutputError as exc:
            raise UsageError(str(exc)) from None
    src = open_source(args.input)
    try:
        samples = np.concatenate(list(src.blocks()))
    finally:
        src.close()
    mono = channel_mean(samples)
    resampled = mono if src.rate == fmt.rate_hz else resample(mono, src.rate, fmt.rate_hz)
    reference, n_clipped = codecs.float_to_int16(resampled, clip="ignore")
    data = codecs.encode(reference, fmt)
    back = codecs.decode(data, fmt)
    error = back.astype(np.float64) - reference
    snr_db = 10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / max(float(np.sum(error**2)), 1e-30))
    frames, channels = samples.shape
    print(f"read     {src.name}: {frames} frames x {channels} ch at {src.rate} Hz ({src.container} {src.subtype})")
    if src.rate != fmt.rate_hz:
        print(f"resample {src.rate} Hz -> {fmt.rate_hz} Hz: {resampled.shape[0]} samples")
    print(f"encode   {fmt.name}: {len(data)} bytes ({len(data) // fmt.bytes_per_ms} ms)")
    print(
        f"decode   {back.shape[0]} int16 samples; round-trip SNR {snr_db:.1f} dB, max error {int(np.abs(error).max(initial=0))}"
    )
    if n_clipped:
        _say(args, f"audiofmt: warning: {src.name}: {n_clipped} of {reference.shape[0]} samples clipped")
    if args.output:
        import soundfile

        with (
            atomic_output(args.output, overwrite=bool(args.overwrite)) as out,
            soundfile.SoundFile(out, "w", fmt.rate_hz, 1, "PCM_16", format=kind) as writer,
        ):
            writer.write(back)
        print(f"wrote    {args.output}")
    return 0


def _listen_address(flag: str, value: str, allow_zero: bool) -> tuple[str, int]:
    """HOST:PORT or [IPv6]:PORT, resolvable, port in range; else a UsageError naming `flag`."""
    import socket

    host, sep, port_text = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit():
        raise UsageError(f"{flag} must be HOST:PORT (or [IPv6]:PORT); got {value!r}")
    port = int(port_text)
    if port == 0 and not allow_zero and flag == "--listen":
        raise UsageError(f"{flag} {value}: port 0 (any free port) needs --workers 1: workers must share one known port")
    if not (0 if allow_zero else 1) <= port <= 65535:
        raise UsageError(f"{flag} {value}: port {port} is out of range ({0 if allow_zero else 1}-65535)")
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"{flag} {value}: cannot resolve {host!r} ({exc})") from None
    return host, port


def _is_loopback(host: str) -> bool:
    import ipaddress
    import socket

    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)
    except (OSError, ValueError):
        return False


def _json_file(flag: str, path: str) -> object:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise UsageError(f"{flag} {path}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{flag} {path}: not JSON ({exc})") from None


def _one_line(exc: Exception) -> str:
    problems = getattr(exc, "problems", None)
    if problems:
        from .errors import _show

        return "; ".join(f"{path or '<session>'}: got {_show(value)}, expected {allowed}" for path, value, allowed in problems)
    return " ".join(str(exc).split())


def _bridge_options(args: argparse.Namespace) -> object:
    """Check everything the bridge needs before it starts (each problem: one line, exit 2)."""
    import logging
    from urllib.parse import urlsplit

    from .bridge.auth import Auth, redact_url
    from .bridge.server import BridgeConfig, Limits
    from .bridge.service import ServiceOptions, probe_bind, ssl_context
    from .realtime.session import Session

    try:
        import picows  # noqa: F401
    except ImportError:
        raise UsageError('the bridge needs the optional extra: pip install "audiofmt[bridge]"') from None
    if not os.environ.get(args.api_key_env):
        raise UsageError(
            f"{args.api_key_env} is not set: the bridge needs the Realtime API key there (--api-key-env names another variable)"
        )
    url = urlsplit(args.realtime_url)
    if url.scheme not in ("ws", "wss") or not url.hostname:
        raise UsageError(f"--realtime-url {redact_url(args.realtime_url)}: expected a ws:// or wss:// URL with a host")
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    if workers < 1:
        raise UsageError(f"--workers {workers}: expected at least 1")
    host, port = _listen_address("--listen", args.listen, allow_zero=workers == 1)

    session_obj: object = {"input_audio_format": args.format, "output_audio_format": args.format}
    if args.session:
        session_obj = _json_file("--session", args.session)
    try:
        session = Session.parse(session_obj)
        overrides = {k: v for k, v in (("instructions", args.instructions), ("voice", args.voice)) if v is not None}
        if overrides:
            session = session.update(overrides)
        session.update_event("ga" if args.ga else "beta")  # what every call sends: refuse now, not per call
    except AudioFormatError as exc:
        where = f"--session {args.session}" if args.session else "the session"
        raise UsageError(f"{where}: invalid: {_one_line(exc)}") from None
    profiles: dict[str, Any] = {}
    if args.profiles:
        loaded = _json_file("--profiles", args.profiles)
        if not isinstance(loaded, dict) or not all(isinstance(v, dict) for v in loaded.values()):
            raise UsageError(f"--profiles {args.profiles}: expected a JSON object of name -> session fields")
        for name, partial in loaded.items():
            try:
                session.update(partial).update_event("ga" if args.ga else "beta")
            except AudioFormatError as exc:
                raise UsageError(f"--profiles {args.profiles}: profile {name!r} is invalid: {_one_line(exc)}") from None
        profiles = loaded

    twilio_token = os.environ.get(args.twilio_auth_token_env) or None
    path_token = os.environ.get(args.path_token_env) or None
    if path_token is not None and (len(path_token) < 16 or "/" in path_token or "?" in path_token):
        raise UsageError(f"{args.path_token_env}: the path token must be at least 16 characters, without '/' or '?'")
    if args.public_url:
        public = urlsplit(args.public_url)
        if public.scheme not in ("wss", "ws") or not public.hostname or public.query:
            raise UsageError(
                f"--public-url {args.public_url}: expected wss://HOST[:PORT]/PATH without a query string (Twilio sends none)"
            )
    if twilio_token and not args.public_url:
        raise UsageError(
            f"{args.twilio_auth_token_env} is set but --public-url is not: "
            "Twilio signs the URL it connects to, so the bridge must know it"
        )
    if not (twilio_token or path_token):
        if not args.insecure_no_auth:
            raise UsageError(
                f"no authentication: set {args.twilio_auth_token_env} (with --public-url) and/or {args.path_token_env}; "
                "--insecure-no-auth runs without, on loopback only"
            )
        if not _is_loopback(host):
            raise UsageError(f"--insecure-no-auth only listens on loopback (127.0.0.1, ::1); got --listen {args.listen}")
    auth = Auth(public_url=args.public_url or "ws://localhost/", twilio_auth_token=twilio_token, path_token=path_token)

    if args.keyfile and not args.certfile:
        raise UsageError("--keyfile needs --certfile")
    try:
        ssl_context(args.certfile, args.keyfile)
    except (OSError, ValueError) as exc:
        raise UsageError(f"--certfile/--keyfile: cannot load ({getattr(exc, 'strerror', None) or exc})") from None

    for flag, value in (("--max-calls", args.max_calls), ("--max-connections", args.max_connections)):
        if value < 1:
            raise UsageError(f"{flag} {value}: expected at least 1")
    for flag, seconds in (
        ("--idle-timeout", args.idle_timeout),
        ("--start-timeout", args.start_timeout),
        ("--handshake-timeout", args.handshake_timeout),
        ("--drain-seconds", args.drain_seconds),
    ):
        if not seconds > 0 and not (flag == "--drain-seconds" and seconds == 0):
            raise UsageError(f"{flag} {seconds}: expected a positive number of seconds")
    limits = Limits(
        max_calls=args.max_calls,
        max_connections=args.max_connections,
        idle_s=args.idle_timeout,
        start_s=args.start_timeout,
        handshake_s=args.handshake_timeout,
        drain_s=args.drain_seconds,
    )

    metrics_host = metrics_port = None
    if args.metrics_listen:
        try:
            import prometheus_client  # noqa: F401
        except ImportError:
            raise UsageError('--metrics-listen needs prometheus-client: pip install "audiofmt[bridge]"') from None
        metrics_host, metrics_port = _listen_address("--metrics-listen", args.metrics_listen, allow_zero=False)
    for flag, (h, p) in (("--listen", (host, port)), ("--metrics-listen", (metrics_host, metrics_port))):
        if h is None or p is None or p == 0:
            continue
        try:
            probe_bind(h, p)
        except OSError as exc:
            raise UsageError(f"{flag} {h}:{p}: cannot listen there ({exc.strerror or exc})") from None

    config = BridgeConfig(
        args.realtime_url,
        api_key_env=args.api_key_env,
        session=session.to_dict(),
        beta_header=not args.ga,
        auth=auth,
        limits=limits,
        greeting=args.greeting,
        profiles=profiles,
    )
    level = logging.DEBUG if args.verbose >= 2 else logging.INFO if args.verbose or not args.quiet else logging.WARNING
    return ServiceOptions(
        config=config,
        host=host,
        port=port,
        workers=workers,
        certfile=args.certfile,
        keyfile=args.keyfile,
        metrics_host=metrics_host,
        metrics_port=metrics_port,
        log_format=args.log_format,
        log_level=level,
        announce=lambda text: _say(args, f"{text}; model at {redact_url(args.realtime_url)}"),
    )


def _bridge(args: argparse.Namespace) -> int:
    from .bridge.service import run_service

    options = _bridge_options(args)
    return run_service(options)  # type: ignore[arg-type]


def _add_raw_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("headerless input")
    group.add_argument(
        "--raw-format", metavar="F", help="read inputs as raw: pcm16, g711_ulaw, g711_alaw, s16le, s16be, s32le, f32le, f64le, u8"
    )
    group.add_argument("--raw-rate", type=int, metavar="HZ", help="raw sample rate (session formats default to theirs)")
    group.add_argument("--raw-channels", type=int, default=1, metavar="N")


def _add_overwrite_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-y", "--overwrite", action="store_true", help="replace existing outputs (never an input)")
    group.add_argument("-n", "--no-overwrite", action="store_true", help="skip inputs whose output exists")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors' exit code")
    common.add_argument("-v", "--verbose", action="count", default=0, help="more detail (and tracebacks)")
    parser = argparse.ArgumentParser(prog="audiofmt", description="Audio for realtime voice APIs: convert, decode, inspect.")
    parser.add_argument("--version", action="version", version=f"audiofmt {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
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
    convert.add_argument("--quality", default="hq", choices=_QUALITIES)
    convert.add_argument("--chunk-ms", type=_positive_int, default=100, help="audio per JSONL event, ms (default 100)")
    convert.add_argument("--event-id-prefix", help="give JSONL events event_id PREFIX1, PREFIX2, ...")
    _add_overwrite_options(convert)
    convert.add_argument(
        "-t",
        "--max-duration",
        type=parse_duration,
        metavar="SECONDS",
        help="read at most this much of each input ([[HH:]MM:]SS[.frac]): the first floor(SECONDS x rate) frames",
    )
    mix = convert.add_argument_group("channels and level")
    mix.add_argument(
        "--channel", type=_non_negative_int, metavar="N", help="take channel N (0 = first/left) instead of the mean of all"
    )
    mix.add_argument("--gain", type=_finite_float, metavar="DB", help="scale by DB decibels before the rounding to int16")
    mix.add_argument("--normalize", action="store_true", help="scale so the output peaks at -1 dBFS (reads each input twice)")
    run = convert.add_argument_group("running")
    run.add_argument(
        "-j", "--jobs", type=_positive_int, default=os.cpu_count() or 1, metavar="N", help="parallel processes (default: cores)"
    )
    run.add_argument(
        "--dask",
        metavar="SCHEDULER",
        help="run on a Dask cluster at this address (pip install 'audiofmt[dask]'); "
        "inputs and outputs are made absolute paths first, so the workers must see this file system",
    )
    run.add_argument(
        "--dask-timeout",
        type=_finite_float,
        default=10.0,
        metavar="SECONDS",
        help="give up connecting to the scheduler after this long (default 10)",
    )
    run.add_argument(
        "--ignore-errors",
        action="store_true",
        help="convert what can be read of a damaged or cut-short input, with a warning saying how much was lost",
    )
    _add_raw_options(convert)
    convert.set_defaults(run=_convert, signals=True)

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
    decode.add_argument("--quality", default="hq", choices=_QUALITIES)
    _add_overwrite_options(decode)
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
    info.add_argument("--json", action="store_true", help="machine-readable output")
    _add_raw_options(info)
    info.set_defaults(run=_info, signals=True)

    bridge = commands.add_parser(
        "bridge",
        parents=[common],
        formatter_class=example,
        help="run a Twilio Media Streams <-> Realtime bridge (pip install 'audiofmt[bridge]')",
        description="Twilio connects over wss://; each authenticated call gets its own Realtime connection. See docs/bridge.md.",
        epilog="example (behind a TLS proxy that forwards wss://bridge.example.com/twilio to port 8080):\n"
        "  export OPENAI_API_KEY=... TWILIO_AUTH_TOKEN=...\n"
        "  audiofmt bridge --listen 127.0.0.1:8080 --public-url wss://bridge.example.com/twilio \\\n"
        "      --realtime-url 'wss://api.openai.com/v1/realtime?model=gpt-4o-realtime-preview' \\\n"
        "      --instructions 'You are a friendly receptionist.' --greeting 'Hello, how can I help?'",
    )
    bridge.add_argument(
        "--listen", default="127.0.0.1:8080", metavar="HOST:PORT", help="where Twilio (or your TLS proxy) connects"
    )
    bridge.add_argument("--realtime-url", required=True, metavar="URL", help="the Realtime WebSocket endpoint (ws:// or wss://)")
    bridge.add_argument(
        "--api-key-env", default="OPENAI_API_KEY", metavar="VAR", help="environment variable holding the API key (never logged)"
    )
    bridge.add_argument("--format", default="g711_ulaw", choices=list(FORMATS), help="session audio format, both directions")
    bridge.add_argument("--session", metavar="FILE", help="a session object (JSON, either shape) to send instead")
    bridge.add_argument("--instructions", metavar="TEXT", help="the model's instructions (over --session's)")
    bridge.add_argument("--voice", metavar="NAME", help="the model's voice (over --session's)")
    bridge.add_argument("--greeting", metavar="TEXT", help="have the model greet each caller with this as the call starts")
    bridge.add_argument(
        "--profiles",
        metavar="FILE",
        help='JSON {name: session fields}; a call picks one with <Parameter name="profile" value="name"/>',
    )
    bridge.add_argument("--ga", action="store_true", help="speak the GA event shapes (no OpenAI-Beta header)")
    auth = bridge.add_argument_group("authentication (at least one, unless --insecure-no-auth on loopback)")
    auth.add_argument("--public-url", metavar="URL", help="the wss:// URL in your TwiML <Stream url>; Twilio signs it")
    auth.add_argument(
        "--twilio-auth-token-env",
        default="TWILIO_AUTH_TOKEN",
        metavar="VAR",
        help="variable holding the Twilio auth token: X-Twilio-Signature is checked (default TWILIO_AUTH_TOKEN)",
    )
    auth.add_argument(
        "--path-token-env",
        default="AUDIOFMT_BRIDGE_PATH_TOKEN",
        metavar="VAR",
        help="variable holding a secret path token: the route becomes <public path>/<token>",
    )
    auth.add_argument("--insecure-no-auth", action="store_true", help="accept any client (loopback only; for local testing)")
    tls = bridge.add_argument_group("TLS (or terminate TLS in a reverse proxy)")
    tls.add_argument("--certfile", metavar="PEM", help="certificate chain: serve wss:// directly")
    tls.add_argument("--keyfile", metavar="PEM", help="private key (if not in --certfile)")
    ops = bridge.add_argument_group("limits and operation")
    ops.add_argument("--workers", type=int, metavar="N", help="processes sharing the port with SO_REUSEPORT (default: cores)")
    ops.add_argument("--max-calls", type=int, default=100, metavar="N", help="calls at once, all workers together (default 100)")
    ops.add_argument(
        "--max-connections",
        type=int,
        default=512,
        metavar="N",
        help="open TCP connections per worker, unauthenticated handshakes included (default 512)",
    )
    ops.add_argument(
        "--idle-timeout", type=float, default=30.0, metavar="S", help="end a call after S seconds without media (default 30)"
    )
    ops.add_argument(
        "--start-timeout", type=float, default=10.0, metavar="S", help="wait S seconds for Twilio's start message (default 10)"
    )
    ops.add_argument(
        "--handshake-timeout", type=float, default=10.0, metavar="S", help="TLS + WebSocket upgrade time limit (default 10)"
    )
    ops.add_argument(
        "--drain-seconds",
        type=float,
        default=30.0,
        metavar="S",
        help="on SIGTERM, let calls finish for up to S seconds (default 30)",
    )
    ops.add_argument("--metrics-listen", metavar="HOST:PORT", help="serve /healthz and /metrics (Prometheus) here")
    ops.add_argument("--log-format", choices=["text", "json"], default="text", help="json: one object per line with the call SID")
    bridge.set_defaults(run=_bridge)

    roundtrip = commands.add_parser(
        "roundtrip",
        parents=[common],
        formatter_class=example,
        help="encode a file to a session format and decode it back, printing what happened",
        epilog="example:\n  audiofmt roundtrip fixtures/speech_16k.wav --format g711_ulaw -o back.wav",
    )
    roundtrip.add_argument("input")
    roundtrip.add_argument("--format", choices=list(FORMATS), default="g711_ulaw")
    roundtrip.add_argument("-o", "--output", help="write the decoded audio to this .wav or .flac")
    _add_overwrite_options(roundtrip)
    roundtrip.set_defaults(run=_roundtrip, signals=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .files.outputs import Terminated, signals_raise

    try:
        if getattr(args, "signals", False):
            with signals_raise():  # SIGTERM/SIGHUP end the command like Ctrl-C: temp files removed
                return int(args.run(args))
        return int(args.run(args))
    except AudioFormatError as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"audiofmt: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1
    except BrokenPipeError:  # stdout's reader is gone (`| head`): stop quietly, as a pipe expects
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141
    except OSError as exc:  # the file system said no (permissions, a vanished file, ...): one line
        if args.verbose:
            traceback.print_exc()
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"audiofmt: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("audiofmt: interrupted", file=sys.stderr)
        return 130
    except Terminated as exc:
        print(f"audiofmt: {exc}", file=sys.stderr)
        return 128 + exc.signum
