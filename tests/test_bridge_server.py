"""The bridge (picows) end to end on loopback: a stand-in Realtime server, a simulated Twilio
client, authentication, limits, upstream faults, key hygiene, metrics and TLS. Nothing leaves
127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import ssl
import warnings

import pytest

websockets = pytest.importorskip("websockets", reason="the test extra's websockets (the simulated peers) is not installed")
pytest.importorskip("picows", reason="the optional bridge extra (picows, the bridge's transport) is not installed")

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed, InvalidStatus

from audiofmt.bridge.auth import Auth, RedactingFilter, redact_url, twilio_signature
from audiofmt.bridge.server import (
    BridgeConfig,
    CallSlots,
    Limits,
    _slices,
    drain,
    serve,
)
from audiofmt.bridge.twilio import TwilioMediaStream

KEY = "sk-test-not-logged-0123456789"
PUBLIC = "wss://bridge.example.com/twilio"
AUTH_TOKEN = "12345678901234567890123456789012"


def _frame(i: int) -> bytes:
    return bytes((i * 7 + k) % 256 for k in range(160))


def _start(params: dict | None = None) -> str:
    start = {"streamSid": "MZ1", "callSid": "CA1", "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}
    if params is not None:
        start["customParameters"] = params
    return json.dumps({"event": "start", "streamSid": "MZ1", "start": start})


def _media(i: int, payload: bytes | None = None) -> str:
    return json.dumps({"event": "media", "streamSid": "MZ1", "media": {"track": "inbound", "chunk": str(i + 1),
                       "timestamp": str(i * 20), "payload": base64.b64encode(payload or _frame(i)).decode()}})


CONNECTED = json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
STOP = json.dumps({"event": "stop", "streamSid": "MZ1", "stop": {"callSid": "CA1"}})


class StandInRealtime:
    """Speaks enough of the Realtime protocol: session events, takes appends, streams a reply
    of `reply_ms` after 10 appends, raises speech_started after `barge_after` more."""

    def __init__(self, reply_ms: int = 1000, barge_after: int | None = None) -> None:
        self.reply = bytes((k * 13) % 256 for k in range(reply_ms * 8))
        self.barge_after = barge_after
        self.received: list[dict] = []
        self.headers: dict[str, str] = {}
        self.connections = 0
        self.closed = asyncio.Event()

    async def handler(self, ws) -> None:
        self.connections += 1
        self.headers = dict(ws.request.headers)
        try:
            await ws.send(json.dumps({"type": "session.created", "session": {"id": "sess_1", "input_audio_format": "g711_ulaw", "output_audio_format": "g711_ulaw"}}))
            appends = 0
            async for message in ws:
                event = json.loads(message)
                self.received.append(event)
                if event["type"] == "session.update":
                    await ws.send(json.dumps({"type": "session.updated", "session": event["session"]}))
                    await self.after_update(ws)
                elif event["type"] == "input_audio_buffer.append":
                    appends += 1
                    if appends == 10:
                        for start in range(0, len(self.reply), 800):
                            await ws.send(json.dumps({"type": "response.audio.delta", "response_id": "r1", "item_id": "item_1", "output_index": 0,
                                                      "content_index": 0, "delta": base64.b64encode(self.reply[start : start + 800]).decode()}))
                        if self.barge_after is None:
                            await ws.send(json.dumps({"type": "response.audio.done", "response_id": "r1", "item_id": "item_1", "output_index": 0, "content_index": 0}))
                    if self.barge_after is not None and appends == 10 + self.barge_after:
                        await ws.send(json.dumps({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": "user_1"}))
        finally:
            self.closed.set()

    async def after_update(self, ws) -> None:
        """Subclasses misbehave here."""


class Harness:
    """A stand-in Realtime server and the bridge in front of it, both on 127.0.0.1."""

    def __init__(self, stand_in: StandInRealtime, monkeypatch: pytest.MonkeyPatch, **config: object) -> None:
        monkeypatch.setenv("AUDIOFMT_TEST_KEY", KEY)
        self.stand_in, self.config_kw = stand_in, config
        self.ssl = config.pop("ssl", None)
        self.metrics = config.pop("metrics", None)
        self.model_url = config.pop("realtime_url", None)

    async def __aenter__(self) -> Harness:
        self.model_server = await ws_serve(self.stand_in.handler, "127.0.0.1", 0, max_size=None, close_timeout=1)
        model_port = self.model_server.sockets[0].getsockname()[1]
        url = self.model_url or f"ws://127.0.0.1:{model_port}"
        self.config = BridgeConfig(url, api_key_env="AUDIOFMT_TEST_KEY", **self.config_kw)  # type: ignore[arg-type]
        self.server = await serve("127.0.0.1", 0, self.config, ssl=self.ssl, metrics=self.metrics)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()
        self.model_server.close()
        await self.model_server.wait_closed()

    def url(self, path: str = "/") -> str:
        return f"{'wss' if self.ssl else 'ws'}://127.0.0.1:{self.port}{path}"


async def _until(condition, timeout: float = 10.0) -> None:
    """Wait for the bridge to reach a state (a loaded machine can take far longer than usual)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def _http_get(port: int, path: str) -> tuple[str, str]:
    """(status line, body) of a plain HTTP/1.0 GET on 127.0.0.1:port."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.0\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    head, _, body = data.decode().partition("\r\n\r\n")
    return head.split("\r\n")[0], body


async def _converse(twilio) -> dict:
    """Play a call: 10 frames, the reply, 15 more frames, marks echoed, then stop."""
    got: dict = {"media": [], "marks": [], "clears": 0}
    await twilio.send(CONNECTED)
    await twilio.send(_start())
    for i in range(10):  # 200 ms of caller audio; the 10th append triggers the reply
        await twilio.send(_media(i))
    first = json.loads(await asyncio.wait_for(twilio.recv(), 5))
    got["media"].append(base64.b64decode(first["media"]["payload"]))
    for i in range(10, 10 + 15):  # 300 ms more of the call clock while the reply plays
        await twilio.send(_media(i))
    while True:
        try:
            message = json.loads(await asyncio.wait_for(twilio.recv(), 1))
        except TimeoutError:
            break
        if message["event"] == "media":
            got["media"].append(base64.b64decode(message["media"]["payload"]))
        elif message["event"] == "mark":
            got["marks"].append(message["mark"]["name"])
            await twilio.send(json.dumps({"event": "mark", "streamSid": "MZ1", "mark": message["mark"]}))
        elif message["event"] == "clear":
            got["clears"] += 1
            break
    await twilio.send(STOP)
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(twilio.recv(), 5)
    got["close"] = (twilio.close_code, twilio.close_reason)
    return got


async def _call(stand_in: StandInRealtime, monkeypatch: pytest.MonkeyPatch) -> dict:
    async with Harness(stand_in, monkeypatch) as h, connect(h.url()) as twilio:
        return await _converse(twilio)


def test_reply_reaches_the_caller_in_frames_with_a_mark(monkeypatch):
    stand_in = StandInRealtime(reply_ms=1000)
    got = asyncio.run(_call(stand_in, monkeypatch))
    appended = b"".join(base64.b64decode(e["audio"]) for e in stand_in.received if e["type"] == "input_audio_buffer.append")
    assert appended == b"".join(_frame(i) for i in range(25))  # μ-law passed through untouched
    assert b"".join(got["media"]) == stand_in.reply and all(len(m) == 160 for m in got["media"])
    assert len(got["marks"]) == 1 and got["clears"] == 0
    assert stand_in.received[0]["type"] == "session.update"
    assert stand_in.headers["authorization"] == f"Bearer {KEY}" and stand_in.headers["openai-beta"] == "realtime=v1"
    assert got["close"] == (1000, "call ended")


def test_barge_in_clears_the_phone_and_truncates_what_was_heard(monkeypatch):
    stand_in = StandInRealtime(reply_ms=5000, barge_after=15)
    got = asyncio.run(_call(stand_in, monkeypatch))
    assert got["clears"] == 1
    truncates = [e for e in stand_in.received if e["type"] == "conversation.item.truncate"]
    assert len(truncates) == 1
    # the reply started when the call clock was at 200 ms; 15 more 20 ms frames = 300 ms heard
    assert (truncates[0]["item_id"], truncates[0]["content_index"], truncates[0]["audio_end_ms"]) == ("item_1", 0, 300)


def test_bridge_call_serves_a_socket_the_app_accepted(monkeypatch):
    """The embedding API: the app's own websockets server hands each connection to bridge_call."""
    from audiofmt.bridge.server import bridge_call

    stand_in = StandInRealtime(reply_ms=1000)
    cores: list = []

    async def run() -> dict:
        async with Harness(stand_in, monkeypatch) as h:
            async def handler(ws) -> None:
                cores.append(await bridge_call(ws, h.config))

            async with ws_serve(handler, "127.0.0.1", 0) as app:
                port = app.sockets[0].getsockname()[1]
                async with connect(f"ws://127.0.0.1:{port}") as twilio:
                    got = await _converse(twilio)
                for _ in range(50):
                    if cores:
                        break
                    await asyncio.sleep(0.05)
                return got

    got = asyncio.run(run())
    assert b"".join(got["media"]) == stand_in.reply and len(got["marks"]) == 1
    assert got["close"] == (1000, "call ended")
    assert len(cores) == 1 and cores[0].stats.media_in == 25 and cores[0].stats.frames_out == 50


# ---- 1. authentication ---------------------------------------------------------------------------

twilio_rv = pytest.importorskip("twilio.request_validator", reason="the test extra's twilio package is not installed")


def test_signature_matches_twilios_request_validator():
    validator = twilio_rv.RequestValidator(AUTH_TOKEN)
    for url in (PUBLIC, "wss://bridge.example.com:443/twilio", "wss://h.example.org:8443/a/b/c", "wss://[2001:db8::1]/x"):
        assert twilio_signature(AUTH_TOKEN, url) == validator.compute_signature(url, {})
    auth = Auth(PUBLIC, twilio_auth_token=AUTH_TOKEN)
    # every port variant Twilio's validator accepts is accepted here too, and wss's own :443
    for signed in (PUBLIC, "wss://bridge.example.com:80/twilio", "wss://bridge.example.com:443/twilio"):
        signature = validator.compute_signature(signed, {})
        assert validator.validate(PUBLIC, {}, signature) == (":443" not in signed)
        assert auth.check("/twilio", signature) is None
    for wrong in ("wss://bridge.example.com/twilio/", "wss://evil.example.com/twilio", "ws://bridge.example.com/twilio"):
        signature = validator.compute_signature(wrong, {})
        assert auth.check("/twilio", signature) is not None
    assert auth.check("/twilio", None) == "no X-Twilio-Signature header"
    assert auth.check("/other", validator.compute_signature("wss://bridge.example.com/other", {})) is not None


async def _refused(h: Harness, path: str, headers: dict | list | None = None) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with connect(h.url(path), additional_headers=headers or {}):
            pass
    return info.value.response.status_code


def test_unsigned_forged_or_misrouted_clients_get_403_and_no_upstream_connection(monkeypatch):
    stand_in = StandInRealtime()

    async def run() -> list[int]:
        async with Harness(stand_in, monkeypatch, auth=Auth(PUBLIC, twilio_auth_token=AUTH_TOKEN)) as h:
            other = twilio_rv.RequestValidator("a-different-auth-token-000000000")
            return [
                await _refused(h, "/twilio"),  # no signature
                await _refused(h, "/twilio", {"X-Twilio-Signature": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}),
                await _refused(h, "/twilio", {"X-Twilio-Signature": other.compute_signature(PUBLIC, {})}),
                await _refused(h, "/elsewhere", {"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, "wss://bridge.example.com/elsewhere")}),
                await _refused(h, "/twilio?x=1", {"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, PUBLIC)}),
                await _refused(h, "/twilio", [("X-Twilio-Signature", twilio_signature(AUTH_TOKEN, PUBLIC))] * 2),
            ]

    assert asyncio.run(run()) == [403] * 6
    assert stand_in.connections == 0  # refused before any Realtime connection existed


def test_a_flood_of_refused_requests_is_counted_but_not_all_logged(monkeypatch, caplog):
    from prometheus_client import CollectorRegistry

    from audiofmt.bridge.metrics import BridgeMetrics

    registry = CollectorRegistry()

    async def run() -> None:
        async with Harness(StandInRealtime(), monkeypatch, auth=Auth(PUBLIC, twilio_auth_token=AUTH_TOKEN),
                           metrics=BridgeMetrics(registry)) as h:
            for _ in range(60):
                assert await _refused(h, "/twilio") == 403

    with caplog.at_level(logging.WARNING, logger="audiofmt.bridge"):
        asyncio.run(run())
    refusals = [r for r in caplog.records if r.getMessage().startswith("refused")]
    assert registry.get_sample_value("audiofmt_bridge_rejected_total", {"reason": "auth"}) == 60
    assert 20 <= len(refusals) < 60


def test_a_signed_client_gets_a_call(monkeypatch):
    stand_in = StandInRealtime()

    async def run() -> dict:
        async with Harness(stand_in, monkeypatch, auth=Auth(PUBLIC, twilio_auth_token=AUTH_TOKEN)) as h:
            signature = twilio_rv.RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC, {})
            async with connect(h.url("/twilio"), additional_headers={"X-Twilio-Signature": signature}) as twilio:
                return await _converse(twilio)

    got = asyncio.run(run())
    assert b"".join(got["media"]) == stand_in.reply and stand_in.connections == 1


def test_path_token_is_required_and_compared_exactly(monkeypatch):
    stand_in = StandInRealtime()
    token = "s3cret-path-token-0123456789abcdef"

    async def run() -> tuple[list[int], dict]:
        async with Harness(stand_in, monkeypatch, auth=Auth(PUBLIC, path_token=token)) as h:
            codes = [await _refused(h, "/twilio"), await _refused(h, f"/twilio/{token[:-1]}"),
                     await _refused(h, f"/twilio/{token}x"), await _refused(h, f"/{token}")]
            assert stand_in.connections == 0
            async with connect(h.url(f"/twilio/{token}")) as twilio:
                return codes, await _converse(twilio)

    codes, got = asyncio.run(run())
    assert codes == [403] * 4 and b"".join(got["media"]) == stand_in.reply


def test_signature_and_path_token_together(monkeypatch):
    stand_in = StandInRealtime()
    token = "another-path-token-abcdefghijklmnop"
    auth = Auth(PUBLIC, twilio_auth_token=AUTH_TOKEN, path_token=token)
    signed = f"{PUBLIC}/{token}"
    assert auth.signed_url == signed

    async def run() -> tuple[int, int]:
        async with Harness(stand_in, monkeypatch, auth=auth) as h:
            unsigned = await _refused(h, f"/twilio/{token}")
            sig = twilio_rv.RequestValidator(AUTH_TOKEN).compute_signature(signed, {})
            no_token = await _refused(h, "/twilio", {"X-Twilio-Signature": sig})
            async with connect(h.url(f"/twilio/{token}"), additional_headers={"X-Twilio-Signature": sig}) as twilio:
                await _converse(twilio)
            return unsigned, no_token

    assert asyncio.run(run()) == (403, 403) and stand_in.connections == 1


# ---- 2. limits -------------------------------------------------------------------------------------

def test_no_upstream_connection_before_start_and_a_start_timeout(monkeypatch):
    stand_in = StandInRealtime()

    async def run() -> tuple[int | None, str | None, int]:
        async with Harness(stand_in, monkeypatch, limits=Limits(start_s=0.3)) as h, connect(h.url()) as twilio:
            await twilio.send(CONNECTED)
            await twilio.send(_media(0))  # media before start: dropped, and no model yet
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(twilio.recv(), 5)
            return twilio.close_code, twilio.close_reason, stand_in.connections

    assert asyncio.run(run()) == (1008, "no start message", 0)


def test_a_client_that_never_completes_the_upgrade_is_dropped(monkeypatch):
    stand_in = StandInRealtime()

    async def run() -> bytes:
        async with Harness(stand_in, monkeypatch, limits=Limits(handshake_s=0.3)) as h:
            reader, writer = await asyncio.open_connection("127.0.0.1", h.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the rest
            data = await asyncio.wait_for(reader.read(), 5)  # EOF: the bridge hung up
            writer.close()
            return data

    assert asyncio.run(run()) == b"" and stand_in.connections == 0


def test_silent_connections_beyond_the_cap_are_aborted(monkeypatch):
    stand_in = StandInRealtime()

    async def run() -> tuple[list[bytes], dict]:
        async with Harness(stand_in, monkeypatch, limits=Limits(max_connections=3)) as h:
            held = [await asyncio.open_connection("127.0.0.1", h.port) for _ in range(3)]
            await _until(lambda: h.server._state.open_connections == 3)
            reader, writer = await asyncio.open_connection("127.0.0.1", h.port)
            try:
                extra = await asyncio.wait_for(reader.read(), 5)  # closed at once: EOF
            except ConnectionResetError:
                extra = b""
            writer.close()
            held[0][1].close()
            await _until(lambda: h.server._state.open_connections == 2)
            async with connect(h.url()) as twilio:  # room again: a real call goes through
                got = await _converse(twilio)
            for _, w in held[1:]:
                w.close()
            return [extra], got

    extras, got = asyncio.run(run())
    assert extras == [b""] and b"".join(got["media"]) == stand_in.reply


def test_an_oversized_phone_message_closes_the_call_with_1009(monkeypatch):
    stand_in = StandInRealtime()

    async def run() -> int | None:
        async with Harness(stand_in, monkeypatch) as h, connect(h.url(), max_size=None) as twilio:
            await twilio.send(CONNECTED)
            await twilio.send(_start())
            await twilio.send("x" * (Limits().phone_max_bytes + 1))
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(twilio.recv(), 5)
            await asyncio.wait_for(stand_in.closed.wait(), 5)  # the model side was closed too
            return twilio.close_code

    assert asyncio.run(run()) == 1009


@pytest.mark.parametrize("how", ["one frame over the limit (picows refuses it)", "fragments over the limit (the bridge refuses them)"])
def test_a_refused_phone_message_stops_the_reading_of_that_socket(monkeypatch, how):
    """After a 1009 the phone socket is not read any more (what the peer keeps sending cannot grow
    the read buffer): picows' refusal reaches the call through picows' error line, the bridge's own
    where it is made. The socket is not read again when the call ends either."""
    stand_in = StandInRealtime()

    async def run() -> tuple[int | None, bool, bool]:
        async with Harness(stand_in, monkeypatch) as h, connect(h.url(), max_size=None) as twilio:
            await twilio.send(CONNECTED)
            await twilio.send(_start())
            await twilio.send(_media(0))
            for _ in range(100):
                if h.server.calls and next(iter(h.server.calls)).live:
                    break
                await asyncio.sleep(0.02)
            call = next(iter(h.server.calls))
            paused: list[bool] = []
            underlying = call.phone.transport.underlying_transport
            real_resume = underlying.resume_reading
            monkeypatch.setattr(underlying, "pause_reading", lambda: paused.append(True))
            monkeypatch.setattr(underlying, "resume_reading", lambda: (paused.append(False), real_resume()))
            too_big = "x" * (Limits().phone_max_bytes + 1)
            if how.startswith("one frame"):
                await twilio.send(too_big)
            else:
                await twilio.send(iter([too_big[:9000], too_big[9000:]]))
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(twilio.recv(), 5)
            await asyncio.wait_for(call.done, 5)
            return twilio.close_code, call.phone.gave_up, paused == [True]

    assert asyncio.run(run()) == (1009, True, True)


def test_fragmented_messages_are_reassembled_within_the_size_limit(monkeypatch):
    stand_in = StandInRealtime(reply_ms=0)

    async def run() -> tuple[int | None, int]:
        async with Harness(stand_in, monkeypatch) as h, connect(h.url(), max_size=None) as twilio:
            await twilio.send(CONNECTED)
            await twilio.send(_start())
            text = _media(0)
            await twilio.send(iter([text[:50], text[50:120], text[120:]]))  # one message in three frames

            def appends_seen() -> int:
                return sum(e["type"] == "input_audio_buffer.append" for e in stand_in.received)

            for _ in range(200):  # the Realtime socket opens after `start`: slow on a loaded machine
                if appends_seen():
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.1)
            appends = appends_seen()
            piece = "x" * 6000  # each frame under 16 KiB, the message over it
            await twilio.send(iter([piece, piece, piece]))
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(twilio.recv(), 5)
            return twilio.close_code, appends

    assert asyncio.run(run()) == (1009, 1)


def _ws_frame(opcode: int, payload: bytes = b"", fin: bool = True) -> bytes:
    """One client frame (masked, as RFC 6455 requires), for frames websockets will not send."""
    key = bytes([0x5A, 0x13, 0xC4, 0x77])
    n = len(payload)
    length = bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big")
    return bytes([(0x80 if fin else 0) | opcode]) + length + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


async def _raw_phone(h: Harness, sock: socket.socket | None = None) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw client (on `sock`, connected, if given) after the upgrade and Twilio's `connected` + `start`."""
    if sock is None:
        reader, writer = await asyncio.open_connection("127.0.0.1", h.port)
    else:
        reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
    writer.write(_ws_frame(0x1, CONNECTED.encode()) + _ws_frame(0x1, _start().encode()))
    await writer.drain()
    return reader, writer


async def _server_frames(reader: asyncio.StreamReader, seconds: float) -> list[tuple[int, bytes]]:
    """The (opcode, payload) of every frame the bridge sends within `seconds` (or until it closes)."""
    frames: list[tuple[int, bytes]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    try:
        while (left := deadline - loop.time()) > 0:
            head = await asyncio.wait_for(reader.readexactly(2), left)
            n = head[1] & 0x7F
            if n >= 126:
                n = int.from_bytes(await reader.readexactly(2 if n == 126 else 8), "big")
            frames.append((head[0] & 0x0F, await reader.readexactly(n)))
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        pass
    return frames


def test_a_ping_flood_is_answered_only_at_the_phone_rate(monkeypatch):
    """Pings (and pongs, and fragments) cost the phone's message rate like messages do: beyond it
    they get no pong and the socket is not read, so one caller's ping flood cannot take the event
    loop from the other calls."""
    async def run() -> int:
        async with Harness(StandInRealtime(), monkeypatch, limits=Limits(phone_rate_per_s=1, phone_burst=20)) as h:
            reader, writer = await _raw_phone(h)
            writer.write(b"".join(_ws_frame(0x9, i.to_bytes(4, "big")) for i in range(2000)))
            await writer.drain()
            pongs = sum(op == 0xA for op, _ in await _server_frames(reader, 1.0))
            writer.close()
            return pongs

    assert asyncio.run(run()) <= 25  # the burst of 20 (less the two messages) and ~1 a second, not 2000


def test_a_message_in_too_many_fragments_is_refused(monkeypatch):
    """Empty continuation frames add nothing to a message's size but each one is kept: a message
    may come in at most phone_max_bytes // 256 fragments (64), then the socket closes with 1009."""
    async def run() -> list[tuple[int, bytes]]:
        limits = Limits(phone_rate_per_s=1e6, phone_burst=10**6)  # the fragment count alone, not the rate
        async with Harness(StandInRealtime(), monkeypatch, limits=limits) as h:
            reader, writer = await _raw_phone(h)
            writer.write(_ws_frame(0x1, b"{", fin=False) + _ws_frame(0x0, b"", fin=False) * 5000)
            await writer.drain()
            frames = await _server_frames(reader, 3.0)
            await _until(lambda: not h.server.calls)
            writer.close()
            return frames

    frames = asyncio.run(run())
    closes = [payload for op, payload in frames if op == 0x8]
    assert closes and int.from_bytes(closes[0][:2], "big") == 1009


def test_a_flood_of_large_messages_holds_little_unread_input(monkeypatch):
    """What a flooding caller gets the bridge to hold (messages read but waiting for the rate, and
    the read buffer they came in) stays near one small read: the phone socket's kernel receive
    buffer is fixed small, so TCP's receive autotuning cannot hand the bridge megabytes per read."""
    big = _media_at(0, 0, bytes(range(256)) * 47)  # ~16 KiB, a media message at the size limit

    async def run() -> tuple[int, int]:
        async with Harness(StandInRealtime(reply_ms=0), monkeypatch, limits=Limits(phone_rate_per_s=50, phone_burst=10)) as h:
            _reader, writer = await _raw_phone(h)
            await _until(lambda: h.server.calls)
            call = next(iter(h.server.calls))
            frame = _ws_frame(0x1, big.encode())
            most = 0

            async def flood() -> None:
                for _ in range(600):  # ~10 MB
                    writer.write(frame)
                    await writer.drain()

            task = asyncio.create_task(flood())
            for _ in range(150):
                await asyncio.sleep(0.01)
                most = max(most, sum(len(m) for m in call.waiting))
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            sock = call.phone.transport.underlying_transport.get_extra_info("socket")
            rcvbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
            writer.close()
            return most, rcvbuf

    most, rcvbuf = asyncio.run(run())
    assert rcvbuf <= 256 * 1024 and most <= 512 * 1024, (most, rcvbuf)


def test_a_caller_that_stops_reading_ends_the_call_within_the_send_timeout(monkeypatch):
    """A half-open caller keeps sending media but reads nothing: what the bridge sends it may wait
    in the kernel's send buffer (fixed small for the phone) and write_limit_bytes, no more, so the
    call ends with send_timeout instead of parking megabytes in an autotuned send buffer."""
    async def run() -> str:
        limits = Limits(send_timeout_s=0.5)
        async with Harness(StandInRealtime(reply_ms=120_000), monkeypatch, limits=limits) as h:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", h.port))
            _reader, writer = await _raw_phone(h, sock)
            await _until(lambda: h.server.calls)
            call = next(iter(h.server.calls))
            for i in range(20):  # the 10th append makes the stand-in send 2 minutes of reply at once
                writer.write(_ws_frame(0x1, _media(i).encode()))
            await writer.drain()
            await _until(lambda: not h.server.calls, timeout=8.0)  # never read: only the send timeout ends it
            writer.close()
            return call.outcome

    assert asyncio.run(run()) == "send_timeout"


def test_idle_call_is_closed_on_both_sides(monkeypatch, caplog):
    stand_in = StandInRealtime()

    async def run() -> tuple[int | None, str | None]:
        async with Harness(stand_in, monkeypatch, limits=Limits(idle_s=0.4)) as h, connect(h.url()) as twilio:
            await twilio.send(CONNECTED)
            await twilio.send(_start())
            await twilio.send(_media(0))
            for _ in range(3):  # marks and DTMF are not media: they do not keep the call alive
                await twilio.send(json.dumps({"event": "dtmf", "streamSid": "MZ1", "dtmf": {"digit": "1"}}))
                await asyncio.sleep(0.1)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(twilio.recv(), 5)
            await asyncio.wait_for(stand_in.closed.wait(), 5)
            return twilio.close_code, twilio.close_reason

    with caplog.at_level(logging.INFO, logger="audiofmt.bridge"):
        assert asyncio.run(run()) == (1000, "idle")
    assert any("ended (idle)" in r.getMessage() for r in caplog.records)


def test_max_calls_refuses_the_next_caller_with_503(monkeypatch):
    stand_in = StandInRealtime()

    async def run() -> int:
        async with Harness(stand_in, monkeypatch, limits=Limits(max_calls=1)) as h, connect(h.url()) as first:
            await first.send(CONNECTED)
            await first.send(_start())
            await first.send(_media(0))
            await _until(lambda: h.server._state.slots.count == 1)
            code = await _refused(h, "/")
            await first.send(STOP)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(first.recv(), 5)
            await _until(lambda: h.server._state.slots.count == 0)
            async with connect(h.url()) as second:  # the slot is free again
                await second.send(CONNECTED)
            return code

    assert asyncio.run(run()) == 503


def test_shared_call_slots_count_across_holders():
    import multiprocessing

    shared = multiprocessing.get_context("spawn").Value("i", 0)
    a, b = CallSlots(2, shared), CallSlots(2, shared)
    assert a.acquire() and b.acquire() and not a.acquire() and b.full()
    a.release()
    assert b.acquire()


def test_a_phone_flood_is_throttled_to_the_rate_losing_nothing(monkeypatch):
    from prometheus_client import CollectorRegistry

    from audiofmt.bridge.metrics import BridgeMetrics

    registry = CollectorRegistry()
    stand_in = StandInRealtime(reply_ms=0)

    async def run() -> None:
        limits = Limits(phone_rate_per_s=500, phone_burst=20)
        async with Harness(stand_in, monkeypatch, limits=limits, metrics=BridgeMetrics(registry)) as h, connect(h.url()) as twilio:
            await twilio.send(CONNECTED)
            await twilio.send(_start())
            for i in range(200):
                await twilio.send(_media(i))
            await twilio.send(STOP)  # never lost to the limit: the call ends
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(twilio.recv(), 10)

    asyncio.run(run())
    appends = sum(e["type"] == "input_audio_buffer.append" for e in stand_in.received)
    throttled = registry.get_sample_value("audiofmt_bridge_throttled_total")
    assert appends == 200 and throttled is not None and throttled > 0
    assert registry.get_sample_value("audiofmt_bridge_frames_in_total") == 200


def test_messages_before_start_are_throttled_too_and_the_call_still_starts(monkeypatch):
    from prometheus_client import CollectorRegistry

    from audiofmt.bridge.metrics import BridgeMetrics

    registry = CollectorRegistry()
    stand_in = StandInRealtime(reply_ms=0)

    async def run() -> None:
        limits = Limits(phone_rate_per_s=200, phone_burst=5)
        async with Harness(stand_in, monkeypatch, limits=limits, metrics=BridgeMetrics(registry)) as h, connect(h.url()) as twilio:
            for _ in range(40):  # strays before start: each handled (dropped) at the rate, not at once
                await twilio.send(json.dumps({"event": "x"}))
            await twilio.send(CONNECTED)
            await twilio.send(_start())
            for i in range(5):
                await twilio.send(_media(i))
            await twilio.send(STOP)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(twilio.recv(), 10)

    asyncio.run(run())
    assert sum(e["type"] == "input_audio_buffer.append" for e in stand_in.received) == 5
    # 40 strays sent at once against a burst of 5: most of them waited (only 6 messages follow start)
    assert registry.get_sample_value("audiofmt_bridge_throttled_total") >= 20
    assert registry.get_sample_value("audiofmt_bridge_calls_total", {"outcome": "stopped"}) == 1


def _send_media_and_count(monkeypatch, messages: list[str]) -> tuple[float, float, float | None]:
    """Send `messages` as one call's media; (ms of audio the model received, seconds taken, drops counted)."""
    from prometheus_client import CollectorRegistry

    from audiofmt.bridge.metrics import BridgeMetrics

    registry = CollectorRegistry()
    stand_in = StandInRealtime(reply_ms=0)

    async def run() -> float:
        loop = asyncio.get_running_loop()
        async with Harness(stand_in, monkeypatch, metrics=BridgeMetrics(registry)) as h, connect(h.url()) as twilio:
            await twilio.send(CONNECTED)
            await twilio.send(_start())
            t0 = loop.time()
            for message in messages:
                await twilio.send(message)
            await twilio.send(STOP)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(twilio.recv(), 10)
            return loop.time() - t0

    elapsed_s = asyncio.run(run())
    sent_ms = sum(len(base64.b64decode(e["audio"])) for e in stand_in.received if e["type"] == "input_audio_buffer.append") / 8
    return sent_ms, elapsed_s, registry.get_sample_value("audiofmt_bridge_dropped_total", {"reason": "audio over real time"})


def _media_at(i: int, timestamp_ms: int, payload: bytes) -> str:
    return json.dumps({"event": "media", "streamSid": "MZ1", "media": {
        "chunk": str(i + 1), "timestamp": str(timestamp_ms), "payload": base64.b64encode(payload).decode()}})


def test_timestamp_jumps_cannot_make_the_bridge_send_more_audio_than_real_time(monkeypatch):
    # each message claims 9 s passed since the last: 450 s of "gap" for 1 s of audio
    sent_ms, elapsed_s, _ = _send_media_and_count(monkeypatch, [_media_at(i, i * 9000, _frame(i)) for i in range(50)])
    limits = Limits()
    assert sent_ms <= limits.audio_burst_ms + 1000 * limits.audio_speedup * elapsed_s
    assert sent_ms <= 2 * 50 * 20 + 100  # the core's own bound: silence <= audio received + 100 ms


def test_audio_faster_than_real_time_is_dropped_and_counted(monkeypatch):
    # 40 messages of 1.5 s of audio each, with consecutive timestamps, sent as fast as the bridge reads them
    big = bytes(range(256)) * 47  # 12,032 bytes: 1.504 s of μ-law, a 16 KiB message as base64 JSON
    sent_ms, elapsed_s, dropped = _send_media_and_count(monkeypatch, [_media_at(i, i * 1504, big) for i in range(40)])
    limits = Limits()
    assert sent_ms <= limits.audio_burst_ms + 1000 * limits.audio_speedup * elapsed_s
    assert sent_ms < 40 * 1504 and dropped is not None and dropped > 0


def test_large_model_deltas_are_sliced_at_whole_samples_and_play_identically():
    delta = base64.b64encode(bytes(range(256)) * 400).decode()  # 102,400 bytes
    event = {"type": "response.audio.delta", "item_id": "i", "content_index": 0, "delta": delta}
    pieces = _slices(event, 1000, 2)
    assert len(pieces) > 100 and all(len(p["delta"]) <= 1000 and len(base64.b64decode(p["delta"])) % 2 == 0 for p in pieces)
    assert "".join(p["delta"] for p in pieces) == delta
    for session in ({"input_audio_format": "pcm16", "output_audio_format": "pcm16"}, {"output_audio_format": "g711_alaw"}):
        whole, sliced = TwilioMediaStream(session), TwilioMediaStream(session)
        for core in (whole, sliced):
            core.receive_phone(CONNECTED)
            core.receive_phone(_start())
        out_whole = [o.json() for o in whole.receive_model(event)]
        out_sliced = [o.json() for p in pieces for o in sliced.receive_model(p)]
        assert out_whole == out_sliced and len(out_whole) > 0
    odd = {**event, "delta": base64.b64encode(b"\x00" * 2001).decode()}
    assert _slices(odd, 1000, 2) == [odd]  # dropped whole by the core, as unsliced
    bad = {**event, "delta": "!" * 4000}
    assert _slices(bad, 1000, 2) == [bad]


def test_a_large_delta_through_the_bridge_reaches_the_phone_whole(monkeypatch):
    reply = bytes((k * 29) % 256 for k in range(8000 * 20))  # 20 s of μ-law in one delta, 213 KB of base64

    class BigDelta(StandInRealtime):
        async def after_update(self, ws) -> None:
            await ws.send(json.dumps({"type": "response.audio.delta", "item_id": "item_9", "content_index": 0,
                                      "delta": base64.b64encode(reply).decode()}))
            await ws.send(json.dumps({"type": "response.audio.done", "item_id": "item_9", "content_index": 0}))

    async def run() -> bytes:
        got = b""
        async with Harness(BigDelta(), monkeypatch, limits=Limits(model_slice_chars=4096)) as h, connect(h.url()) as twilio:
            await twilio.send(CONNECTED)
            await twilio.send(_start())
            while len(got) < len(reply):
                message = json.loads(await asyncio.wait_for(twilio.recv(), 5))
                if message["event"] == "media":
                    got += base64.b64decode(message["media"]["payload"])
            await twilio.send(STOP)
        return got

    assert asyncio.run(run()) == reply


def test_hostile_messages_never_take_the_server_down(monkeypatch):
    import random

    rng = random.Random(13)
    values = [None, True, 0, -1, 2**70, 1.5, "", "x" * 100, [], [1, [2]], {}, {"a": []}, "\u0000", "media", "start"]
    events = ["connected", "start", "media", "mark", "dtmf", "stop", "clear", "x", 7, None, []]

    def junk() -> str:
        kind = rng.random()
        if kind < 0.1:
            return rng.choice(["", "{", "[]", "null", "\"s\"", "{" * 5000, "\xff\xfe"])
        msg = {"event": rng.choice(events), "streamSid": rng.choice(values)}
        for key in ("start", "media", "mark", "dtmf", "stop"):
            if rng.random() < 0.5:
                msg[key] = {k: rng.choice(values) for k in ("name", "digit", "payload", "chunk", "timestamp", "track",
                                                             "streamSid", "callSid", "customParameters", "mediaFormat")
                            if rng.random() < 0.5}
        return json.dumps(msg)

    stand_in = StandInRealtime()

    async def run() -> dict:
        # close_s 0.2: a hostile client sends on and never reads the server's close, which waits
        # close_s for its answer before it aborts the connection (2 s by default: 6 s of this test)
        async with Harness(stand_in, monkeypatch, limits=Limits(close_s=0.2)) as h:
            for _ in range(3):  # hostile calls: started properly, then junk
                async with connect(h.url()) as hostile:
                    await hostile.send(CONNECTED)
                    await hostile.send(_start())
                    try:
                        for _ in range(300):
                            await hostile.send(junk())
                        await hostile.send(STOP)
                        await asyncio.wait_for(hostile.recv(), 5)
                    except (ConnectionClosed, TimeoutError):
                        pass  # the core dropped or the call ended: either is allowed, the server must live on
            async with connect(h.url()) as twilio:
                return await _converse(twilio)

    got = asyncio.run(run())
    assert b"".join(got["media"]) == stand_in.reply  # a normal call after the hostile ones is served whole


# ---- 16. upstream faults -------------------------------------------------------------------------------

def test_realtime_closing_mid_call_ends_the_call_and_says_why(monkeypatch, caplog):
    class Closes(StandInRealtime):
        async def after_update(self, ws) -> None:
            await ws.close(1011, "model overloaded")

    async def run() -> tuple[int | None, str | None]:
        async with Harness(Closes(), monkeypatch) as h, connect(h.url()) as twilio:
            await twilio.send(CONNECTED)
            await twilio.send(_start())
            for i in range(3):
                await twilio.send(_media(i))
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(twilio.recv(), 5)
            return twilio.close_code, twilio.close_reason

    with caplog.at_level(logging.INFO, logger="audiofmt.bridge"):
        assert asyncio.run(run()) == (1011, "model connection closed")
    ended = [r.getMessage() for r in caplog.records if "ended (upstream_closed)" in r.getMessage()]
    assert len(ended) == 1 and "1011 model overloaded" in ended[0]


def test_an_oversized_model_message_ends_the_call(monkeypatch):
    class Huge(StandInRealtime):
        async def after_update(self, ws) -> None:
            await ws.send(json.dumps({"type": "response.text.delta", "delta": "x" * (1 << 20)}))

    async def run() -> int | None:
        async with Harness(Huge(), monkeypatch) as h, connect(h.url()) as twilio:
            await twilio.send(CONNECTED)
            await twilio.send(_start())
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(twilio.recv(), 5)
            return twilio.close_code

    assert asyncio.run(run()) == 1011


def test_a_slow_upstream_ends_the_call_instead_of_queueing(monkeypatch):
    class NeverReads(StandInRealtime):
        async def handler(self, ws) -> None:
            self.connections += 1
            await ws.recv()  # session.update, then nothing more is read
            ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            ws.transport.pause_reading()
            await ws.wait_closed()  # the bridge gives up and aborts the connection

    payload = bytes(range(256)) * 40  # 10 KiB of μ-law per message

    async def run() -> tuple[int | None, str | None]:
        limits = Limits(send_timeout_s=0.5, phone_rate_per_s=1e6, phone_burst=10**6, audio_speedup=1e6, audio_burst_ms=10**9)
        async with Harness(NeverReads(), monkeypatch, limits=limits) as h, connect(h.url()) as twilio:
            await twilio.send(CONNECTED)
            await twilio.send(_start())

            async def flood() -> None:
                for i in range(100_000):
                    await twilio.send(_media(i, payload))

            task = asyncio.create_task(flood())
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(twilio.recv(), 30)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return twilio.close_code, twilio.close_reason

    assert asyncio.run(run()) == (1011, "peer too slow")


def test_upstream_connect_failure_is_counted_and_closes_the_phone(monkeypatch, caplog):
    from prometheus_client import CollectorRegistry

    from audiofmt.bridge.metrics import BridgeMetrics

    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    registry = CollectorRegistry()

    async def run() -> tuple[int | None, str | None]:
        url = f"ws://127.0.0.1:{dead}/v1/realtime?model=m&api_key=sk-in-the-query-string-123456"
        async with Harness(StandInRealtime(), monkeypatch, realtime_url=url, metrics=BridgeMetrics(registry)) as h, \
                connect(h.url()) as twilio:
            await twilio.send(CONNECTED)
            await twilio.send(_start())
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(twilio.recv(), 10)
            return twilio.close_code, twilio.close_reason

    with caplog.at_level(logging.DEBUG):
        assert asyncio.run(run()) == (1011, "model unavailable")
    assert registry.get_sample_value("audiofmt_bridge_upstream_connect_failures_total") == 1
    assert registry.get_sample_value("audiofmt_bridge_calls_total", {"outcome": "upstream_failed"}) == 1
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "api_key=REDACTED" in text and "sk-in-the-query-string" not in text


# ---- 7. key hygiene --------------------------------------------------------------------------------------

def test_redact_url():
    assert redact_url("wss://h/v1/realtime?model=gpt&api_key=sk-123&token=t&key=k") == \
        "wss://h/v1/realtime?model=gpt&api_key=REDACTED&token=REDACTED&key=REDACTED"
    assert redact_url("wss://user:pw@h/x") == "wss://REDACTED@h/x"
    f = RedactingFilter(("path-token-xyz",))
    assert f.redact("> Authorization: Bearer sk-abcdefghijkl") == "> Authorization: [redacted]"
    assert f.redact("GET /twilio/path-token-xyz") == "GET /twilio/[redacted]"
    assert f.redact("< X-Twilio-Signature: abc=") == "< X-Twilio-Signature: [redacted]"
    frames = RedactingFilter((), frames=True)
    assert frames.redact("""< TEXT '{"event":"dtmf","dtmf":{"digit":"5"}}' [40 bytes]""") == "< TEXT [contents not logged] [40 bytes]"
    assert frames.redact("> BINARY 00 01 02 [3 bytes, continued]") == "> BINARY [contents not logged] [3 bytes, continued]"


def test_peer_given_sids_cannot_forge_log_lines():
    from audiofmt.bridge.call import _safe_sid

    assert _safe_sid("CA123") == "CA123"
    assert _safe_sid("CA1\nWARNING forged line") == "CA1WARNINGforgedline"
    assert _safe_sid("\x1b[31m") == "31m" and _safe_sid("") == "-" and len(_safe_sid("A" * 1000)) == 64


def test_debug_logging_never_prints_the_key_the_token_or_the_signature(monkeypatch, caplog):
    token = "debug-path-token-0123456789abcdef"
    signed = f"{PUBLIC}/{token}"
    signature = twilio_signature(AUTH_TOKEN, signed)

    async def run() -> None:
        auth = Auth(PUBLIC, twilio_auth_token=AUTH_TOKEN, path_token=token)
        async with Harness(StandInRealtime(), monkeypatch, auth=auth) as h, \
                connect(h.url(f"/twilio/{token}"), additional_headers={"X-Twilio-Signature": signature}) as twilio:
            await _converse(twilio)

    with caplog.at_level(1):  # below DEBUG: picows logs the upgrade requests at its own level 9
        asyncio.run(run())
    ours = [r for r in caplog.records if r.name.startswith("audiofmt.bridge")]
    text = "\n".join(r.getMessage() for r in ours)
    assert "Authorization: [redacted]" in text  # the client's upgrade request to the model, seen and redacted
    assert "X-Twilio-Signature: [redacted]" in text  # the phone's upgrade request, seen and redacted
    for secret in (KEY, token, signature, AUTH_TOKEN):
        assert secret not in text


def test_dtmf_reaches_the_app_but_never_the_log(monkeypatch, caplog):
    from audiofmt.bridge.twilio import Dtmf

    events: list = []

    async def run() -> None:
        async with Harness(StandInRealtime(), monkeypatch, on_event=events.append) as h, connect(h.url()) as twilio:
            await twilio.send(CONNECTED)
            await twilio.send(_start())
            for digit in "4729":
                await twilio.send(json.dumps({"event": "dtmf", "streamSid": "MZ1", "dtmf": {"track": "inbound_track", "digit": digit}}))
            await twilio.send(STOP)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(twilio.recv(), 5)

    with caplog.at_level(1):  # every level picows logs at, its own level 9 included
        asyncio.run(run())
    assert [e for e in events if isinstance(e, Dtmf)] == [Dtmf(d) for d in "4729"]
    text = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("audiofmt"))
    assert "Dtmf" in text and "digit" not in text and "4729" not in text  # nor in the transport's lines
    assert "buffer_updated(" in text  # picows' lowest-level read lines were recorded: none shows a frame


# ---- 12. instructions, greeting, per-call profiles ------------------------------------------------------

def test_greeting_and_a_profile_picked_by_a_custom_parameter(monkeypatch):
    stand_in = StandInRealtime()
    seen: list = []

    def hook(started, session):
        seen.append((started.call_sid, started.custom_parameters))
        return {"temperature": 0.7} if started.custom_parameters.get("vip") == "yes" else None

    async def run() -> None:
        session = {"input_audio_format": "g711_ulaw", "output_audio_format": "g711_ulaw", "instructions": "default"}
        profiles = {"sales": {"instructions": "You sell things.", "voice": "verse"}}
        async with Harness(stand_in, monkeypatch, session=session, greeting="Hello from audiofmt!",
                           profiles=profiles, on_call_start=hook) as h, connect(h.url()) as twilio:
            await twilio.send(CONNECTED)
            await twilio.send(_start({"profile": "sales", "vip": "yes"}))
            for i in range(3):
                await twilio.send(_media(i))
            await _until(lambda: len(stand_in.received) >= 2)
            await twilio.send(STOP)

    asyncio.run(run())
    update, greet = stand_in.received[0], stand_in.received[1]
    assert update["type"] == "session.update"
    assert update["session"]["instructions"] == "You sell things." and update["session"]["voice"] == "verse"
    assert update["session"]["temperature"] == 0.7
    assert greet["type"] == "response.create" and "Hello from audiofmt!" in greet["response"]["instructions"]
    assert seen == [("CA1", {"profile": "sales", "vip": "yes"})]


def test_an_app_hook_that_raises_ends_only_that_call(monkeypatch):
    stand_in = StandInRealtime()

    def hook(started, session):
        raise RuntimeError("the app's bug")

    async def run() -> tuple[int | None, dict]:
        async with Harness(stand_in, monkeypatch, on_call_start=hook) as h:
            async with connect(h.url()) as twilio:
                await twilio.send(CONNECTED)
                await twilio.send(_start())
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(twilio.recv(), 5)
                code = twilio.close_code
            h.config.on_call_start = None  # the server lives on: the next call works
            async with connect(h.url()) as twilio:
                return code, await _converse(twilio)

    code, got = asyncio.run(run())
    assert code == 1011 and b"".join(got["media"]) == stand_in.reply and stand_in.connections == 1


# ---- 14 (in process). drain --------------------------------------------------------------------------------

def test_drain_refuses_new_calls_and_lets_the_current_one_finish(monkeypatch):
    stand_in = StandInRealtime(reply_ms=0)

    async def run() -> tuple[int, int]:
        async with Harness(stand_in, monkeypatch) as h, connect(h.url()) as twilio:
            await twilio.send(CONNECTED)
            await twilio.send(_start())
            drained = asyncio.create_task(drain(h.server, 5))
            await asyncio.sleep(0.2)
            with pytest.raises(OSError):  # the listening socket is closed
                async with connect(h.url(), open_timeout=2):
                    pass
            for i in range(5):  # the call goes on
                await twilio.send(_media(i))
            await asyncio.sleep(0.2)
            assert not drained.done()
            await twilio.send(STOP)
            cut = await asyncio.wait_for(drained, 5)
            appends = sum(e["type"] == "input_audio_buffer.append" for e in stand_in.received)
            return cut, appends

    assert asyncio.run(run()) == (0, 5)


def test_closing_the_server_stops_its_loop_probe(monkeypatch):
    from audiofmt.bridge.server import server_state

    async def run() -> bool:
        async with Harness(StandInRealtime(), monkeypatch) as h:
            state = server_state(h.server)
            assert not state.monitor.done()
        await asyncio.sleep(0.05)
        return state.monitor.done()

    assert asyncio.run(run())


# ---- 15. metrics and health -------------------------------------------------------------------------------

def test_metrics_count_a_call_and_health_answers(monkeypatch):
    from prometheus_client import CollectorRegistry

    from audiofmt.bridge.metrics import BridgeMetrics
    from audiofmt.bridge.service import start_health_server

    registry = CollectorRegistry()
    stand_in = StandInRealtime(reply_ms=1000)

    async def run() -> tuple:
        async with Harness(stand_in, monkeypatch, metrics=BridgeMetrics(registry)) as h:
            health = await start_health_server("127.0.0.1", 0, registry, lambda: (200, "ok"))
            port = health.sockets[0].getsockname()[1]
            async with connect(h.url()) as twilio:
                await twilio.send(CONNECTED)
                await twilio.send(_start())
                await _until(lambda: stand_in.received)  # the Realtime socket is open: the call is up
                active = registry.get_sample_value("audiofmt_bridge_active_calls")
                await twilio.send(STOP)
            await asyncio.sleep(0.2)
            async with connect(h.url()) as twilio:
                await _converse(twilio)
            await _until(lambda: registry.get_sample_value("audiofmt_bridge_calls_total", {"outcome": "stopped"}) == 2)
            result = (active, await _http_get(port, "/healthz"), await _http_get(port, "/metrics"), await _http_get(port, "/nope"))
            health.close()
            return result

    active, healthz, metrics, missing = asyncio.run(run())
    assert active == 1 and healthz == ("HTTP/1.0 200 OK", "ok\n") and missing[0].startswith("HTTP/1.0 404")
    assert metrics[0] == "HTTP/1.0 200 OK"
    assert 'audiofmt_bridge_calls_total{outcome="stopped"} 2.0' in metrics[1]
    assert "audiofmt_bridge_frames_in_total 25.0" in metrics[1]
    assert f"audiofmt_bridge_frames_out_total {1000 // 20}.0" in metrics[1]
    assert registry.get_sample_value("audiofmt_bridge_active_calls") == 0
    assert registry.get_sample_value("audiofmt_bridge_upstream_connect_seconds_count") == 2
    assert registry.get_sample_value("audiofmt_bridge_loop_lag_seconds_count") > 0


# ---- 11. TLS ------------------------------------------------------------------------------------------------

def test_wss_with_a_certificate(monkeypatch):
    trustme = pytest.importorskip("trustme", reason="the test extra's trustme package is not installed")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    stand_in = StandInRealtime()

    async def run() -> dict:
        async with Harness(stand_in, monkeypatch, ssl=server_ctx) as h:
            with pytest.raises(ssl.SSLCertVerificationError):  # a client that does not trust it
                async with connect(h.url()):
                    pass
            async with connect(h.url(), ssl=client_ctx) as twilio:
                return await _converse(twilio)

    got = asyncio.run(run())
    assert b"".join(got["media"]) == stand_in.reply


def test_the_closing_handshake_completes_when_the_caller_answers(monkeypatch):
    """After the call ends the bridge reads the caller's close answer and closes the TCP
    connection at once: it never waits for close_s (here far longer than the test allows). It once
    left the phone socket unread when the stop message had been queued, so every call ended by abort."""
    stand_in = StandInRealtime()

    async def run() -> tuple:
        async with Harness(stand_in, monkeypatch, limits=Limits(close_s=10)) as h, connect(h.url()) as twilio:
            await twilio.send(CONNECTED)
            await twilio.send(_start())
            await twilio.send(_media(0))
            await twilio.send(STOP)
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(twilio.recv(), 5)
            await asyncio.wait_for(twilio.wait_closed(), 5)
            return twilio.close_code, twilio.close_reason

    assert asyncio.run(run()) == (1000, "call ended")


def test_the_queue_limits_that_bound_nothing_warn_when_set():
    with pytest.warns(DeprecationWarning, match="phone_max_queue bounds nothing"):
        Limits(phone_max_queue=64)
    with pytest.warns(DeprecationWarning, match="model_max_queue"):
        Limits(model_max_queue=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Limits(max_calls=5, phone_max_queue=32)  # the other fields, and the default values, say nothing
