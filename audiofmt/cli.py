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
        from .realtime.session import _show

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
        import websockets  # noqa: F401
    except ImportError:
        raise UsageError('the bridge needs the optional extra: pip install "audiofmt[bridge]"') from None
    if not os.environ.get(args.api_key_env):
        raise UsageError(f"{args.api_key_env} is not set: the bridge needs the Realtime API key there (--api-key-env names another variable)")
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
    profiles: dict = {}
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
            raise UsageError(f"--public-url {args.public_url}: expected wss://HOST[:PORT]/PATH without a query string (Twilio sends none)")
    if twilio_token and not args.public_url:
        raise UsageError(f"{args.twilio_auth_token_env} is set but --public-url is not: Twilio signs the URL it connects to, so the bridge must know it")
    if not (twilio_token or path_token):
        if not args.insecure_no_auth:
            raise UsageError(f"no authentication: set {args.twilio_auth_token_env} (with --public-url) and/or {args.path_token_env}; "
                             "--insecure-no-auth runs without, on loopback only")
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
    for flag, seconds in (("--idle-timeout", args.idle_timeout), ("--start-timeout", args.start_timeout),
                          ("--handshake-timeout", args.handshake_timeout), ("--drain-seconds", args.drain_seconds)):
        if not seconds > 0 and not (flag == "--drain-seconds" and seconds == 0):
            raise UsageError(f"{flag} {seconds}: expected a positive number of seconds")
    limits = Limits(max_calls=args.max_calls, max_connections=args.max_connections, idle_s=args.idle_timeout, start_s=args.start_timeout,
                    handshake_s=args.handshake_timeout, drain_s=args.drain_seconds)

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

    config = BridgeConfig(args.realtime_url, api_key_env=args.api_key_env, session=session.to_dict(),
                          beta_header=not args.ga, auth=auth, limits=limits, greeting=args.greeting, profiles=profiles)
    level = logging.DEBUG if args.verbose >= 2 else logging.INFO if args.verbose or not args.quiet else logging.WARNING
    return ServiceOptions(config=config, host=host, port=port, workers=workers, certfile=args.certfile,
                          keyfile=args.keyfile, metrics_host=metrics_host, metrics_port=metrics_port,
                          log_format=args.log_format, log_level=level,
                          announce=lambda text: _say(args, f"{text}; model at {redact_url(args.realtime_url)}"))


def _bridge(args: argparse.Namespace) -> int:
    from .bridge.service import run_service

    options = _bridge_options(args)
    return run_service(options)  # type: ignore[arg-type]


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
        description="Twilio connects over wss://; each authenticated call gets its own Realtime connection. See docs/bridge.md.",
        epilog="example (behind a TLS proxy that forwards wss://bridge.example.com/twilio to port 8080):\n"
               "  export OPENAI_API_KEY=... TWILIO_AUTH_TOKEN=...\n"
               "  audiofmt bridge --listen 127.0.0.1:8080 --public-url wss://bridge.example.com/twilio \\\n"
               "      --realtime-url 'wss://api.openai.com/v1/realtime?model=gpt-4o-realtime-preview' \\\n"
               "      --instructions 'You are a friendly receptionist.' --greeting 'Hello, how can I help?'")
    bridge.add_argument("--listen", default="127.0.0.1:8080", metavar="HOST:PORT", help="where Twilio (or your TLS proxy) connects")
    bridge.add_argument("--realtime-url", required=True, metavar="URL", help="the Realtime WebSocket endpoint (ws:// or wss://)")
    bridge.add_argument("--api-key-env", default="OPENAI_API_KEY", metavar="VAR", help="environment variable holding the API key (never logged)")
    bridge.add_argument("--format", default="g711_ulaw", choices=list(FORMATS), help="session audio format, both directions")
    bridge.add_argument("--session", metavar="FILE", help="a session object (JSON, either shape) to send instead")
    bridge.add_argument("--instructions", metavar="TEXT", help="the model's instructions (over --session's)")
    bridge.add_argument("--voice", metavar="NAME", help="the model's voice (over --session's)")
    bridge.add_argument("--greeting", metavar="TEXT", help="have the model greet each caller with this as the call starts")
    bridge.add_argument("--profiles", metavar="FILE", help="JSON {name: session fields}; a call picks one with <Parameter name=\"profile\" value=\"name\"/>")
    bridge.add_argument("--ga", action="store_true", help="speak the GA event shapes (no OpenAI-Beta header)")
    auth = bridge.add_argument_group("authentication (at least one, unless --insecure-no-auth on loopback)")
    auth.add_argument("--public-url", metavar="URL", help="the wss:// URL in your TwiML <Stream url>; Twilio signs it")
    auth.add_argument("--twilio-auth-token-env", default="TWILIO_AUTH_TOKEN", metavar="VAR",
                      help="variable holding the Twilio auth token: X-Twilio-Signature is checked (default TWILIO_AUTH_TOKEN)")
    auth.add_argument("--path-token-env", default="AUDIOFMT_BRIDGE_PATH_TOKEN", metavar="VAR",
                      help="variable holding a secret path token: the route becomes <public path>/<token>")
    auth.add_argument("--insecure-no-auth", action="store_true", help="accept any client (loopback only; for local testing)")
    tls = bridge.add_argument_group("TLS (or terminate TLS in a reverse proxy)")
    tls.add_argument("--certfile", metavar="PEM", help="certificate chain: serve wss:// directly")
    tls.add_argument("--keyfile", metavar="PEM", help="private key (if not in --certfile)")
    ops = bridge.add_argument_group("limits and operation")
    ops.add_argument("--workers", type=int, metavar="N", help="processes sharing the port with SO_REUSEPORT (default: cores)")
    ops.add_argument("--max-calls", type=int, default=100, metavar="N", help="calls at once, all workers together (default 100)")
    ops.add_argument("--max-connections", type=int, default=512, metavar="N",
                     help="open TCP connections per worker, unauthenticated handshakes included (default 512)")
    ops.add_argument("--idle-timeout", type=float, default=30.0, metavar="S", help="end a call after S seconds without media (default 30)")
    ops.add_argument("--start-timeout", type=float, default=10.0, metavar="S", help="wait S seconds for Twilio's start message (default 10)")
    ops.add_argument("--handshake-timeout", type=float, default=10.0, metavar="S", help="TLS + WebSocket upgrade time limit (default 10)")
    ops.add_argument("--drain-seconds", type=float, default=30.0, metavar="S", help="on SIGTERM, let calls finish for up to S seconds (default 30)")
    ops.add_argument("--metrics-listen", metavar="HOST:PORT", help="serve /healthz and /metrics (Prometheus) here")
    ops.add_argument("--log-format", choices=["text", "json"], default="text", help="json: one object per line with the call SID")
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
