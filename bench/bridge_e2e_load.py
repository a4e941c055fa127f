"""End-to-end bridge load: the real `audiofmt bridge` process between N simulated Twilio callers
and a stand-in Realtime server, all separate processes on loopback; the naive sample-code relay
(bench/naive_relay.py) in the same run.

    python bench/bridge_e2e_load.py [--formats g711_ulaw,pcm16] [--steps 50,100,200,400,800,1600]
                                    [--gen-procs 2] [--warm 2] [--measure 6] [--relays audiofmt,naive]
                                    [--bridge-cmd "python -m audiofmt bridge"] [--bridge-args "..."] [--no-auth]

Processes (each its own PID, CPU read from /proc/<pid>/stat utime+stime over the window):
- the relay under test: `audiofmt bridge --listen … --realtime-url ws://127.0.0.1:PORT --format F`
  (its worker processes summed, if it forks any), or `python bench/naive_relay.py` with the same flags;
- a stand-in Realtime server (picows + orjson): answers `session.update`, and on every
  `input_audio_buffer.append` sends a `response.audio.delta` carrying the same audio (same
  duration, the session's output format), so audio flows both ways at 50 messages/s per call
  in each direction, 4 WebSocket messages per call per 20 ms through the relay;
- G load-generator processes (picows + uvloop + orjson + pybase64), N callers in all. Each caller
  connects (signed with X-Twilio-Signature when the bridge verifies it), sends `connected`,
  `start` (streamSid, callSid, customParameters), then one `media` every 20 ms on an absolute
  schedule (160 bytes μ-law, chunk and timestamp counting up, phases spread over the 20 ms),
  and checks what comes back: `media` frames, their size (160 bytes of μ-law), their arrival.

Measured over a window after a warm-up, per N:
- lateness at the caller: gap between consecutive received media frames of a call − 20 ms,
  p50 / p99 / max over all calls; also the round trip (k-th byte range out vs the time the
  caller sent it) and the generator's own send lateness (its health);
- lost: after the last media and a drain, each call's received μ-law bytes vs sent; a call whose
  shortfall exceeds what the path may legitimately hold (0 for μ-law; 2 frames for pcm16: two
  streaming resamplers' delay and the unfinished frame) counts the excess frames as lost;
- relay CPU: utime + stime over the window → µs per call per 20 ms and cores in use.

Rule: N holds when p99 lateness ≤ 20 ms and no frame is lost. calls per core = largest N that
holds / relay cores in use at that N. A step whose load generator or stand-in was itself near a
full core, or whose generator sent late (p99 > 5 ms), is flagged: its lateness then measures
the generator, not the relay, and the output says so. The machine is a shared 2-core VM: the
load average and the machine's busy share over each window are printed beside every row.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import math
import os
import secrets
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import _procstat

HERE = Path(__file__).resolve().parent
FRAME_BYTES = 160
TICK_S = 0.020
HOLD_FRAMES = {"g711_ulaw": 0, "pcm16": 2}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def twilio_signature(auth_token: str, url: str) -> str:
    """Twilio's request signature: base64(HMAC-SHA1(auth token, URL + sorted POST params)); a
    WebSocket upgrade has no POST parameters, so it signs the URL alone."""
    return base64.b64encode(hmac.new(auth_token.encode(), url.encode(), hashlib.sha1).digest()).decode()


def _use_uvloop() -> None:
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


# -- stand-in Realtime server ---------------------------------------------------------------
def run_standin(port_file: str) -> None:
    import orjson
    from picows import WSListener, WSMsgType, ws_create_server

    created = orjson.dumps({"type": "session.created", "session": {"id": "sess_bench", "input_audio_format": "pcm16",
                                                                     "output_audio_format": "pcm16"}})
    head = b'{"type":"response.audio.delta","event_id":"event_bench","response_id":"resp_1","item_id":"item_1","output_index":0,"content_index":0,"delta":"'

    class Model(WSListener):
        def on_ws_connected(self, transport) -> None:
            transport.send(WSMsgType.TEXT, created)

        def on_ws_frame(self, transport, frame) -> None:
            if frame.msg_type == WSMsgType.TEXT:
                event = orjson.loads(frame.get_payload_as_bytes())
                kind = event.get("type")
                if kind == "input_audio_buffer.append":
                    transport.send(WSMsgType.TEXT, head + event["audio"].encode() + b'"}')
                elif kind == "session.update":
                    transport.send(WSMsgType.TEXT, orjson.dumps({"type": "session.updated", "session": event.get("session", {})}))
            elif frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()

    async def main() -> None:
        server = await ws_create_server(lambda request: Model(), "127.0.0.1", 0, max_frame_size=1 << 22)
        Path(port_file).write_text(str(server.sockets[0].getsockname()[1]))
        await asyncio.Future()

    _use_uvloop()
    asyncio.run(main())


# -- load generator -------------------------------------------------------------------------
def run_generator(args: argparse.Namespace) -> None:
    """N callers in one process. Cheap per message, so that the generator is not what saturates
    first on a small machine: the callers are grouped into `--gen-slots` phase slots over the
    20 ms (one timer per slot and tick sends the media of all its callers, and records one send
    time for them), each media message is one bytes formatting of a per-caller template, and what
    comes back is parsed (orjson) and its payload decoded (strict base64) from the frame's memory."""
    import orjson
    import pybase64
    from picows import WSListener, WSMsgType, ws_connect

    n_calls, first, total = args.gen_calls, args.gen_first, args.gen_total
    n_frames = args.gen_frames
    payloads = [pybase64.b64encode(bytes(((i * 13 + k * 7) % 255) for k in range(FRAME_BYTES))) for i in range(50)]
    headers = {"X-Twilio-Signature": args.gen_signature} if args.gen_signature else None
    text = WSMsgType.TEXT
    b64decode, loads, monotonic = pybase64.b64decode, orjson.loads, time.monotonic

    class Caller(WSListener):
        def __init__(self, index: int) -> None:
            self.index = index
            self.sid = f"MZ{index:032x}"
            self.template = (b'{"event":"media","sequenceNumber":"%d","streamSid":"' + self.sid.encode()
                             + b'","media":{"track":"inbound","chunk":"%d","timestamp":"%d","payload":"%s"}}')
            self.transport: Any = None
            self.sent_at: list[float] = []  # the slot's send times: this caller's k-th frame left at sent_at[k]
            self.n_sent = 0
            self.last: float | None = None
            self.gaps: list[float] = []
            self.rtts: list[float] = []
            self.received_bytes = 0
            self.frames = 0
            self.odd_frames = 0
            self.other: dict[str, int] = {}
            self.closed = False

        def on_ws_connected(self, transport) -> None:
            self.transport = transport
            transport.send(text, orjson.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            transport.send(text, orjson.dumps({"event": "start", "sequenceNumber": "1", "streamSid": self.sid, "start": {
                "accountSid": "AC" + "0" * 32, "streamSid": self.sid, "callSid": f"CA{self.index:032x}", "tracks": ["inbound"],
                "customParameters": {"caller": f"+1555{self.index:07d}", "bench": "e2e"},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))

        def on_ws_disconnected(self, transport) -> None:
            self.closed = True

        def on_ws_frame(self, transport, frame) -> None:
            if frame.msg_type is not text:
                if frame.msg_type == WSMsgType.CLOSE:
                    transport.disconnect()
                return
            now = monotonic()
            msg = loads(frame.get_payload_as_memoryview())
            if msg.get("event") != "media":
                event = str(msg.get("event"))
                self.other[event] = self.other.get(event, 0) + 1
                if event == "mark":
                    transport.send(text, orjson.dumps({"event": "mark", "streamSid": self.sid, "mark": msg["mark"]}))
                return
            n_bytes = len(b64decode(msg["media"]["payload"], validate=True))
            self.frames += 1
            if n_bytes != FRAME_BYTES:
                self.odd_frames += 1
            self.received_bytes += n_bytes
            if t0 <= now <= t1:
                if self.last is not None and self.last >= t0:
                    self.gaps.append(now - self.last)
                k = (self.received_bytes - 1) // FRAME_BYTES
                if k < self.n_sent:
                    self.rtts.append(now - self.sent_at[k])
            self.last = now

    url = f"ws://127.0.0.1:{args.gen_port}{args.gen_path}"

    async def main() -> None:
        nonlocal t0, t1
        loop = asyncio.get_running_loop()
        callers: list[Caller] = []
        failures: list[str] = []
        sem = asyncio.Semaphore(25)

        async def connect(index: int) -> None:
            async with sem:
                try:
                    _, caller = await ws_connect(lambda: Caller(index), url, extra_headers=headers, websocket_handshake_timeout=30)
                    callers.append(caller)
                except Exception as exc:
                    failures.append(f"{type(exc).__name__}: {exc}"[:200])

        await asyncio.gather(*(connect(first + i) for i in range(n_calls)))
        print(json.dumps({"ready": len(callers), "failures": failures[:3], "n_failures": len(failures)}), flush=True)
        line = await loop.run_in_executor(None, sys.stdin.readline)
        start, t0, t1 = (float(x) for x in line.split())
        send_late: list[float] = []
        n_slots = max(1, min(args.gen_slots, total))
        slots: dict[int, list[Caller]] = {}
        for caller in callers:  # a caller's phase: its place among all the run's callers, rounded to its slot
            slots.setdefault((caller.index % total) * n_slots // total, []).append(caller)

        def tick(group: list[Caller], sent_at: list[float], i: int, due: float) -> None:
            now = monotonic()
            if t0 <= now <= t1:
                send_late.append(now - due)
            sent_at.append(now)
            message = (i + 2, i + 1, i * 20, payloads[i % 50])
            for caller in group:
                if not caller.closed:
                    caller.transport.send(text, caller.template % message)
                    caller.n_sent += 1
            if i + 1 < n_frames:
                nxt = due + TICK_S
                loop.call_at(loop.time() + (nxt - monotonic()), tick, group, sent_at, i + 1, nxt)

        for slot, group in slots.items():
            sent_at: list[float] = []
            for caller in group:
                caller.sent_at = sent_at
            due = start + slot / n_slots * TICK_S
            loop.call_at(loop.time() + (due - monotonic()), tick, group, sent_at, 0, due)
        end = start + n_frames * TICK_S + TICK_S + args.gen_drain
        await asyncio.sleep(max(0.0, end - monotonic()))
        for caller in callers:
            if not caller.closed:
                caller.transport.send(text, orjson.dumps({"event": "stop", "sequenceNumber": str(n_frames + 2),
                                                          "streamSid": caller.sid, "stop": {"callSid": f"CA{caller.index:032x}"}}))
        await asyncio.sleep(0.3)
        for caller in callers:
            if not caller.closed:
                caller.transport.send_close()
                caller.transport.disconnect()
        result = {
            "calls": len(callers),
            "gaps": [g for c in callers for g in c.gaps],
            "rtts": [r for c in callers for r in c.rtts],
            "send_late": send_late,
            "sent_bytes": [c.n_sent * FRAME_BYTES for c in callers],
            "received_bytes": [c.received_bytes for c in callers],
            "odd_frames": sum(c.odd_frames for c in callers),
            "closed_early": sum(1 for c in callers if c.closed and c.n_sent < n_frames),
            "other": {k: sum(c.other.get(k, 0) for c in callers) for k in {k for c in callers for k in c.other}},
        }
        print(json.dumps(result), flush=True)

    t0 = t1 = math.inf
    _use_uvloop()
    asyncio.run(main())


# -- orchestration --------------------------------------------------------------------------
def _pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the relay exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


class Relay:
    """One relay process (audiofmt bridge or the naive relay) for one session format."""

    def __init__(self, kind: str, session_format: str, standin_port: int, args: argparse.Namespace, log_dir: Path) -> None:
        self.kind, self.format = kind, session_format
        self.port = _free_port()
        self.path = "/"
        self.token: str | None = None
        self.public_url: str | None = None
        env = dict(os.environ, OPENAI_API_KEY="sk-bench-dummy-not-a-key")
        common = ["--listen", f"127.0.0.1:{self.port}", "--realtime-url", f"ws://127.0.0.1:{standin_port}", "--format", session_format]
        if kind in ("audiofmt", "audiofmt-b"):
            bridge_cmd = args.bridge_cmd if kind == "audiofmt" else args.bridge_cmd_b
            if not bridge_cmd:
                raise SystemExit("relay audiofmt-b needs --bridge-cmd-b")
            cmd = [*shlex.split(bridge_cmd), *common, *_auth_args(self, args, env), *shlex.split(args.bridge_args)]
        elif kind == "naive":
            cmd = [sys.executable, str(HERE / "naive_relay.py"), *common]
        elif kind == "naive-picows":
            cmd = [sys.executable, str(HERE / "naive_relay.py"), "--stack", "picows", *common]
        elif kind == "audiofmt-core-picows":
            cmd = [sys.executable, str(HERE / "naive_relay.py"), "--stack", "core-picows", *common]
        else:
            raise SystemExit(f"unknown relay {kind!r} (audiofmt, audiofmt-b, naive, naive-picows, audiofmt-core-picows)")
        self.cmd = cmd
        self.log = (log_dir / f"{kind}-{session_format}.log").open("w")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        _wait_port(self.port, self.proc)
        for pid in self.pids():
            _renice(pid, args.renice)

    def signature(self) -> str | None:
        if self.token is None or self.public_url is None:
            return None
        return twilio_signature(self.token, self.public_url)

    def pids(self) -> list[int]:
        return _procstat.descendants(self.proc.pid)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def bridge_help(bridge_cmd: str) -> str:
    out = subprocess.run([*shlex.split(bridge_cmd), "--help"], capture_output=True, text=True, timeout=60)
    return out.stdout + out.stderr


def _auth_args(relay: Relay, args: argparse.Namespace, env: dict[str, str]) -> list[str]:
    """Sign with a fresh TWILIO_AUTH_TOKEN and --public-url when the bridge has them; else none."""
    if args.no_auth:
        return ["--insecure-no-auth"] if "--insecure-no-auth" in args.help_text else []
    if "--public-url" not in args.help_text:
        return []
    relay.token = secrets.token_hex(16)
    relay.public_url = args.public_url
    env["TWILIO_AUTH_TOKEN"] = relay.token
    parsed = urlparse(args.public_url)
    relay.path = (parsed.path or "/") + (f"?{parsed.query}" if parsed.query else "")
    return ["--public-url", args.public_url]


def _renice(pid: int, nice: int) -> None:
    if nice:
        try:
            os.setpriority(os.PRIO_PROCESS, pid, nice)
        except OSError as exc:
            print(f"(cannot renice {pid} to {nice}: {exc})", flush=True)


def _layer(frame: str) -> str:
    """A py-spy frame "func (path:line)" -> the layer of the stack it belongs to."""
    func, _, where = frame.partition(" (")
    where = "/" + where  # py-spy prints paths relative to sys.path entries (asyncio/events.py)
    if "selector_events.py" in where and func.endswith(("write", "send")):
        return "asyncio transport write (incl. the send syscall)"
    if "selector_events.py" in where and "read" in func:
        return "asyncio transport read (incl. the recv syscall)"
    if "selectors.py" in where:
        return "epoll (waiting/polling)"
    for key, label in (("/websockets/", "websockets (Python)"), ("/asyncio/", "asyncio loop (Python)"), ("/json/", "json"),
                       ("/base64.py", "base64"), ("/contextlib.py", "websockets (Python)"), ("/audiofmt/bridge/", "audiofmt bridge core + server"),
                       ("/audiofmt/", "audiofmt codecs/resampler/events"), ("/numpy/", "numpy"), ("/numba/", "numba dispatch")):
        if key in where:
            return label
    return "other (" + where.rsplit("/", 1)[-1].split(":")[0] + ")"


def summarize_profile(raw: Path, top: int = 14) -> str:
    """py-spy raw (collapsed) stacks -> the top functions by self and by inclusive samples."""
    self_count: dict[str, int] = {}
    incl: dict[str, int] = {}
    layers: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        raw_frames = stack.split(";")
        frames = [f.split(" (")[0] + " (" + f.rpartition("(")[2].split(":")[0].rsplit("/", 1)[-1] + ")" for f in raw_frames]
        self_count[frames[-1]] = self_count.get(frames[-1], 0) + count
        layer = _layer(raw_frames[-1])
        layers[layer] = layers.get(layer, 0) + count
        for name in set(frames):
            incl[name] = incl.get(name, 0) + count
    if not total:
        return "(no samples)"
    lines = [f"{total} samples on CPU", "", "| layer (where the sample's innermost Python frame is) | share |", "|---|---|"]
    lines += [f"| {n} | {c / total:.1%} |" for n, c in sorted(layers.items(), key=lambda kv: -kv[1])]
    lines += ["", "| self | function (file) |", "|---|---|"]
    lines += [f"| {c / total:.1%} | `{n}` |" for n, c in sorted(self_count.items(), key=lambda kv: -kv[1])[:top]]
    lines += ["", "| inclusive | function (file) |", "|---|---|"]
    lines += [f"| {c / total:.1%} | `{n}` |" for n, c in sorted(incl.items(), key=lambda kv: -kv[1])[: top + 6]]
    return "\n".join(lines)


_KERNEL_PARTS = (  # inclusive kernel paths of a relay, by the syscall that pays for them
    ("send (incl. the receiver's TCP input: on loopback the sender's syscall delivers it)", ("__x64_sys_sendto", "__x64_sys_write")),
    ("  of which waking the receiving process", ("sock_def_readable",)),
    ("recv / read", ("__x64_sys_recvfrom", "ksys_read")),
    ("epoll_wait", ("__x64_sys_epoll_pwait", "__x64_sys_epoll_wait")),
    ("context switches (the relay sleeping and waking)", ("schedule",)),
)


def summarize_perf(data: Path, us_per_call_tick: float) -> str:
    """perf samples of a relay -> its CPU per call per tick by layer (shared object) and, for the
    kernel, by syscall path; needs `perf` (linux-tools)."""
    def report(*extra: str) -> list[tuple[float, str]]:
        out = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "-g", "none", *extra],
                             capture_output=True, text=True, timeout=120).stdout
        rows = []
        for line in out.splitlines():
            parts = line.split()
            if parts and parts[0].endswith("%") and not line.startswith("#"):
                try:
                    rows.append((float(parts[0].rstrip("%")), parts[-1]))
                except ValueError:
                    continue
        return rows
    names = {"[kernel.kallsyms]": "kernel", "libpython3": "Python interpreter (libpython)", "picows.": "picows (C)", "loop.cpython": "uvloop (C)",
             "orjson.": "orjson", "_pybase64": "pybase64", "libc.so": "libc", "selector_transport": "aiofastnet (C)", "transport.cpython": "aiofastnet (C)",
             "_json.": "json (C)", "binascii": "binascii", "audioop": "audioop", "numba": "numba-compiled kernels", "libnumpy": "numpy", "_multiarray": "numpy"}
    layers: dict[str, float] = {}
    for share, dso in report("--no-children", "--sort", "dso"):
        label = next((v for k, v in names.items() if k in dso), "other" if not dso.startswith("[") else dso)
        if dso.startswith("0x") or dso == "[unknown]" or dso == "[JIT]":
            label = "numba-compiled kernels / JIT" if dso == "[JIT]" else "other"
        layers[label] = layers.get(label, 0.0) + share
    lines = ["| layer | share of the relay's CPU | µs per call per 20 ms |", "|---|---|---|"]
    lines += [f"| {k} | {v:.1f} % | {v / 100 * us_per_call_tick:.1f} |" for k, v in sorted(layers.items(), key=lambda kv: -kv[1]) if v >= 0.3]
    inclusive = {sym: share for share, sym in report("--children", "--sort", "sym")}
    lines += ["", "| kernel path (inclusive) | share | µs per call per 20 ms |", "|---|---|---|"]
    for label, syms in _KERNEL_PARTS:
        share = sum(inclusive.get(sym, 0.0) for sym in syms)
        lines.append(f"| {label} | {share:.1f} % | {share / 100 * us_per_call_tick:.1f} |")
    return "\n".join(lines)


def run_step(relay: Relay, standin_pid: int, n_calls: int, args: argparse.Namespace) -> dict[str, Any]:
    n_gens = max(1, min(args.gen_procs, n_calls))
    n_frames = int((args.warm + args.measure + 0.5) / TICK_S)
    gens = []
    for g in range(n_gens):
        share = n_calls // n_gens + (1 if g < n_calls % n_gens else 0)
        first = sum(n_calls // n_gens + (1 if j < n_calls % n_gens else 0) for j in range(g))
        cmd = [sys.executable, __file__, "--role", "gen", "--gen-port", str(relay.port), "--gen-path", relay.path,
               "--gen-calls", str(share), "--gen-first", str(first), "--gen-total", str(n_calls), "--gen-frames", str(n_frames),
               "--gen-drain", str(args.drain), "--gen-slots", str(args.gen_slots)]
        if relay.signature():
            cmd += ["--gen-signature", relay.signature() or ""]
        gens.append(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        _renice(gens[-1].pid, args.renice)
    ready = [json.loads(g.stdout.readline() or "{}") for g in gens if g.stdout]
    connected = sum(r.get("ready", 0) for r in ready)
    failures = [f for r in ready for f in r.get("failures", [])]
    start = time.monotonic() + 0.5
    t0 = start + args.warm
    t1 = t0 + args.measure
    for g in gens:
        assert g.stdin is not None
        g.stdin.write(f"{start!r} {t0!r} {t1!r}\n")
        g.stdin.flush()
    _procstat.sleep_until(t0)
    relay_pids = relay.pids()
    profiler = None
    profile_path = Path(args.log_dir) / f"profile-{relay.kind}-{relay.format}-{n_calls}.txt"
    if relay.kind.startswith("audiofmt") and n_calls in args.profile_at:
        spy = Path(sys.executable).parent / "py-spy"
        profiler = subprocess.Popen([str(spy) if spy.exists() else "py-spy", "record", "--nonblocking", "-r", "200", "-f", "raw", "-d", str(int(args.measure)),
                                     "-o", str(profile_path), "-p", str(relay.proc.pid)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    perf = None
    perf_path = Path(args.log_dir) / f"perf-{relay.kind}-{relay.format}-{n_calls}.data"
    if n_calls in args.perf_at:
        perf = subprocess.Popen(["perf", "record", "-q", "-F", "499", "-g", "-o", str(perf_path), "-p", ",".join(map(str, relay_pids)),
                                 "--", "sleep", str(args.measure)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gen_pids = [g.pid for g in gens]
    r0 = _procstat.tree_cpu_seconds(relay_pids)
    sys0 = sum(_procstat.cpu_split(p)[1] for p in relay_pids)
    s0 = _procstat.cpu_seconds(standin_pid)
    g0 = [_procstat.cpu_seconds(p) for p in gen_pids]
    m0 = _procstat.machine_busy()
    w0 = time.monotonic()
    _procstat.sleep_until(t1)
    r1 = _procstat.tree_cpu_seconds(relay_pids)
    sys1 = sum(_procstat.cpu_split(p)[1] for p in relay_pids)
    s1 = _procstat.cpu_seconds(standin_pid)
    g1 = [_procstat.cpu_seconds(p) for p in gen_pids]
    m1 = _procstat.machine_busy()
    window = time.monotonic() - w0
    load = _procstat.load_average()
    if profiler is not None:
        profiler.wait(60)
    if perf is not None:
        perf.wait(60)
    results = []
    for g in gens:
        out, _ = g.communicate(timeout=args.warm + args.measure + args.drain + 120)
        results.append(json.loads(out.strip().splitlines()[-1]))
    gaps = [x for r in results for x in r["gaps"]]
    rtts = [x for r in results for x in r["rtts"]]
    send_late = [x for r in results for x in r["send_late"]]
    hold = HOLD_FRAMES[relay.format] * FRAME_BYTES
    lost = 0
    for r in results:
        for sent, got in zip(r["sent_bytes"], r["received_bytes"]):
            short = sent - got - hold
            if short > 0:
                lost += math.ceil(short / FRAME_BYTES)
    lost += (n_calls - connected) * n_frames  # a call that never connected lost everything
    relay_cores = (r1 - r0) / window
    p99_late_ms = (_pct(gaps, 0.99) - TICK_S) * 1000
    gen_cpu = [(b - a) / window for a, b in zip(g0, g1)]
    standin_cpu = (s1 - s0) / window
    send_late_p99 = _pct(send_late, 0.99) * 1000
    suspect = []
    if max(gen_cpu) > 0.75:
        suspect.append(f"generator at {max(gen_cpu):.0%} of a core")
    if send_late_p99 > 5:
        suspect.append(f"generator sent late (p99 {send_late_p99:.1f} ms)")
    if standin_cpu > 0.75:
        suspect.append(f"stand-in at {standin_cpu:.0%} of a core")
    return {
        "relay": relay.kind, "format": relay.format, "n": n_calls, "connected": connected, "connect_failures": failures[:2],
        "relay_cores": relay_cores, "relay_sys_share": (sys1 - sys0) / (r1 - r0) if r1 > r0 else math.nan, "us_per_call_tick": relay_cores / n_calls * TICK_S * 1e6 if n_calls else math.nan,
        "gap_p50": _pct(gaps, 0.5) * 1000, "gap_p99": _pct(gaps, 0.99) * 1000, "gap_max": max(gaps, default=math.nan) * 1000,
        "late_p50": (_pct(gaps, 0.5) - TICK_S) * 1000, "late_p99": p99_late_ms, "late_max": (max(gaps, default=math.nan) - TICK_S) * 1000,
        "rtt_p50": _pct(rtts, 0.5) * 1000, "rtt_p99": _pct(rtts, 0.99) * 1000,
        "lost": lost, "odd_frames": sum(r["odd_frames"] for r in results), "closed_early": sum(r["closed_early"] for r in results),
        "other": {k: sum(r["other"].get(k, 0) for r in results) for k in {k for r in results for k in r["other"]}},
        "sent_bytes": sum(sum(r["sent_bytes"]) for r in results), "received_bytes": sum(sum(r["received_bytes"]) for r in results),
        "gen_cpu": gen_cpu, "standin_cpu": standin_cpu, "send_late_p99": send_late_p99,
        "machine_busy": (m1[0] - m0[0]) / max(1.0, m1[1] - m0[1]), "load": load, "n_gaps": len(gaps),
        "holds": bool(gaps) and p99_late_ms <= 20.0 and lost == 0 and connected == n_calls, "suspect": suspect,
        "profile": str(profile_path) if profiler is not None else None,
        "perf": str(perf_path) if perf is not None else None,
    }


def _row(r: dict[str, Any]) -> str:
    verdict = "holds" if r["holds"] else "FAILS"
    if r.get("profile"):
        verdict += " (py-spy attached)"
    if r["suspect"]:
        verdict += " (suspect: " + "; ".join(r["suspect"]) + ")"
    gens = "/".join(f"{c:.0%}" for c in r["gen_cpu"])
    return (f"| {r['format']} | {r['relay']} | {r['n']} | {r['relay_cores']:.2f} ({r['relay_sys_share']:.0%} sys) | {r['us_per_call_tick']:.1f} | "
            f"{r['late_p50']:.1f} / {r['late_p99']:.1f} / {r['late_max']:.1f} | {r['rtt_p50']:.1f} / {r['rtt_p99']:.1f} | "
            f"{r['lost']} | {r['odd_frames']} | {gens} | {r['standin_cpu']:.0%} | {r['send_late_p99']:.1f} | "
            f"{r['machine_busy']:.0%} | {r['load']} | {verdict} |")


HEADER = ("| session | relay | N calls | relay cores used (kernel share) | relay CPU µs per call per 20 ms | lateness p50 / p99 / max ms | "
          "round trip p50 / p99 ms | lost frames | frames ≠ 160 B | generator CPU (per process) | stand-in CPU | "
          "generator send late p99 ms | machine busy | load avg | verdict |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def _raise_priority(nice: int) -> str:
    """On a shared machine with autogroup scheduling (Linux, one group per session), a process's
    nice only ranks it inside its session's group: the groups share the CPUs equally. So the bench
    takes a session of its own (setsid) and sets that group's nice, then each process's nice."""
    if not nice:
        return "normal priority"
    with contextlib.suppress(OSError):
        os.setsid()
    group = Path("/proc/self/autogroup")
    try:
        group.write_text(str(nice))
        where = group.read_text().strip()
    except OSError as exc:
        where = f"autogroup unchanged ({exc.strerror})"
    _renice(os.getpid(), nice)
    return f"nice {nice} ({where})"


def orchestrate(args: argparse.Namespace) -> None:
    priority = _raise_priority(args.renice)
    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    args.help_text = bridge_help(args.bridge_cmd) if "audiofmt" in args.relays.split(",") else ""
    if "audiofmt-b" in args.relays.split(",") and args.bridge_cmd_b and not args.help_text:
        args.help_text = bridge_help(args.bridge_cmd_b)
    auth = ("signed (TWILIO_AUTH_TOKEN + --public-url)" if "--public-url" in args.help_text and not args.no_auth
            else "--insecure-no-auth" if args.no_auth and "--insecure-no-auth" in args.help_text else "none (the bridge has no auth flags)")
    steps = [int(s) for s in args.steps.split(",")]
    print(f"bridge: {args.bridge_cmd} {args.bridge_args}; auth: {auth}; load generator: {args.gen_procs} processes "
          f"(picows + uvloop + orjson + pybase64); stand-in Realtime: picows + uvloop + orjson")
    print(f"warm-up {args.warm:.0f} s, window {args.measure:.0f} s per step; {priority}; load average at start {_procstat.load_average()}; "
          f"{os.cpu_count()} CPUs, shared with other jobs (timings noisy)\n")
    port_file = log_dir / "standin.port"
    port_file.unlink(missing_ok=True)
    standin = subprocess.Popen([sys.executable, __file__, "--role", "standin", "--standin-port-file", str(port_file)])
    _renice(standin.pid, args.renice)
    all_rows: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline or standin.poll() is not None:
                raise RuntimeError("the stand-in Realtime server did not start")
            time.sleep(0.05)
        standin_port = int(port_file.read_text())
        print(HEADER, flush=True)
        for session_format, kind in [(f, k) for f in args.formats.split(",") for _ in range(args.rounds) for k in args.relays.split(",")]:
            relay = Relay(kind, session_format, standin_port, args, log_dir)
            try:
                run_step(relay, standin.pid, 1, argparse.Namespace(**{**vars(args), "warm": 1.0, "measure": 1.0}))  # JIT and caches
                rows: list[dict[str, Any]] = []
                for n in steps:
                    row = run_step(relay, standin.pid, n, args)
                    rows.append(row)
                    print(_row(row), flush=True)
                    if not row["holds"]:
                        break
                n = steps[0] // 2
                while args.refine and not any(r["holds"] for r in rows) and n >= 5:  # the first step failed: halve
                    row = run_step(relay, standin.pid, n, args)
                    rows.append(row)
                    print(_row(row), flush=True)
                    n //= 2
                held = sorted((r for r in rows if r["holds"]), key=lambda r: r["n"])
                failed = sorted((r for r in rows if not r["holds"] and (not held or r["n"] > held[-1]["n"])), key=lambda r: r["n"])
                if args.refine and held and failed:  # one bisection step between the last good and the first bad N
                    mid = (held[-1]["n"] + failed[0]["n"]) // 2
                    if mid not in (held[-1]["n"], failed[0]["n"]):
                        row = run_step(relay, standin.pid, mid, args)
                        rows.append(row)
                        print(_row(row), flush=True)
                all_rows.extend(rows)
            finally:
                relay.close()
    finally:
        standin.terminate()
        standin.wait()
    print("\nRule: N holds when p99 lateness (gap between consecutive media frames at the caller − 20 ms) ≤ 20 ms, no frame "
          "is lost and every call connected; calls per core = the largest N that holds / the relay's cores in use at that N.\n")
    print("| session | relay | largest N that holds | relay cores used | calls per core | first N that fails (why) | trustworthy |")
    print("|---|---|---|---|---|---|---|")
    summary = {}
    for session_format in args.formats.split(","):
        for kind in args.relays.split(","):
            rows = [r for r in all_rows if r["format"] == session_format and r["relay"] == kind]
            held = [r for r in rows if r["holds"]]
            best = max(held, key=lambda r: r["n"]) if held else None
            fails = sorted((r for r in rows if not r["holds"] and (best is None or r["n"] > best["n"])), key=lambda r: r["n"])
            why = ""
            if fails:
                f = fails[0]
                reasons = []
                if f["late_p99"] > 20:
                    reasons.append(f"p99 lateness {f['late_p99']:.1f} ms")
                if f["lost"]:
                    reasons.append(f"{f['lost']} lost")
                if f["connected"] < f["n"]:
                    reasons.append(f"{f['n'] - f['connected']} not connected")
                why = f"{f['n']} ({', '.join(reasons)})"
            suspect = [r for r in ([best] if best else []) + fails[:1] if r["suspect"]]
            trust = "no: " + "; ".join(s for r in suspect for s in r["suspect"]) if suspect else "yes"
            if best:
                per_core = best["n"] / best["relay_cores"] if best["relay_cores"] > 0 else math.inf
                summary[(session_format, kind)] = per_core
                print(f"| {session_format} | {kind} | {best['n']} | {best['relay_cores']:.2f} | {per_core:.0f} | {why or 'none up to the last step'} | {trust} |")
            else:
                print(f"| {session_format} | {kind} | none | | | {why} | {trust} |")
    for session_format in args.formats.split(","):
        ours = summary.get((session_format, "audiofmt"))
        for other in ("naive", "naive-picows", "audiofmt-core-picows"):
            theirs = summary.get((session_format, other))
            if ours and theirs:
                print(f"\n{session_format}: audiofmt bridge / {other} relay calls per core = {ours / theirs:.2f}x")
    if args.rounds > 1:  # the A/B view: each relay's CPU per call at each N, over the interleaved rounds
        print("\n| session | relay | N | relay CPU µs per call per 20 ms, each round | median |\n|---|---|---|---|---|")
        for session_format in args.formats.split(","):
            for kind in args.relays.split(","):
                for n in sorted({r["n"] for r in all_rows if r["format"] == session_format and r["relay"] == kind}):
                    values = [r["us_per_call_tick"] for r in all_rows if (r["format"], r["relay"], r["n"]) == (session_format, kind, n)]
                    print(f"| {session_format} | {kind} | {n} | {' / '.join(f'{v:.1f}' for v in values)} | {_pct(values, 0.5):.1f} |")
    print(f"\nload average at end {_procstat.load_average()}; relay logs in {log_dir}")
    for r in all_rows:
        if r.get("perf") and Path(r["perf"]).exists():
            print(f"\n### Where the relay's CPU goes (perf): {r['relay']}, {r['format']}, {r['n']} calls, "
                  f"{r['us_per_call_tick']:.1f} µs per call per 20 ms ({r['perf']})\n")
            print(summarize_perf(Path(r["perf"]), r["us_per_call_tick"]))
    for r in all_rows:
        if r.get("profile") and Path(r["profile"]).exists():
            print(f"\n### py-spy profile of the bridge: {r['format']}, {r['n']} calls ({r['profile']})\n")
            print(summarize_profile(Path(r["profile"])))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(all_rows, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--formats", default="g711_ulaw,pcm16")
    parser.add_argument("--relays", default="audiofmt,naive,naive-picows",
                        help="comma-separated: audiofmt (the bridge), naive (sample code: websockets+json+base64+audioop), "
                             "naive-picows (the same relay on picows+uvloop+orjson+pybase64: the I/O stack's share), "
                             "audiofmt-core-picows (audiofmt's sans-IO core, unchanged, on picows+uvloop: a prototype, not the bridge)")
    parser.add_argument("--steps", default="50,100,200,400,800,1600", help="N calls per step, ascending; stops at the first that fails")
    parser.add_argument("--no-refine", dest="refine", action="store_false",
                        help="skip the bisection step after the first failure (and the halving when the first step fails)")
    parser.add_argument("--gen-procs", type=int, default=2, help="load-generator processes")
    parser.add_argument("--gen-slots", type=int, default=40,
                        help="phase slots over the 20 ms: callers in one slot send together, from one timer (default 40: 0.5 ms apart)")
    parser.add_argument("--warm", type=float, default=2.0, help="seconds of media before the window")
    parser.add_argument("--measure", type=float, default=6.0, help="measurement window, seconds")
    parser.add_argument("--drain", type=float, default=1.0, help="seconds to wait for the last frames before counting losses")
    parser.add_argument("--bridge-cmd", default=f"{shlex.quote(sys.executable)} -m audiofmt bridge", help="how to start the bridge")
    parser.add_argument("--bridge-args", default="", help="extra arguments for the bridge")
    parser.add_argument("--bridge-cmd-b", default="",
                        help="a second bridge (relay name audiofmt-b), e.g. another checkout: an A/B in the same run")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the relays this many times, interleaved (A, B, A, B ...): for A/B decisions on a noisy machine")
    parser.add_argument("--public-url", default="wss://bridge.bench.invalid/twilio/media",
                        help="public URL the callers sign (when the bridge verifies X-Twilio-Signature)")
    parser.add_argument("--no-auth", action="store_true", help="run the bridge with --insecure-no-auth (if it has it) instead of signing")
    parser.add_argument("--log-dir", default="/tmp/audiofmt-e2e-load", help="relay logs and the stand-in's port file")
    parser.add_argument("--json-out", help="write every step's numbers here")
    parser.add_argument("--renice", type=int, default=0,
                        help="nice value for the bench's own scheduling group and every bench process (relays, stand-in, generators), "
                             "e.g. -10 on a shared machine (root; see _raise_priority)")
    parser.add_argument("--profile-at", default="", help="comma-separated N at which to py-spy the audiofmt bridge over the window")
    parser.add_argument("--perf-at", default="", help="comma-separated N at which to record every relay with `perf` over the window "
                        "and print its CPU per call by layer (kernel, interpreter, picows, uvloop ...) and kernel path")
    # internal roles
    parser.add_argument("--role", choices=["standin", "gen"], help=argparse.SUPPRESS)
    parser.add_argument("--standin-port-file", help=argparse.SUPPRESS)
    parser.add_argument("--gen-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--gen-path", default="/", help=argparse.SUPPRESS)
    parser.add_argument("--gen-calls", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--gen-first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--gen-total", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--gen-frames", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--gen-drain", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--gen-signature", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.profile_at = {int(x) for x in args.profile_at.split(",") if x}
    args.perf_at = {int(x) for x in args.perf_at.split(",") if x}
    if args.role == "standin":
        run_standin(args.standin_port_file)
    elif args.role == "gen":
        run_generator(args)
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()
