"""What the Twilio core takes and gives: the messages it sends (`ToPhone`, `ToModel`, built from a
dict or from prebuilt JSON text), the events it reports (`Dtmf`, `CallStarted`, `CallStopped`),
its counters (`CallStats`) and the fixed set of reasons a message is dropped (`DROP_REASONS`).
The Twilio Media Streams constants (20 ms μ-law frames, the message templates) live here too.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import FrozenInstanceError, dataclass, field
from typing import Any, cast

from .. import _speedups
from .._speedups import first_loads as _first_loads
from ..formats import FORMATS

__all__ = ["DROP_REASONS", "MAX_GAP_FILL_MS", "CallStarted", "CallStats", "CallStopped", "Dtmf", "Output", "ToModel", "ToPhone"]

PHONE = FORMATS["g711_ulaw"]  # Twilio Media Streams: audio/x-mulaw, 8000 Hz, mono
FRAME_BYTES = 160  # 20 ms of phone audio
_SILENCE = b"\xff"  # μ-law code of 0
MAX_GAP_FILL_MS = 100  # the largest timestamp gap filled with silence; beyond it: a resync
_DTMF_DIGITS = frozenset("0123456789*#ABCD")
_MAX_REMEMBERED = 64  # pending marks, cleared marks and interrupted items kept per call
_APPEND_HEAD = '{"type":"input_audio_buffer.append","audio":"'  # prebuilt message templates: base64
_APPEND_TAIL = '"}'  # never needs JSON escaping, and the streamSid is escaped once at start
_MEDIA_TAIL = '"}}'
_APPEND_HEAD_LEN, _APPEND_TAIL_LEN = len(_APPEND_HEAD), len(_APPEND_TAIL)
_SAMPLES_PER_MS = PHONE.samples_per_ms

# Why a message was dropped: the only keys CallStats.dropped ever has.
DROP_REASONS: frozenset[str] = frozenset({
    # phone side
    "not JSON", "not a JSON object", "no event name", "unknown phone event",
    "connected out of order", "start out of order", "start without a start object", "start without streamSid",
    "unsupported mediaFormat", "media before start", "media after stop", "media without a media object",
    "media of another track", "bad media.chunk", "bad media.timestamp", "bad media.payload",
    "empty media payload", "duplicate or late media chunk", "bad mark name", "mark we did not send",
    "bad dtmf digit", "stop out of order",
    # model side
    "bad model event", "bad session event", "audio event without item_id/content_index",
    "audio of an interrupted response", "model audio while no call is streaming", "bad model audio",
    # a bug of ours, never a peer's doing (tests assert it stays 0)
    "internal error",
})



class _Message:
    """An immutable outgoing message: its dict, its JSON text, or both (each made from the other
    on first use). Equality compares the dicts, as a frozen dataclass over them would."""

    __slots__ = ("_text", "_value")
    _text: str | None
    _value: dict[str, Any] | None
    _field = ""

    def __init__(self, value: dict[str, Any] | None = None, text: str | None = None) -> None:
        if value is None and text is None:
            raise TypeError(f"{type(self).__name__} needs its {self._field} dict or its JSON text")
        _set_value(self, value)
        _set_text(self, text)

    @property
    def text(self) -> str | None:
        """The JSON text when it was built with the message (json() always has one)."""
        return self._text

    def _dict(self) -> dict[str, Any]:
        value: dict[str, Any] | None = getattr(self, "_value", None)  # unset when made from text
        if value is None:
            value = cast("dict[str, Any]", json.loads(cast(str, self._text)))  # our own compact JSON
            _set_value(self, value)
        return value

    def json(self) -> str:
        text = self._text
        return text if text is not None else json.dumps(self._dict())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Message) or other._field != self._field:
            return NotImplemented
        return self._dict() == other._dict()

    __hash__ = None  # type: ignore[assignment]  # the dict is mutable, as with the frozen dataclass

    def __repr__(self) -> str:
        return f"{'ToPhone' if self._field == 'message' else 'ToModel'}({self._field}={self._dict()!r})"

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (getattr(self, "_value", None), self._text))


# slot setters, past the frozen __setattr__
_set_value: Any = _Message.__dict__["_value"].__set__
_set_text: Any = _Message.__dict__["_text"].__set__
_new_object = object.__new__


class ToPhone(_Message):
    """A message for Twilio (media, mark or clear): `.message` is its dict, `.json()` its text."""

    __slots__ = ()
    _field = "message"

    @property
    def message(self) -> dict[str, Any]:
        return self._dict()


class ToModel(_Message):
    """A client event for the Realtime server: `.event` is its dict, `.json()` its text."""

    __slots__ = ()
    _field = "event"

    @property
    def event(self) -> dict[str, Any]:
        return self._dict()


class _Append(ToModel):
    """An append event the core built from its template: `.event` is cut out of the text (the
    base64 between the template's head and tail needs no JSON parse)."""

    __slots__ = ()

    def _dict(self) -> dict[str, Any]:
        value: dict[str, Any] | None = getattr(self, "_value", None)
        if value is None:
            value = {"type": "input_audio_buffer.append", "audio": cast(str, self._text)[_APPEND_HEAD_LEN:-_APPEND_TAIL_LEN]}
            _set_value(self, value)
        return value

    def __reduce__(self) -> tuple[Any, ...]:
        return (ToModel, (self._dict(), self._text))


def _from_text(cls: type[_Message], text: str) -> Any:
    """cls with only its JSON text (the hot paths: the dict is made only if someone reads it)."""
    message = _new_object(cls)
    _set_text(message, text)
    return message


@dataclass(frozen=True)
class Dtmf:
    """A key the caller pressed (never sent to the model as audio)."""

    digit: str


@dataclass(frozen=True)
class CallStarted:
    stream_sid: str
    call_sid: str
    custom_parameters: dict[str, Any]


@dataclass(frozen=True)
class CallStopped:
    stream_sid: str


Output = ToPhone | ToModel | Dtmf | CallStarted | CallStopped


@dataclass
class CallStats:
    """Per-call counters; `dropped` maps a reason to how many messages it dropped."""

    phone_messages: int = 0
    model_events: int = 0
    media_in: int = 0
    media_in_bytes: int = 0  # μ-law payload bytes accepted from the phone
    frames_out: int = 0
    gap_filled_ms: int = 0
    resyncs: int = 0  # timestamp jumps not filled (over MAX_GAP_FILL_MS or over the call's budget)
    barge_ins: int = 0
    dropped: Counter[str] = field(default_factory=Counter)  # keys: DROP_REASONS only


class _Drop(Exception):
    """Internal: this message is dropped for `reason`."""

    def __init__(self, reason: str) -> None:
        assert reason in DROP_REASONS, reason
        super().__init__(reason)
        self.reason = reason


def _int_field(container: dict[str, Any], name: str) -> int:
    value = container.get(name)
    try:  # Twilio sends decimal strings; ints are accepted too (huge ones cost nothing here)
        number = int(value) if type(value) is int or (type(value) is str and len(value) <= 20) else None
    except ValueError:
        number = None
    if number is None or not 0 <= number < 2**63:
        raise _Drop(f"bad media.{name}")
    return number


@dataclass
class _Playout:
    """What went to the phone for the response being played, in phone samples (8 per ms)."""

    item_id: str | None = None
    content_index: int = 0
    item_start: int = 0  # cumulative phone samples sent before this item's first frame
    received: int = 0  # samples of this item received from the model, in the output format
    cancelled: tuple[str, ...] = ()  # the last _MAX_REMEMBERED interrupted item ids


def _parse_phone(message: object) -> dict[str, Any]:
    """A phone message as a dict with an event name, or the _Drop that says why not."""
    if isinstance(message, (str, bytes, bytearray)):
        try:
            try:
                message = _first_loads(message)
            except ValueError:  # the stdlib decides what the accelerator refused
                message = _speedups.loads(cast("str | bytes | bytearray", message))
        except (ValueError, RecursionError):
            raise _Drop("not JSON") from None
    if not isinstance(message, dict):
        raise _Drop("not a JSON object")
    if not isinstance(message.get("event"), str):
        raise _Drop("no event name")
    return message
