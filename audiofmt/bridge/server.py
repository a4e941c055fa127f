"""A runnable Twilio ↔ Realtime bridge: a thin asyncio/websockets shell around TwilioMediaStream.

Twilio connects to `serve()` over WebSocket; for each call the bridge opens a WebSocket to the
Realtime endpoint (API key from the environment, sent as a header and never logged), sends a
`session.update`, and then only moves messages: everything about audio, framing, marks and
barge-in is decided by the sans-IO core. Needs the optional extra: pip install "audiofmt[bridge]".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import AudioFormatError
from ..realtime.session import Session
from .twilio import CallStopped, ToModel, ToPhone, TwilioMediaStream

__all__ = ["BridgeConfig", "serve", "bridge_call"]

log = logging.getLogger("audiofmt.bridge")


@dataclass
class BridgeConfig:
    """How to reach the model: endpoint URL, where the API key lives, the session to ask for."""

    realtime_url: str
    api_key_env: str = "OPENAI_API_KEY"
    session: dict[str, Any] = field(default_factory=lambda: {"input_audio_format": "g711_ulaw", "output_audio_format": "g711_ulaw"})
    beta_header: bool = True  # send "OpenAI-Beta: realtime=v1" (the beta event names)
    on_event: Callable[[object], None] | None = None  # receives Dtmf, CallStarted and CallStopped

    def headers(self) -> dict[str, str]:
        headers = {}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if self.beta_header:
            headers["OpenAI-Beta"] = "realtime=v1"
        return headers


def _require_websockets() -> Any:
    try:
        import websockets
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise AudioFormatError('the bridge needs the optional extra: pip install "audiofmt[bridge]"') from exc
    return websockets


async def bridge_call(phone: Any, config: BridgeConfig) -> TwilioMediaStream:
    """Bridge one Twilio WebSocket (`phone`) to a new Realtime connection until either side ends."""
    from websockets.asyncio.client import connect

    session = Session.parse(config.session)
    core = TwilioMediaStream(session)
    async with connect(config.realtime_url, additional_headers=config.headers(), max_size=None) as model:
        await model.send(json.dumps(session.update_event("beta" if config.beta_header else "ga")))

        async def send_all(outputs: list) -> None:
            for out in outputs:
                if isinstance(out, ToPhone):
                    await phone.send(out.json())
                elif isinstance(out, ToModel):
                    await model.send(out.json())
                else:
                    log.info("call %s: %s", core.stream_sid, out)
                    if config.on_event is not None:
                        config.on_event(out)
                    if isinstance(out, CallStopped):
                        raise _CallEnded

        async def phone_to_model() -> None:
            async for message in phone:
                await send_all(core.receive_phone(message))

        async def model_to_phone() -> None:
            async for event in model:
                await send_all(core.receive_model(event))

        tasks = [asyncio.create_task(phone_to_model()), asyncio.create_task(model_to_phone())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                with contextlib.suppress(_CallEnded, asyncio.CancelledError):
                    task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    log.info("call %s ended: %s", core.stream_sid, core.stats)
    return core


class _CallEnded(Exception):
    """Twilio said stop: end this call's tasks."""


async def serve(host: str, port: int, config: BridgeConfig) -> Any:
    """Start the bridge's WebSocket server (returns the websockets Server; `async with` it or close it)."""
    _require_websockets()
    from websockets.asyncio.server import serve as ws_serve

    async def handler(phone: Any) -> None:
        try:
            await bridge_call(phone, config)
        except Exception as exc:  # one call's failure (e.g. the model unreachable) must not stop the server
            log.warning("call ended with an error: %s", exc)

    return await ws_serve(handler, host, port, max_size=None)

