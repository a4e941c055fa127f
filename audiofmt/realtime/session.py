"""The Realtime API session object, in its beta and GA shapes.

`Session.parse` takes either shape (a dict, JSON text, an openai SDK model, a Session, or a
session.created / session.updated / session.update event), checks every known field against the
rule table (`session_rules.py`) and reports every problem at once in a SessionError. Audio formats resolve
through the codec registry (`audiofmt.formats`). Unknown fields pass through untouched, so newer
API fields never break parsing. A null known field means "not set" (as in the SDK's Optional
fields), except where null is a setting: turn_detection, transcription and noise reduction off.
The beta shape is the source of truth: fields are stored under their beta names and the GA shape
is a renaming of them (`_GA_PATHS`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..errors import SessionError, _show
from ..formats import AudioFormat, format_to_ga
from .events import plain_object
from .session_rules import (
    _AUDIO_FORMATS,
    _DEFAULTS,
    _EVENT_TYPES,
    _FROM_GA,
    _GA_MARKERS,
    _GA_NOT_UPDATABLE,
    _GA_OMIT_DEFAULT,
    _GA_PATHS,
    _GA_RULES,
    _NOT_UPDATABLE,
    _NULLABLE,
    _REALTIME,
    _RULES,
    _SERVER_EVENT_TYPES,
    KNOWN_MODELS,
    MISSING,
    SHAPES,
    VOICES,
    Problem,
    Rule,
    _copy,
    _ga_modalities,
    _json,
)

__all__ = ["Session", "SessionError", "VOICES", "KNOWN_MODELS"]

Found = dict[str, list[tuple[str, Any, Rule]]]  # beta name -> [(path, raw value, rule)]


def _coerce(obj: Any) -> tuple[Mapping[str, Any], bool]:
    """Any accepted input as a mapping (a session, or an event's "session"), and whether it is
    what the server said (a session.created / session.updated event)."""
    if isinstance(obj, Session):  # GA when it holds GA-only audio keys, which beta cannot carry
        return obj._dump("ga" if obj._audio_extra else obj.shape, only=obj._given), False
    obj = plain_object(obj, lambda reason: SessionError([("", obj, f"a session object, as JSON text or an SDK model; {reason}")]))
    from_server = False
    if isinstance(obj, Mapping) and obj.get("type") in _EVENT_TYPES:
        from_server = obj.get("type") in _SERVER_EVENT_TYPES
        obj = obj.get("session", MISSING)
        if not isinstance(obj, Mapping):
            raise SessionError([("session", obj, "an object in the event's 'session'")])
    if not isinstance(obj, Mapping):
        raise SessionError([("", obj, "a session object (dict, JSON, openai SDK model, Session or event)")])
    return obj, from_server


def _items(obj: Any, path: str, problems: list[Problem]) -> list[tuple[str, Any]]:
    """The (str key, value) pairs of an object; problems for a non-object or non-str keys."""
    if not isinstance(obj, Mapping):
        problems.append((path, obj, "an object"))
        return []
    problems.extend((path, k, "string keys only") for k in obj if not isinstance(k, str))
    return [(k, v) for k, v in obj.items() if isinstance(k, str)]


def _split(raw: Mapping[Any, Any], problems: list[Problem]) -> tuple[str, Found, dict[str, Any], dict[str, Any]]:
    """Sort raw keys into known fields (either shape), unknown top-level fields and unknown audio keys.

    The shape is GA when any GA-only key is present (or "type": "realtime"), else beta.
    """
    ga = raw.get("type") == "realtime" or any(k in raw for k in _GA_MARKERS)
    found: Found = {}
    extra: dict[str, Any] = {}
    audio_extra: dict[str, Any] = {}

    def add(name: str, path: str, value: Any, ga_path: bool) -> None:
        if value is None and name not in _NULLABLE:
            return  # null for a field that cannot be null means "not set"
        rule = _GA_RULES.get(name, _RULES[name]) if ga_path else _RULES[name]
        found.setdefault(name, []).append((path, value, rule))

    for key, value in _items(raw, "", problems):
        if key in _RULES:
            add(key, key, value, False)
        elif (key,) in _FROM_GA:
            add(_FROM_GA[(key,)], key, value, True)
        elif key == "type":
            _REALTIME(value, key, problems)
        elif key != "audio":
            extra[key] = _json(value, key, problems)
            continue
        for side, sub in _items(value, "audio", problems) if key == "audio" else ():
            if side not in ("input", "output"):
                audio_extra[side] = _json(sub, f"audio.{side}", problems)
                continue
            for leaf, item in _items(sub, f"audio.{side}", problems):
                path = f"audio.{side}.{leaf}"
                if ("audio", side, leaf) in _FROM_GA:
                    add(_FROM_GA[("audio", side, leaf)], path, item, True)
                else:
                    audio_extra.setdefault(side, {})[leaf] = _json(item, path, problems)
    return ("ga" if ga else "beta"), found, extra, audio_extra


def _validate(found: Found, defaults: Mapping[str, Any], problems: list[Problem]) -> dict[str, Any]:
    """Apply the rules (and defaults for absent fields); both shapes' values for one field must agree."""
    fields: dict[str, Any] = {}
    for name, rule in _RULES.items():
        entries = found.get(name) or ([(name, defaults[name], rule)] if name in defaults else [])
        before = len(problems)
        checked = [(path, raw, r(raw, path, problems)) for path, raw, r in entries]
        if checked:
            fields[name] = checked[0][2]
        if len(problems) == before:
            problems.extend((path, raw, f"the same value as {checked[0][0]} ({_show(checked[0][1])})")
                            for path, raw, value in checked[1:] if value != checked[0][2])
    return fields


_ALWAYS_CHECKED = frozenset({"input_audio_format", "output_audio_format"})  # from_server never leaves these out


def _field(name: str) -> Any:
    return property(lambda self: _copy(self._fields.get(name)), doc=f"The session's {name}.")


class Session:
    """A validated Realtime session configuration (immutable apart from `mark_audio_output`)."""

    shape: str
    audio_output_started: bool

    def __init__(self, obj: Any = MISSING) -> None:
        """Same as `Session.parse(obj)`; `Session()` is the default session."""
        self._load(obj._state() if isinstance(obj, Session) else self._build({} if obj is MISSING else obj))

    @classmethod
    def parse(cls, obj: Any) -> Session:
        """A Session from a dict, JSON text/bytes, an SDK model, a Session (copied) or a session
        event. A server event (`session.created` / `session.updated`) is read as by from_server."""
        return cls(obj)

    @classmethod
    def from_server(cls, obj: Any) -> Session:
        """parse() for what the server says its session is (its `session.created` / `session.updated`
        events are read this way by parse too, the session object alone only by this): the audio
        formats are checked as by parse, but a field this version cannot check (a voice
        or tool type newer than it, a value outside today's documented range) is left out (its
        default applies) instead of refused. The server is the authority on its own session, and
        reading its audio must not fail on a field that does not touch the audio."""
        session = cls.__new__(cls)
        session._load(cls._build(obj, lenient=True))
        return session

    @staticmethod
    def _build(obj: Any, base: Session | None = None, lenient: bool = False) -> tuple[Any, ...]:
        problems: list[Problem] = []
        try:
            raw, from_server = _coerce(obj)
            lenient = lenient or from_server
            shape, found, extra, audio_extra = _split(raw, problems)
            n_split = len(problems)
            if base is not None:  # update: the partial's fields over the current ones
                current = {n: [(n, v, _RULES[n])] for n, v in base._fields.items() if n not in found}
                old_voice = base._fields.get("voice", MISSING)
                fields = _validate({**current, **found}, {}, problems)
                if base.audio_output_started and "voice" in found and fields.get("voice") != old_voice:
                    problems.append((found["voice"][0][0], found["voice"][0][1],
                                     f"the current voice {_show(old_voice)}: the voice cannot change once the "
                                     "model has responded with audio"))
                extra = {**base._extra, **extra}
                audio_extra = {k: ({**base._audio_extra.get(k, {}), **v} if k in ("input", "output") else v)
                               for k, v in {**base._audio_extra, **audio_extra}.items()}
                shape = base.shape
            else:
                fields = _validate(found, _DEFAULTS[shape], problems)
                if lenient and len(problems) > n_split:  # leave out each field that fails on its own
                    del problems[n_split:]
                    for name in [n for n in found if n not in _ALWAYS_CHECKED]:
                        alone: list[Problem] = []
                        _validate({name: found[name]}, {}, alone)
                        if alone:
                            del found[name]
                    fields = _validate(found, _DEFAULTS[shape], problems)
            given = frozenset(found) | (base._given if base is not None else frozenset())
        except RecursionError:
            problems.append(("", "<deeply nested value>", "nesting within Python's recursion limit"))
        if problems:
            raise SessionError(problems)
        return shape, fields, extra, audio_extra, base is not None and base.audio_output_started, given

    def _state(self) -> tuple[Any, ...]:
        return (self.shape, _copy(self._fields), _copy(self._extra),
                _copy(self._audio_extra), self.audio_output_started, self._given)

    def _load(self, state: tuple[Any, ...]) -> None:
        (self.shape, self._fields, self._extra, self._audio_extra, self.audio_output_started,
         self._given) = state

    @property
    def set_fields(self) -> frozenset[str]:
        """Beta names of the known fields the caller set (parse and every update), defaults excluded.

        An explicit null that turns something off (turn_detection, transcription, noise
        reduction) counts as set; a null elsewhere means "not set"."""
        return self._given

    def update(self, partial: Any) -> Session:
        """A new Session: `partial` (either shape, or a session.update event) merged over this one.

        Top-level fields in `partial` replace the current ones (nested objects such as
        turn_detection are replaced whole; GA `audio.input` / `audio.output` merge key by key).
        The result is validated like `parse`; a voice change after audio output is a problem.
        """
        session = Session.__new__(type(self))
        session._load(self._build(partial, base=self))
        return session

    def mark_audio_output(self) -> None:
        """Record that the model has produced audio: from now on the voice cannot change."""
        self.audio_output_started = True

    # ---- serialization -------------------------------------------------------------------------

    def _dump(self, shape: str, only: frozenset[str] | None = None, update: bool = False) -> dict[str, Any]:
        """The session in `shape`; `only`: just these known fields (and every unknown one);
        `update`: as a session.update carries it (no server-only fields, GA constraints enforced)."""
        ga = shape == "ga"
        out: dict[str, Any] = {"type": "realtime", "audio": {"input": {}, "output": {}}} if ga else {}
        for name, value in self._fields.items():
            if only is not None and name not in only:
                continue
            if update and (name in _NOT_UPDATABLE or (name == "voice" and self.audio_output_started)):
                continue  # the voice is locked once the model has spoken (update() refuses changes)
            if ga and name in _GA_OMIT_DEFAULT and value == _DEFAULTS["ga"][name]:
                continue
            if ga and update and name == "temperature":  # not a GA field: never dropped silently
                allowed = ("no temperature in a GA session.update (the GA API has none); "
                           "leave it unset, or at 0.8, or use the beta shape")
                raise SessionError([("temperature", value, allowed)])
            if isinstance(value, AudioFormat):
                value = format_to_ga(value) if ga else value.name
            elif ga and name == "modalities":
                value = _ga_modalities(value)
            *parents, leaf = _GA_PATHS.get(name, (name,)) if ga else (name,)
            target = out
            for key in parents:
                target = target[key]
            target[leaf] = _copy(value)
        for key, value in _copy(self._audio_extra).items() if ga else ():
            out["audio"][key] = {**out["audio"][key], **value} if key in ("input", "output") else value
        drop = (*_NOT_UPDATABLE, *(_GA_NOT_UPDATABLE if ga else ())) if update else ()
        out.update((k, v) for k, v in _copy(self._extra).items() if k not in drop)
        return out

    def to_dict(self, shape: str | None = None) -> dict[str, Any]:
        """The session as a plain dict in `shape` ("beta" or "ga"; default: the parsed shape).

        Unknown fields come back as they came in; unknown keys inside GA `audio` have no beta
        place and appear in the GA shape only.
        """
        shape = self.shape if shape is None else shape
        if shape not in SHAPES:
            raise SessionError([("shape", shape, "'beta' or 'ga'")])
        return self._dump(shape)

    def to_json(self, shape: str | None = None) -> str:
        """`to_dict(shape)` as JSON text."""
        return json.dumps(self.to_dict(shape), allow_nan=False)

    def update_event(self, shape: str | None = None, event_id: str | None = None) -> dict[str, Any]:
        """A `session.update` client event in `shape` carrying only what the caller set.

        A session.update overwrites those fields on the server, so it carries the fields in
        `set_fields`, every unknown field given, and always the two audio formats; never a
        default (no `tools: []` wiping tools configured elsewhere), never the server-only `id`,
        `object`, `expires_at` or the `model` (the URL picks it), and no voice once audio output
        started. GA: output_modalities is ["audio"] or ["text"]; a temperature other than the
        default 0.8 raises SessionError (GA has no temperature). `to_dict()` is the full session.
        """
        if event_id is not None and not isinstance(event_id, str):
            raise SessionError([("event_id", event_id, "a string or None")])
        shape = self.shape if shape is None else shape
        if shape not in SHAPES:
            raise SessionError([("shape", shape, "'beta' or 'ga'")])
        session = self._dump(shape, only=self._given | frozenset(_AUDIO_FORMATS), update=True)
        event: dict[str, Any] = {"type": "session.update", "session": session}
        if event_id is not None:
            event["event_id"] = event_id
        return event

    # ---- read-only attributes ------------------------------------------------------------------

    # (copies: mutating what they return never changes the session; None for an absent field)
    input_format = property(lambda self: self._fields["input_audio_format"], doc="Input AudioFormat.")
    output_format = property(lambda self: self._fields["output_audio_format"], doc="Output AudioFormat.")
    id = _field("id")
    model = _field("model")
    instructions = _field("instructions")
    modalities = _field("modalities")
    voice = _field("voice")  # a name from VOICES, or a GA custom voice {"id": ...}
    temperature = _field("temperature")
    max_response_output_tokens = _field("max_response_output_tokens")  # 1..4096 or "inf"
    speed = _field("speed")
    tool_choice = _field("tool_choice")
    tools = _field("tools")
    turn_detection = _field("turn_detection")
    input_audio_transcription = _field("input_audio_transcription")
    input_audio_noise_reduction = _field("input_audio_noise_reduction")
    extra = property(lambda self: _copy(self._extra), doc="Unknown top-level fields.")

    def __eq__(self, other: object) -> bool:
        """Same configuration (the shape it was parsed from and the audio flag are not compared)."""
        if not isinstance(other, Session):
            return NotImplemented
        return self._config() == other._config()

    def _config(self) -> tuple[Any, ...]:
        return self._fields, self._extra, self._audio_extra

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"Session(shape={self.shape!r}, input_format={self.input_format.name!r}, "
                f"output_format={self.output_format.name!r}, voice={self.voice!r}, "
                f"audio_output_started={self.audio_output_started})")
