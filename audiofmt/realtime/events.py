"""Realtime API events: building client events, reading server events, base64, truncation math.

Client events are plain dicts shaped exactly as the API (and the openai SDK's models) expect.
Server events are accepted as dicts, JSON text, or any object with `model_dump()` (the openai
SDK's own models; read by `plain_object`, the same rule as sessions), and come back as dicts;
anything malformed raises an AudioFormatError.

Truncation arithmetic rounds down: `conversation.item.truncate` must never claim that the
listener heard more audio than they did.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable
from typing import Any

from .._speedups import b64decode_strict, b64encode, first_loads, loads
from ..errors import EventError, InvalidDataError
from ..formats import AudioFormat, get_format

__all__ = [
    "AUDIO_DELTA_TYPES",
    "AUDIO_DONE_TYPES",
    "MAX_EVENT_BYTES",
    "SESSION_TYPES",
    "EventError",
    "append_event",
    "append_event_json",
    "clear_event",
    "commit_event",
    "decode_audio",
    "encode_audio",
    "heard_ms",
    "ms_to_bytes",
    "ms_to_samples",
    "parse_event",
    "plain_object",
    "truncate_event",
]

MAX_EVENT_BYTES = 15 * 1024 * 1024
"""Largest client event the API accepts, in bytes of JSON."""

AUDIO_DELTA_TYPES = frozenset({"response.audio.delta", "response.output_audio.delta"})  # beta, GA
AUDIO_DONE_TYPES = frozenset({"response.audio.done", "response.output_audio.done"})
SESSION_TYPES = frozenset({"session.created", "session.updated"})


def fast_audio_delta(text: str) -> dict[str, Any] | None:
    """The hot paths' shortcut: `text` parsed by the JSON accelerator (orjson when installed) if
    it is an audio delta event, else None, and the caller parses it by parse_event's rules.
    orjson and json differ only on floats and integers beyond 64 bits, which the callers' field
    checks (item_id a str, content_index an int, delta a str) refuse either way."""
    try:
        ev = first_loads(text)
    except ValueError:
        return None
    kind = ev.get("type") if type(ev) is dict else None
    return ev if type(kind) is str and kind in AUDIO_DELTA_TYPES else None


def _with_id(event: dict[str, Any], event_id: str | None) -> dict[str, Any]:
    if event_id is not None:
        if not isinstance(event_id, str):
            raise EventError(f"event_id must be a string; got {event_id!r}")
        event["event_id"] = event_id
    return event


def encode_audio(data: bytes | memoryview) -> str:
    """Audio bytes as the base64 text the API carries (standard alphabet, padded)."""
    return b64encode(data)


def decode_audio(text: object, field: str = "delta") -> bytes:
    """The bytes of a base64 audio field; anything that is not strict base64 raises InvalidDataError."""
    if isinstance(text, str):
        try:
            return b64decode_strict(text)
        except (binascii.Error, ValueError) as exc:
            raise InvalidDataError(f"{field} is not valid base64 ({exc}); got {text[:40]!r}…") from None
    raise InvalidDataError(f"{field} must be a base64 string; got {type(text).__name__}")


def append_event_json(audio: bytes | memoryview, event_id: str | None = None) -> str:
    """The compact JSON text of append_event(audio, event_id), built without a dict round trip
    (base64 never needs escaping; the event_id is escaped by json)."""
    b64 = b64encode(audio)
    if event_id is None:
        return f'{{"type":"input_audio_buffer.append","audio":"{b64}"}}'
    if not isinstance(event_id, str):
        raise EventError(f"event_id must be a string; got {event_id!r}")
    return f'{{"type":"input_audio_buffer.append","audio":"{b64}","event_id":{json.dumps(event_id)}}}'



def append_event(audio: bytes | memoryview, event_id: str | None = None) -> dict[str, Any]:
    """`input_audio_buffer.append` carrying `audio` (bytes already in the session's input format)."""
    return _with_id({"type": "input_audio_buffer.append", "audio": encode_audio(audio)}, event_id)


def commit_event(event_id: str | None = None) -> dict[str, Any]:
    """`input_audio_buffer.commit`."""
    return _with_id({"type": "input_audio_buffer.commit"}, event_id)


def clear_event(event_id: str | None = None) -> dict[str, Any]:
    """`input_audio_buffer.clear`."""
    return _with_id({"type": "input_audio_buffer.clear"}, event_id)


def heard_ms(n_samples: int, rate_hz: int) -> int:
    """Whole milliseconds in `n_samples` at `rate_hz`, rounded down (never more than was heard)."""
    from .._checks import check_int  # here, so that importing events (and session) loads no numpy

    return check_int("n_samples", n_samples, 0) * 1000 // check_int("rate_hz", rate_hz, 1, unit="Hz")


def ms_to_samples(duration_ms: int, format: str | AudioFormat) -> int:
    """Samples in `duration_ms` of `format` (exact: pcm16 24 per ms, G.711 8 per ms)."""
    return get_format(format).ms_to_samples(duration_ms)


def ms_to_bytes(duration_ms: int, format: str | AudioFormat) -> int:
    """Bytes in `duration_ms` of `format` (pcm16 48 per ms, G.711 8 per ms)."""
    return duration_ms * get_format(format).bytes_per_ms


def truncate_event(
    item_id: str,
    content_index: int,
    *,
    audio_end_ms: int | None = None,
    heard_samples: int | None = None,
    rate_hz: int | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """`conversation.item.truncate` for an item the listener heard part of.

    Give `audio_end_ms` directly, or `heard_samples` at `rate_hz` (converted with heard_ms,
    rounding down).
    """
    if not isinstance(item_id, str) or not item_id:
        raise EventError(f"item_id must be a non-empty string; got {item_id!r}")
    from .._checks import check_int  # here, so that importing events (and session) loads no numpy

    content_index = check_int("content_index", content_index, 0, error=EventError)
    if audio_end_ms is None:
        if heard_samples is None or rate_hz is None:
            raise EventError("truncate_event needs audio_end_ms, or heard_samples and rate_hz")
        audio_end_ms = heard_ms(heard_samples, rate_hz)
    else:
        audio_end_ms = check_int("audio_end_ms", audio_end_ms, 0, unit="ms", error=EventError)
    event = {
        "type": "conversation.item.truncate",
        "item_id": item_id,
        "content_index": content_index,
        "audio_end_ms": audio_end_ms,
    }
    return _with_id(event, event_id)


def plain_object(value: object, error: Callable[[str], Exception]) -> object:
    """JSON text or an openai SDK (pydantic) model as plain Python values; anything else as it is.

    The one rule for everything audiofmt reads as an object (server events, sessions): JSON text is
    str, bytes, bytearray or memoryview; a model gives `model_dump(mode="json", exclude_unset=True)`,
    the fields that were set (so an explicit null stays meaningful) as JSON values. Failures raise
    `error(reason)`, so each caller reports them in its own exception type.
    """
    if isinstance(value, (str, bytes, bytearray, memoryview)):
        try:
            return loads(bytes(value) if isinstance(value, memoryview) else value)
        except (ValueError, RecursionError) as exc:
            raise error(f"not valid JSON ({exc})") from None
    if not isinstance(value, dict) and callable(getattr(value, "model_dump", None)):
        try:
            return value.model_dump(mode="json", exclude_unset=True)  # type: ignore[attr-defined]
        except Exception as exc:  # a foreign model_dump that fails is bad input, not our bug
            raise error(f"its model_dump() failed ({exc!r})") from None
    return value


def _event_error(reason: str) -> EventError:
    return EventError(f"event is {reason}" if reason.startswith("not") else f"event: {reason}")


def parse_event(event: object) -> dict[str, Any]:
    """A server event as a dict with a string "type" (from a dict, JSON text, or an SDK model)."""
    if type(event) is not dict:
        event = plain_object(event, _event_error)
    if not isinstance(event, dict):
        raise EventError(f"event must be a JSON object; got {type(event).__name__}")
    if not isinstance(event.get("type"), str):
        raise EventError(f"event needs a string 'type'; got {event.get('type')!r}")
    return event


def field(event: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    """event[name], which must exist and be of `kind`; else an EventError naming the event type."""
    value = event.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise EventError(f"{event['type']} needs {name!r} of type {expected}; got {value!r}")
    return value
