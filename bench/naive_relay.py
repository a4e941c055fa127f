"""A naive Twilio ↔ Realtime relay, the shape of the Twilio/OpenAI sample code: the baseline that
bench/bridge_e2e_load.py runs beside `audiofmt bridge` in the same run.

    python bench/naive_relay.py --listen 127.0.0.1:8081 --realtime-url ws://127.0.0.1:9000 --format pcm16

websockets server and client with their defaults, json, base64 and audioop (audioop-lts on
Python ≥ 3.13): each Twilio `media` → base64-decode → (pcm16: ulaw2lin + ratecv 8 → 24 kHz) →
`input_audio_buffer.append`; each `response.audio.delta` → base64-decode → (pcm16: ratecv
24 → 8 kHz + lin2ulaw) → Twilio `media`. No framing to 20 ms, marks, barge-in, timeline,
validation or error counting: that is what the sample code does and what this baseline costs.
Takes the same flags as `audiofmt bridge` that the bench uses.

`--stack picows`: the same naive relay on picows + uvloop + orjson + pybase64 (what the I/O stack
alone changes). `--stack core-picows`: not naive: audiofmt's sans-IO core (TwilioMediaStream,
unchanged) driven by picows + uvloop, a prototype of the bridge on that stack for the bench.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import warnings

import websockets

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop


async def relay(twilio_ws, realtime_url: str, session_format: str, api_key_env: str) -> None:
    headers = {"Authorization": f"Bearer {os.environ.get(api_key_env, '')}", "OpenAI-Beta": "realtime=v1"}
    async with websockets.connect(realtime_url, additional_headers=headers) as openai_ws:
        await openai_ws.send(json.dumps({"type": "session.update", "session": {
            "input_audio_format": session_format, "output_audio_format": session_format}}))
        stream_sid = None
        pcm16 = session_format == "pcm16"

        async def receive_from_twilio() -> None:
            nonlocal stream_sid
            state = None
            async for message in twilio_ws:
                data = json.loads(message)
                if data["event"] == "media":
                    audio = base64.b64decode(data["media"]["payload"])
                    if pcm16:
                        audio, state = audioop.ratecv(audioop.ulaw2lin(audio, 2), 2, 1, 8000, 24000, state)
                    await openai_ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(audio).decode()}))
                elif data["event"] == "start":
                    stream_sid = data["start"]["streamSid"]
                elif data["event"] == "stop":
                    return

        async def send_to_twilio() -> None:
            state = None
            async for message in openai_ws:
                response = json.loads(message)
                if response["type"] == "response.audio.delta" and "delta" in response:
                    audio = base64.b64decode(response["delta"])
                    if pcm16:
                        audio, state = audioop.ratecv(audio, 2, 1, 24000, 8000, state)
                        audio = audioop.lin2ulaw(audio, 2)
                    await twilio_ws.send(json.dumps({"event": "media", "streamSid": stream_sid,
                                                     "media": {"payload": base64.b64encode(audio).decode()}}))

        tasks = [asyncio.create_task(receive_from_twilio()), asyncio.create_task(send_to_twilio())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()


async def main_async(args: argparse.Namespace) -> None:
    host, _, port = args.listen.rpartition(":")

    async def handler(ws) -> None:
        try:
            await relay(ws, args.realtime_url, args.format, args.api_key_env)
        except Exception as exc:  # one call's failure must not stop the others
            print(f"naive relay: call ended with {exc!r}", flush=True)

    async with websockets.serve(handler, host, int(port)):
        print(f"naive relay listening on ws://{host}:{port}", flush=True)
        await asyncio.Future()


async def main_picows(args: argparse.Namespace) -> None:
    """The same relay on picows + uvloop + orjson + pybase64: what the I/O stack alone changes."""
    import orjson
    import pybase64
    from picows import WSListener, WSMsgType, ws_connect, ws_create_server

    host, _, port = args.listen.rpartition(":")
    pcm16 = args.format == "pcm16"
    headers = {"Authorization": f"Bearer {os.environ.get(args.api_key_env, '')}", "OpenAI-Beta": "realtime=v1"}
    session_update = orjson.dumps({"type": "session.update", "session": {"input_audio_format": args.format, "output_audio_format": args.format}})

    class Model(WSListener):
        def __init__(self, phone: Phone) -> None:
            self.phone = phone
            self.state = None

        def on_ws_frame(self, transport, frame) -> None:
            if frame.msg_type == WSMsgType.TEXT:
                response = orjson.loads(frame.get_payload_as_bytes())
                if response["type"] == "response.audio.delta" and "delta" in response:
                    audio = pybase64.b64decode(response["delta"])
                    if pcm16:
                        audio, self.state = audioop.ratecv(audio, 2, 1, 24000, 8000, self.state)
                        audio = audioop.lin2ulaw(audio, 2)
                    self.phone.transport.send(WSMsgType.TEXT, orjson.dumps({"event": "media", "streamSid": self.phone.stream_sid,
                                                                            "media": {"payload": pybase64.b64encode_as_string(audio)}}))
            elif frame.msg_type == WSMsgType.CLOSE:
                self.phone.transport.disconnect()

    class Phone(WSListener):
        def __init__(self) -> None:
            self.transport = None
            self.model = None
            self.pending: list[bytes] = []
            self.stream_sid = None
            self.state = None

        def on_ws_connected(self, transport) -> None:
            self.transport = transport
            asyncio.get_running_loop().create_task(self.connect())

        async def connect(self) -> None:
            try:
                self.model, _ = await ws_connect(lambda: Model(self), args.realtime_url, extra_headers=headers)
            except Exception as exc:
                print(f"naive relay (picows): model connection failed: {exc!r}", flush=True)
                self.transport.disconnect()
                return
            self.model.send(WSMsgType.TEXT, session_update)
            for message in self.pending:
                self.model.send(WSMsgType.TEXT, message)
            self.pending.clear()

        def on_ws_disconnected(self, transport) -> None:
            if self.model is not None:
                self.model.disconnect()

        def on_ws_frame(self, transport, frame) -> None:
            if frame.msg_type != WSMsgType.TEXT:
                if frame.msg_type == WSMsgType.CLOSE:
                    transport.disconnect()
                return
            data = orjson.loads(frame.get_payload_as_bytes())
            if data["event"] == "media":
                audio = pybase64.b64decode(data["media"]["payload"])
                if pcm16:
                    audio, self.state = audioop.ratecv(audioop.ulaw2lin(audio, 2), 2, 1, 8000, 24000, self.state)
                out = orjson.dumps({"type": "input_audio_buffer.append", "audio": pybase64.b64encode_as_string(audio)})
                if self.model is None:
                    self.pending.append(out)
                else:
                    self.model.send(WSMsgType.TEXT, out)
            elif data["event"] == "start":
                self.stream_sid = data["start"]["streamSid"]
            elif data["event"] == "stop":
                transport.disconnect()

    await ws_create_server(lambda request: Phone(), host, int(port))
    print(f"naive relay (picows) listening on ws://{host}:{port}", flush=True)
    await asyncio.Future()


async def main_core_picows(args: argparse.Namespace) -> None:
    """Not naive: audiofmt's sans-IO core (TwilioMediaStream, unchanged) driven by picows + uvloop.
    What the bridge would cost on the recommended I/O stack, before any change to the core."""
    from picows import WSListener, WSMsgType, ws_connect, ws_create_server

    from audiofmt.bridge import CallStopped, ToModel, ToPhone, TwilioMediaStream
    from audiofmt.realtime.session import Session

    host, _, port = args.listen.rpartition(":")
    headers = {"Authorization": f"Bearer {os.environ.get(args.api_key_env, '')}", "OpenAI-Beta": "realtime=v1"}
    session = {"input_audio_format": args.format, "output_audio_format": args.format}
    # built before connecting, as the bridge does: the core adopts session.created's formats when it
    # arrives, so an update built from the core after the handshake could ask for the server's defaults
    update = json.dumps(Session.parse(session).update_event("beta")).encode()

    class Model(WSListener):
        def __init__(self, phone: Phone) -> None:
            self.phone = phone

        def on_ws_frame(self, transport, frame) -> None:
            if frame.msg_type == WSMsgType.TEXT:
                self.phone.route(self.phone.core.receive_model(frame.get_payload_as_bytes()))
            elif frame.msg_type == WSMsgType.CLOSE:
                self.phone.transport.disconnect()

    class Phone(WSListener):
        def __init__(self) -> None:
            self.transport = None
            self.model = None
            self.pending: list[str] = []
            self.core = TwilioMediaStream(session)

        def route(self, outputs: list) -> None:
            for out in outputs:
                if isinstance(out, ToPhone):
                    self.transport.send(WSMsgType.TEXT, out.json().encode())
                elif isinstance(out, ToModel):
                    if self.model is None:
                        self.pending.append(out.json())
                    else:
                        self.model.send(WSMsgType.TEXT, out.json().encode())
                elif isinstance(out, CallStopped):
                    self.transport.disconnect()

        def on_ws_connected(self, transport) -> None:
            self.transport = transport
            asyncio.get_running_loop().create_task(self.connect())

        async def connect(self) -> None:
            try:
                self.model, _ = await ws_connect(lambda: Model(self), args.realtime_url, extra_headers=headers)
            except Exception as exc:
                print(f"core on picows: model connection failed: {exc!r}", flush=True)
                self.transport.disconnect()
                return
            self.model.send(WSMsgType.TEXT, update)
            for message in self.pending:
                self.model.send(WSMsgType.TEXT, message.encode())
            self.pending.clear()

        def on_ws_disconnected(self, transport) -> None:
            if self.model is not None:
                self.model.disconnect()

        def on_ws_frame(self, transport, frame) -> None:
            if frame.msg_type == WSMsgType.TEXT:
                self.route(self.core.receive_phone(frame.get_payload_as_bytes()))
            elif frame.msg_type == WSMsgType.CLOSE:
                transport.disconnect()

    await ws_create_server(lambda request: Phone(), host, int(port))
    print(f"audiofmt core on picows listening on ws://{host}:{port}", flush=True)
    await asyncio.Future()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", default="127.0.0.1:8081")
    parser.add_argument("--realtime-url", required=True)
    parser.add_argument("--format", default="g711_ulaw", choices=["g711_ulaw", "pcm16"])
    parser.add_argument("--api-key-env", default="OPENAI_API_KEY")
    parser.add_argument("--stack", default="websockets", choices=["websockets", "picows", "core-picows"],
                        help="websockets + json + base64 (the sample code), the same relay on picows + uvloop + orjson + pybase64, "
                             "or audiofmt's TwilioMediaStream core on picows + uvloop")
    args = parser.parse_args()
    if args.stack == "core-picows":
        import uvloop

        uvloop.run(main_core_picows(args))
    elif args.stack == "picows":
        import uvloop

        uvloop.run(main_picows(args))
    else:
        asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
