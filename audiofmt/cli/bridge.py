"""`audiofmt bridge`: every option checked before the service starts (each problem one line, exit 2)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from ..errors import AudioFormatError, UsageError
from ..formats import FORMATS
from .common import say


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
        from ..errors import _show

        return "; ".join(f"{path or '<session>'}: got {_show(value)}, expected {allowed}" for path, value, allowed in problems)
    return " ".join(str(exc).split())


def _bridge_options(args: argparse.Namespace) -> object:
    """Check everything the bridge needs before it starts (each problem: one line, exit 2)."""
    import logging
    from urllib.parse import urlsplit

    from ..bridge.auth import Auth, redact_url
    from ..bridge.server import BridgeConfig, Limits
    from ..bridge.service import ServiceOptions, probe_bind, ssl_context
    from ..realtime.session import Session

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
        announce=lambda text: say(args, f"{text}; model at {redact_url(args.realtime_url)}"),
    )


def _bridge(args: argparse.Namespace) -> int:
    from ..bridge.service import run_service

    options = _bridge_options(args)
    return run_service(options)  # type: ignore[arg-type]




def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    example = argparse.RawDescriptionHelpFormatter
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


