"""`audiofmt bridge` as a service: worker processes on one port, signals, drain, health, metrics, logs.

One worker runs in the calling process. With N > 1 the calling process becomes a supervisor: it
spawns N workers that each listen on the same address with SO_REUSEPORT (the kernel spreads new
connections over them), shares one --max-calls count between them, serves /healthz and /metrics
(Prometheus multiprocess mode: the workers write to a private directory, the supervisor sums it),
replaces a worker that dies, and on SIGTERM/SIGINT passes the signal on and waits for the drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import json
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .call import _timeout
from .config import BridgeConfig
from .metrics import BridgeMetrics
from .server import CallSlots, drain, serve, server_state

__all__ = ["JsonFormatter", "ServiceOptions", "run_service", "setup_logging", "start_health_server"]

log = logging.getLogger("audiofmt.bridge")
_EXTRA_FIELDS = ("call_sid", "stream_sid", "outcome", "peer")
_TRANSPORT_DEBUG = 9  # picows.PICOWS_DEBUG_LL: the upgrade requests and reads are logged there


@dataclass
class ServiceOptions:
    """What `run_service` needs; the CLI has already checked every value (see cli._bridge)."""

    config: BridgeConfig
    host: str
    port: int
    workers: int = 1
    certfile: str | None = None
    keyfile: str | None = None
    metrics_host: str | None = None
    metrics_port: int | None = None
    log_format: str = "text"
    log_level: int = logging.INFO
    announce: Callable[[str], None] | None = None  # prints the "listening" line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, pid, message and the call's SIDs when known."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name, "pid": record.process,
            "msg": record.getMessage(),
        }
        for name in _EXTRA_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(log_format: str, level: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("audiofmt").setLevel(level)
    # picows' own lines (connections, upgrade requests: redacted) only with -v -v, at picows' level 9
    for name in ("audiofmt.bridge.websocket", "audiofmt.bridge.upstream"):
        logging.getLogger(name).setLevel(_TRANSPORT_DEBUG if level <= logging.DEBUG else logging.WARNING)


def ssl_context(certfile: str | None, keyfile: str | None) -> ssl.SSLContext | None:
    """A server TLS context from PEM files (None without a certificate)."""
    if not certfile:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    return context


async def start_health_server(host: str, port: int, registry: Any, health: Callable[[], tuple[int, str]]) -> asyncio.Server:
    """A tiny HTTP/1.0 server: GET /healthz (200 "ok" or 503 with why) and GET /metrics
    (Prometheus text format from `registry`). Requests over 8 KiB or 5 s are dropped."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with _timeout(5):
                head = await reader.readuntil(b"\r\n\r\n")
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        parts = head.split(b"\r\n", 1)[0].split()
        method, path = (parts[0], parts[1].split(b"?", 1)[0]) if len(parts) >= 2 else (b"", b"")
        if method not in (b"GET", b"HEAD"):
            status, ctype, body = "405 Method Not Allowed", "text/plain", b"GET only\n"
        elif path == b"/healthz":
            code, text = health()
            status, ctype, body = ("200 OK" if code == 200 else "503 Service Unavailable"), "text/plain", text.encode() + b"\n"
        elif path == b"/metrics":
            status, ctype, body = "200 OK", CONTENT_TYPE_LATEST, generate_latest(registry)
        else:
            status, ctype, body = "404 Not Found", "text/plain", b"not found: try /healthz or /metrics\n"
        writer.write(f"HTTP/1.0 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                     f"Connection: close\r\n\r\n".encode() + (b"" if method == b"HEAD" else body))
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, host, port, limit=8192)


def raise_fd_limit(limits: Any) -> None:
    """Raise this process's open-file limit (soft, up to the hard limit) to what its connections
    can need: every phone connection, a Realtime connection per call, and some spare. Many systems
    start processes at 1024, which a few hundred calls would exhaust (accept() then fails)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return
    need = limits.max_connections + min(limits.max_calls, limits.max_connections) + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < need:
            log.warning("open-file limit %d < %d that --max-connections/--max-calls may need (raise `ulimit -n`)", target, need)


def run_loop(main: Any) -> Any:
    """asyncio.run(main) on uvloop when it is installed (the bridge extra brings it on Linux and
    macOS: about half the event loop's cost per message), else on asyncio's own loop.
    AUDIOFMT_NO_UVLOOP=1 keeps asyncio's loop."""
    if not os.environ.get("AUDIOFMT_NO_UVLOOP"):
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(main)
    return asyncio.run(main)


def _loop_name() -> str:
    """The event loop the bridge's calls run on (the workers use the same rule as run_loop)."""
    if os.environ.get("AUDIOFMT_NO_UVLOOP"):
        return "asyncio loop"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio loop"
    return "uvloop"


def _install_stop(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def _serve_until_signalled(opts: ServiceOptions, slots: CallSlots | None, metrics: Any,
                                 registry: Any, ready: Callable[[str], None]) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    _install_stop(loop, stop)
    server = await serve(opts.host, opts.port, opts.config, ssl=ssl_context(opts.certfile, opts.keyfile),
                         reuse_port=opts.workers > 1, slots=slots, metrics=metrics)
    health = None
    if registry is not None and opts.metrics_port is not None:
        state = server_state(server)
        health = await start_health_server(opts.metrics_host or "127.0.0.1", opts.metrics_port, registry,
                                           lambda: (503, "draining") if state.draining else (200, "ok"))
    sockname = server.sockets[0].getsockname()
    # what exists now (modules, the config, the server) lives as long as the process: out of the
    # cyclic GC's sight, so that a full collection under load walks the calls' objects only (the
    # ~64,000 objects of the imports took 12-37 ms per full collection here, a pause of every
    # call's audio)
    gc.freeze()
    ready(f"{sockname[0]}:{sockname[1]}")
    await stop.wait()
    log.info("signal received: draining (up to %g s)", opts.config.limits.drain_s)
    cut = await drain(server)
    log.info("drained: %d call(s) cut", cut)
    if health is not None:
        health.close()
    return 0


def _scheme(opts: ServiceOptions) -> str:
    return "wss" if opts.certfile else "ws"


def run_service(opts: ServiceOptions) -> int:
    """Run until SIGTERM/SIGINT, then drain. Returns the exit code."""
    setup_logging(opts.log_format, opts.log_level)
    raise_fd_limit(opts.config.limits)
    if opts.workers <= 1:
        registry = metrics = None
        if opts.metrics_port is not None:
            from prometheus_client import CollectorRegistry

            registry = CollectorRegistry()
            metrics = BridgeMetrics(registry)

        def ready(where: str) -> None:
            if opts.announce:
                health = f", health and metrics on http://{opts.metrics_host}:{opts.metrics_port}" if registry is not None else ""
                opts.announce(f"bridge listening on {_scheme(opts)}://{where} (1 process, {_loop_name()}){health}")

        return int(run_loop(_serve_until_signalled(opts, None, metrics, registry, ready)))
    return _Supervisor(opts).run()


def _worker_main(opts: ServiceOptions, shared: Any, index: int, reports: Any) -> None:
    """A worker process: the server on the shared port, its own loop, metrics into the shared dir."""
    setup_logging(opts.log_format, opts.log_level)
    raise_fd_limit(opts.config.limits)
    metrics = BridgeMetrics() if opts.metrics_port is not None else None  # multiprocess mode via the env
    slots = CallSlots(opts.config.limits.max_calls, shared)
    try:
        code = run_loop(
            _serve_until_signalled(opts, slots, metrics, None, lambda where: reports.put((index, os.getpid(), "ready", where)))
        )
    except OSError as exc:
        reports.put((index, os.getpid(), "error", f"cannot listen on {opts.host}:{opts.port}: {exc.strerror or exc}"))
        code = 2
    sys.exit(code)


class _Supervisor:
    def __init__(self, opts: ServiceOptions) -> None:
        self.opts = opts
        self.ctx = multiprocessing.get_context("spawn")
        self.shared = self.ctx.Value("i", 0)
        self.reports = self.ctx.Queue()
        self.workers: dict[int, Any] = {}
        self.stopping = False
        self.metrics_dir: str | None = None

    def _spawn(self, index: int) -> None:
        process = self.ctx.Process(
            target=_worker_main,
            args=(dataclasses.replace(self.opts, announce=None), self.shared, index, self.reports),
            name=f"audiofmt-bridge-{index}",
            daemon=False,
        )
        process.start()
        self.workers[index] = process

    def run(self) -> int:
        opts = self.opts
        if opts.metrics_port is not None:
            self.metrics_dir = tempfile.mkdtemp(prefix="audiofmt-bridge-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = self.metrics_dir
        try:
            for index in range(opts.workers):
                self._spawn(index)
            return asyncio.run(self._supervise())
        finally:
            for process in self.workers.values():
                if process.is_alive():
                    process.kill()
                process.join(1)
            if self.metrics_dir:
                shutil.rmtree(self.metrics_dir, ignore_errors=True)

    async def _next_report(self, timeout_s: float) -> tuple[int, int, str, str] | None:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(None, self.reports.get, True, timeout_s), timeout_s + 1)
        except Exception:
            return None

    async def _supervise(self) -> int:
        opts = self.opts
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        _install_stop(loop, stop)
        where = ""
        for _ in range(opts.workers):  # every worker listening, or a one-line error
            report = await self._next_report(60)
            if report is None or report[2] != "ready":
                print(f"audiofmt: error: {report[3] if report else 'a worker did not start within 60 s'}", file=sys.stderr)
                return 2
            where = report[3]
        health = None
        if opts.metrics_port is not None:
            from prometheus_client import CollectorRegistry, multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)

            def healthy() -> tuple[int, str]:
                if self.stopping:
                    return 503, "draining"
                alive = sum(p.is_alive() for p in self.workers.values())
                return (200, f"ok: {alive} workers") if alive == opts.workers else (503, f"{alive}/{opts.workers} workers alive")

            health = await start_health_server(opts.metrics_host or "127.0.0.1", opts.metrics_port, registry, healthy)
        if opts.announce:
            opts.announce(
                f"bridge listening on {_scheme(opts)}://{where} ({opts.workers} processes, SO_REUSEPORT, {_loop_name()})"
                + (f", health and metrics on http://{opts.metrics_host}:{opts.metrics_port}" if health else "")
            )
        restarts: list[float] = []
        failed = False
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with _timeout(0.5):
                    await stop.wait()
            for index, process in list(self.workers.items()):
                if not stop.is_set() and not process.is_alive():
                    now = loop.time()
                    restarts = [t for t in restarts if now - t < 60] + [now]
                    if len(restarts) > 5:
                        log.error("workers keep exiting (%d restarts in 60 s); stopping", len(restarts) - 1)
                        stop.set()
                        failed = True
                        break
                    log.warning("worker %d (pid %s) exited with %s; starting a new one", index, process.pid, process.exitcode)
                    if self.metrics_dir and process.pid:
                        with contextlib.suppress(Exception):
                            from prometheus_client import multiprocess

                            multiprocess.mark_process_dead(process.pid)
                    self._spawn(index)
        self.stopping = True
        log.info("signal received: draining %d workers (up to %g s)", len(self.workers), opts.config.limits.drain_s)
        for process in self.workers.values():
            if process.is_alive() and process.pid:
                os.kill(process.pid, signal.SIGTERM)
        deadline = loop.time() + opts.config.limits.drain_s + 10
        for process in self.workers.values():
            await loop.run_in_executor(None, process.join, max(0.0, deadline - loop.time()))
        if health is not None:
            health.close()
        return 1 if failed else 0


def probe_bind(host: str, port: int) -> None:
    """Raise OSError when (host, port) cannot be bound by anyone else (port in use, no such address).
    Binding without SO_REUSEPORT fails even against another SO_REUSEPORT listener."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                with contextlib.suppress(OSError):
                    probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            probe.bind(address)
