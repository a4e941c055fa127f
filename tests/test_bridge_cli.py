"""`audiofmt bridge` as a process: fail-fast checks (exit 2, one line), SIGTERM drain, worker
processes on one port, /healthz and /metrics, TLS and authentication through the command line.
Real subprocesses and sockets, all on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import ssl
import sys
from pathlib import Path

import pytest

pytest.importorskip("websockets", reason="the test extra's websockets (the simulated peers) is not installed")
pytest.importorskip("picows", reason="the optional bridge extra (picows, the bridge's transport) is not installed")
pytest.importorskip("prometheus_client", reason="the optional bridge extra (prometheus-client) is not installed")

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed, InvalidStatus

from audiofmt.cli import main
from tests.test_bridge_server import CONNECTED, STOP, StandInRealtime, _http_get, _media, _start

REPO = Path(__file__).resolve().parent.parent
KEY = "sk-cli-test-key-abcdefghijklmnop"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- 10. fail fast ---------------------------------------------------------------------------------

@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "notjson.json").write_text("{nope")
    (tmp_path / "invalid.json").write_text(json.dumps({"input_audio_format": "mp3", "temperature": "hot"}))
    (tmp_path / "profiles.json").write_text(json.dumps({"sales": {"voice": 7}}))
    (tmp_path / "ga_temperature.json").write_text(json.dumps({"type": "realtime", "temperature": 0.6}))
    return {"missing": str(tmp_path / "missing.json"), "notjson": str(tmp_path / "notjson.json"),
            "ga_temperature": str(tmp_path / "ga_temperature.json"),
            "invalid": str(tmp_path / "invalid.json"), "profiles": str(tmp_path / "profiles.json")}


def test_bridge_fails_fast_with_one_line_and_exit_2(monkeypatch, capsys, bad_files):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("AUDIOFMT_BRIDGE_PATH_TOKEN", raising=False)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    busy_port = busy.getsockname()[1]
    ok = ["bridge", "--realtime-url", "ws://127.0.0.1:9/v1/realtime", "--insecure-no-auth", "--workers", "1"]
    cases = {
        "no API key": (ok, {"OPENAI_API_KEY": ""}, "OPENAI_API_KEY is not set"),
        "session missing": ([*ok, "--session", bad_files["missing"]], {}, "cannot read it"),
        "session not JSON": ([*ok, "--session", bad_files["notjson"]], {}, "not JSON"),
        "session invalid": ([*ok, "--session", bad_files["invalid"]], {}, "input_audio_format: got 'mp3'"),
        "session unsendable in GA": ([*ok, "--ga", "--session", bad_files["ga_temperature"]], {}, "temperature"),
        "profile invalid": ([*ok, "--profiles", bad_files["profiles"]], {}, "profile 'sales' is invalid: voice: got 7"),
        "bad voice flag": ([*ok, "--voice", "nobody"], {}, "voice: got 'nobody'"),
        "http URL": (["bridge", "--realtime-url", "https://api.example.com/v1?api_key=sk-hidden-in-url-123", "--insecure-no-auth"],
                     {}, "expected a ws:// or wss:// URL"),
        "port in use": ([*ok, "--listen", f"127.0.0.1:{busy_port}"], {}, "Address already in use"),
        "metrics port in use": ([*ok, "--metrics-listen", f"127.0.0.1:{busy_port}"], {}, "--metrics-listen"),
        "unresolvable": ([*ok, "--listen", "no-such-host.invalid:8080"], {}, "cannot resolve"),
        "port out of range": ([*ok, "--listen", "127.0.0.1:70000"], {}, "out of range"),
        "not host:port": ([*ok, "--listen", "8080"], {}, "must be HOST:PORT"),
        "no auth": ([a for a in ok if a != "--insecure-no-auth"], {}, "no authentication"),
        "insecure off loopback": ([*ok, "--listen", "0.0.0.0:8080"], {}, "only listens on loopback"),
        "token without URL": ([a for a in ok if a != "--insecure-no-auth"], {"TWILIO_AUTH_TOKEN": "t" * 32}, "--public-url is not"),
        "public URL with query": ([*ok, "--public-url", "wss://h.example.com/x?token=1"], {}, "without a query string"),
        "short path token": ([a for a in ok if a != "--insecure-no-auth"], {"AUDIOFMT_BRIDGE_PATH_TOKEN": "short"}, "at least 16"),
        "missing cert": ([*ok, "--certfile", bad_files["missing"]], {}, "--certfile/--keyfile: cannot load"),
        "workers 0": ([*ok[:-1], "0"], {}, "--workers 0"),
    }
    try:
        for name, (argv, env, expected) in cases.items():
            with monkeypatch.context() as m:
                for var, value in env.items():
                    m.setenv(var, value)
                code = main(argv)
            err = capsys.readouterr().err
            assert code == 2, name
            assert err.count("\n") == 1 and err.startswith("audiofmt: error: "), (name, err)
            assert expected in err, (name, err)
            assert "sk-hidden-in-url" not in err
    finally:
        busy.close()


# ---- running the real process --------------------------------------------------------------------------

class Bridge:
    """`python -m audiofmt bridge ...` as a subprocess; `where` is its "listening" address."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.args, self.env = args, {**os.environ, "OPENAI_API_KEY": KEY, "PYTHONPATH": str(REPO), **(env or {})}
        self.lines: list[str] = []

    async def __aenter__(self) -> Bridge:
        self.proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "audiofmt", "bridge", *self.args,
                                                         stderr=asyncio.subprocess.PIPE, env=self.env)
        while True:
            line = await asyncio.wait_for(self.proc.stderr.readline(), 60)
            if not line:
                raise AssertionError("the bridge exited: " + "".join(self.lines))
            self.lines.append(line.decode())
            if "bridge listening on" in self.lines[-1]:
                where = self.lines[-1].split("bridge listening on ", 1)[1].split()[0]
                self.port = int(where.rsplit(":", 1)[1])
                break
        self.reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        while line := await self.proc.stderr.readline():
            self.lines.append(line.decode())

    async def stop(self, timeout_s: float = 30) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), timeout_s)
        await self.reader
        return code

    async def __aexit__(self, *exc: object) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    def json_logs(self) -> list[dict]:
        return [json.loads(line) for line in self.lines if line.startswith("{")]


async def _stand_in(stand_in: StandInRealtime):
    return await ws_serve(stand_in.handler, "127.0.0.1", 0, close_timeout=1)


# ---- 14. SIGTERM drains --------------------------------------------------------------------------------

def test_sigterm_stops_accepting_and_lets_the_call_finish():
    stand_in = StandInRealtime(reply_ms=400)

    async def run() -> tuple[int, list[dict], int]:
        model = await _stand_in(stand_in)
        url = f"ws://127.0.0.1:{model.sockets[0].getsockname()[1]}"
        async with Bridge("--realtime-url", url, "--insecure-no-auth", "--listen", "127.0.0.1:0", "--workers", "1",
                          "--drain-seconds", "20", "--log-format", "json", "--instructions", "Be brief.", "--voice", "verse",
                          "--greeting", "Hi there!") as bridge, \
                connect(f"ws://127.0.0.1:{bridge.port}") as twilio:
            await twilio.send(CONNECTED)
            await twilio.send(_start())
            await asyncio.sleep(0.3)
            bridge.proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.5)
            with pytest.raises(OSError):  # no longer accepting
                async with connect(f"ws://127.0.0.1:{bridge.port}", open_timeout=2):
                    pass
            for i in range(10):  # the call in progress still works end to end
                await twilio.send(_media(i))
            got = b""
            while len(got) < len(stand_in.reply):
                message = json.loads(await asyncio.wait_for(twilio.recv(), 10))
                if message["event"] == "media":
                    got += base64.b64decode(message["media"]["payload"])
            assert got == stand_in.reply
            assert bridge.proc.returncode is None
            await twilio.send(STOP)
            code = await asyncio.wait_for(bridge.proc.wait(), 15)  # well before --drain-seconds
            await bridge.reader
            model.close()
            return code, bridge.json_logs(), stand_in.connections

    code, logs, connections = asyncio.run(run())
    assert code == 0 and connections == 1
    update, greet = stand_in.received[0], stand_in.received[1]
    assert (update["session"]["instructions"], update["session"]["voice"]) == ("Be brief.", "verse")
    assert greet["type"] == "response.create" and "Hi there!" in greet["response"]["instructions"]
    ended = [e for e in logs if "ended (stopped)" in e["msg"]]
    assert len(ended) == 1 and ended[0]["call_sid"] == "CA1" and ended[0]["outcome"] == "stopped"
    assert KEY not in json.dumps(logs)


def test_drain_deadline_closes_calls_that_do_not_end():
    stand_in = StandInRealtime()

    async def run() -> tuple[int, int | None, str | None, str]:
        model = await _stand_in(stand_in)
        url = f"ws://127.0.0.1:{model.sockets[0].getsockname()[1]}"
        async with Bridge("--realtime-url", url, "--insecure-no-auth", "--listen", "127.0.0.1:0", "--workers", "1",
                          "--drain-seconds", "1") as bridge, connect(f"ws://127.0.0.1:{bridge.port}") as twilio:
            await twilio.send(CONNECTED)
            await twilio.send(_start())
            await asyncio.sleep(0.3)
            code = await bridge.stop(timeout_s=15)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(twilio.recv(), 5)
            await asyncio.wait_for(stand_in.closed.wait(), 5)
            model.close()
            return code, twilio.close_code, twilio.close_reason, "".join(bridge.lines)

    code, close_code, reason, logs = asyncio.run(run())
    assert (code, close_code, reason) == (0, 1001, "server shutting down")
    assert "ended (shutdown)" in logs


# ---- 13 + 15. workers on one port, metrics summed over them ----------------------------------------------

def test_two_workers_share_the_port_and_the_metrics(tmp_path):
    stand_in = StandInRealtime(reply_ms=0)
    port, metrics_port = _free_port(), _free_port()
    n_calls = 16

    async def run() -> tuple:
        model = await _stand_in(stand_in)
        url = f"ws://127.0.0.1:{model.sockets[0].getsockname()[1]}"
        async with Bridge("--realtime-url", url, "--insecure-no-auth", "--listen", f"127.0.0.1:{port}", "--workers", "2",
                          "--metrics-listen", f"127.0.0.1:{metrics_port}", "--log-format", "json",
                          "--max-calls", "50") as bridge:
            for _ in range(n_calls):
                async with connect(f"ws://127.0.0.1:{port}") as twilio:
                    await twilio.send(CONNECTED)
                    await twilio.send(_start())
                    await twilio.send(_media(0))
                    await twilio.send(STOP)
                    with pytest.raises(ConnectionClosed):
                        await asyncio.wait_for(twilio.recv(), 10)
            await asyncio.sleep(0.5)
            health = await _http_get(metrics_port, "/healthz")
            metrics = await _http_get(metrics_port, "/metrics")
            code = await bridge.stop()
            model.close()
            return code, health, metrics, bridge.json_logs(), bridge.lines

    code, health, metrics, logs, lines = asyncio.run(run())
    assert code == 0, lines
    assert health == ("HTTP/1.0 200 OK", "ok: 2 workers\n")
    started = [e for e in logs if "started" in e["msg"] and e.get("call_sid") == "CA1"]
    assert len(started) == n_calls and len({e["pid"] for e in started}) == 2  # the kernel spread the calls
    body = metrics[1]
    assert f'audiofmt_bridge_calls_total{{outcome="stopped"}} {n_calls}.0' in body
    assert f"audiofmt_bridge_frames_in_total {n_calls}.0" in body
    assert "audiofmt_bridge_active_calls 0.0" in body
    assert "audiofmt_bridge_upstream_connect_seconds_count" in body


# ---- 1 + 11 through the CLI: TLS, signature and path token ---------------------------------------------

def test_cli_serves_wss_and_checks_the_signature_and_path_token(tmp_path):
    trustme = pytest.importorskip("trustme", reason="the test extra's trustme package is not installed")
    twilio_rv = pytest.importorskip("twilio.request_validator")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "bridge.pem"))
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    stand_in = StandInRealtime(reply_ms=200)
    token, auth_token = "cli-path-token-0123456789abcdef", "f" * 32
    port = _free_port()
    public = "wss://bridge.example.com/twilio"  # what a TLS proxy in front would show Twilio
    signature = twilio_rv.RequestValidator(auth_token).compute_signature(f"{public}/{token}", {})

    async def run() -> tuple:
        model = await _stand_in(stand_in)
        url = f"ws://127.0.0.1:{model.sockets[0].getsockname()[1]}"
        env = {"TWILIO_AUTH_TOKEN": auth_token, "AUDIOFMT_BRIDGE_PATH_TOKEN": token}
        async with Bridge("--realtime-url", url, "--listen", f"127.0.0.1:{port}", "--workers", "1", "--public-url", public,
                          "--certfile", str(tmp_path / "bridge.pem"), "-v", "-v", env=env) as bridge:
            base = f"wss://127.0.0.1:{port}/twilio/{token}"
            refused = []
            for path, headers in ((base, {}), (base, {"X-Twilio-Signature": "x" * 28}),
                                  (f"wss://127.0.0.1:{port}/twilio", {"X-Twilio-Signature": signature})):
                with pytest.raises(InvalidStatus) as info:
                    async with connect(path, ssl=client_ctx, additional_headers=headers):
                        pass
                refused.append(info.value.response.status_code)
            assert stand_in.connections == 0
            async with connect(base, ssl=client_ctx, additional_headers={"X-Twilio-Signature": signature}) as twilio:
                await twilio.send(CONNECTED)
                await twilio.send(_start())
                for i in range(10):
                    await twilio.send(_media(i))
                got = b""
                while len(got) < len(stand_in.reply):
                    message = json.loads(await asyncio.wait_for(twilio.recv(), 10))
                    if message["event"] == "media":
                        got += base64.b64decode(message["media"]["payload"])
                await twilio.send(STOP)
            code = await bridge.stop()
            model.close()
            return refused, got, code, "".join(bridge.lines)

    refused, got, code, log_text = asyncio.run(run())
    assert refused == [403, 403, 403] and got == stand_in.reply and code == 0
    assert "wss://" in log_text  # the listening line names the scheme
    for secret in (KEY, token, signature, auth_token):  # -v -v: the transport's upgrade-request logs included
        assert secret not in log_text
    assert "Authorization: [redacted]" in log_text
