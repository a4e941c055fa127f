"""The websockets bridge end to end on loopback: a stand-in Realtime server, a simulated Twilio
client, a reply with its mark, and a barge-in. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

websockets = pytest.importorskip("websockets", reason="the optional bridge extra (websockets) is not installed")

from websockets.asyncio.client import connect  # noqa: E402
from websockets.asyncio.server import serve as ws_serve  # noqa: E402

from audiofmt.bridge.server import BridgeConfig, serve  # noqa: E402


def _frame(i: int) -> bytes:
    return bytes((i * 7 + k) % 256 for k in range(160))


class StandInRealtime:
    """Speaks enough of the Realtime protocol: session events, takes appends, streams a reply
    of `reply_ms` after `reply_after` appends, raises speech_started after `barge_after` more."""

    def __init__(self, reply_ms: int, barge_after: int | None = None) -> None:
        self.reply = bytes((k * 13) % 256 for k in range(reply_ms * 8))
        self.barge_after = barge_after
        self.received: list[dict] = []
        self.headers: dict[str, str] = {}

    async def handler(self, ws) -> None:  # noqa: ANN001
        self.headers = dict(ws.request.headers)
        await ws.send(json.dumps({"type": "session.created", "session": {"id": "sess_1", "input_audio_format": "g711_ulaw", "output_audio_format": "g711_ulaw"}}))
        appends = 0
        async for message in ws:
            event = json.loads(message)
            self.received.append(event)
            if event["type"] == "session.update":
                await ws.send(json.dumps({"type": "session.updated", "session": event["session"]}))
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


async def _call(stand_in: StandInRealtime, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("AUDIOFMT_TEST_KEY", "sk-test-not-logged")
    async with ws_serve(stand_in.handler, "127.0.0.1", 0) as model_server:
        model_port = model_server.sockets[0].getsockname()[1]
        config = BridgeConfig(f"ws://127.0.0.1:{model_port}", api_key_env="AUDIOFMT_TEST_KEY")
        async with await serve("127.0.0.1", 0, config) as bridge_server:
            port = bridge_server.sockets[0].getsockname()[1]
            got: dict = {"media": [], "marks": [], "clears": 0}
            async with connect(f"ws://127.0.0.1:{port}") as twilio:
                await twilio.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
                await twilio.send(json.dumps({"event": "start", "streamSid": "MZ1", "start": {"streamSid": "MZ1", "callSid": "CA1",
                                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))

                async def media(i: int) -> None:
                    await twilio.send(json.dumps({"event": "media", "streamSid": "MZ1", "media": {"track": "inbound", "chunk": str(i + 1),
                                      "timestamp": str(i * 20), "payload": base64.b64encode(_frame(i)).decode()}}))

                for i in range(10):  # 200 ms of caller audio; the 10th append triggers the reply
                    await media(i)
                first = json.loads(await asyncio.wait_for(twilio.recv(), 5))
                got["media"].append(base64.b64decode(first["media"]["payload"]))
                for i in range(10, 10 + 15):  # 300 ms more of the call clock while the reply plays
                    await media(i)
                while True:
                    try:
                        message = json.loads(await asyncio.wait_for(twilio.recv(), 2))
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
                await twilio.send(json.dumps({"event": "stop", "streamSid": "MZ1", "stop": {"callSid": "CA1"}}))
                await asyncio.sleep(0.2)
    return got


def test_reply_reaches_the_caller_in_frames_with_a_mark(monkeypatch):
    stand_in = StandInRealtime(reply_ms=1000)
    got = asyncio.run(_call(stand_in, monkeypatch))
    appended = b"".join(base64.b64decode(e["audio"]) for e in stand_in.received if e["type"] == "input_audio_buffer.append")
    assert appended == b"".join(_frame(i) for i in range(25))  # μ-law passed through untouched
    assert b"".join(got["media"]) == stand_in.reply and all(len(m) == 160 for m in got["media"])
    assert len(got["marks"]) == 1 and got["clears"] == 0
    assert stand_in.received[0]["type"] == "session.update"
    assert stand_in.headers["authorization"] == "Bearer sk-test-not-logged" and stand_in.headers["openai-beta"] == "realtime=v1"


def test_barge_in_clears_the_phone_and_truncates_what_was_heard(monkeypatch):
    stand_in = StandInRealtime(reply_ms=5000, barge_after=15)
    got = asyncio.run(_call(stand_in, monkeypatch))
    assert got["clears"] == 1
    truncates = [e for e in stand_in.received if e["type"] == "conversation.item.truncate"]
    assert len(truncates) == 1
    # the reply started when the call clock was at 200 ms; 15 more 20 ms frames = 300 ms heard
    assert (truncates[0]["item_id"], truncates[0]["content_index"], truncates[0]["audio_end_ms"]) == ("item_1", 0, 300)
