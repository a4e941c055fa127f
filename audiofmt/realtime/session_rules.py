"""The rule table of the Realtime session object: one small checker per field, the defaults of
each shape, and how beta names map to GA paths. `session.py` parses and serializes with it.

A rule is `rule(value, path, problems) -> normalized value`; it appends (path, value, allowed) to
`problems` for every way the value breaks it, so a session's problems are all reported at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from ..formats import FORMATS, AudioFormat, _ga_format_problem

Problem = tuple[str, object, str]  # (field path, value, what was allowed)
Rule = Callable[[Any, str, list[Problem]], Any]  # checks a value, appends problems, returns it normalized

SHAPES = ("beta", "ga")
_EVENT_TYPES = ("session.created", "session.updated", "session.update")
_SERVER_EVENT_TYPES = ("session.created", "session.updated")  # what the server says: see Session.from_server


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()
# ---- rules: small checkers combined into the field table ---------------------------------------

def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check(test: Callable[[Any], bool], allowed: str) -> Rule:
    def rule(value: Any, path: str, problems: list[Problem]) -> Any:
        if not test(value):
            problems.append((path, value, allowed))
        return value
    return rule


def _enum(*choices: str) -> Rule:
    return _check(lambda v: isinstance(v, str) and v in choices, "one of " + ", ".join(map(repr, choices)))


def _number(lo: float, hi: float) -> Rule:
    return _check(lambda v: _is_number(v) and lo <= v <= hi, f"a number in [{lo}, {hi}]")


def _json(value: Any, path: str, problems: list[Problem]) -> Any:
    """A fresh copy of a JSON-like pass-through value (lists for tuples); problems for the rest."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int) and value.bit_length() <= 13000:  # json.dumps stops at 4300 digits
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, (list, tuple)):
        return [_json(v, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        return _ANY_OBJECT(value, path, problems)
    problems.append((path, value, "a JSON value (object, array, string, finite number, boolean, null)"))
    return value


def _copy(value: Any) -> Any:
    """A copy of a validated JSON-like tree (formats and scalars are immutable and shared)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return [_copy(v) for v in value] if isinstance(value, list) else value


def _object(fields: Mapping[str, Rule], required: tuple[str, ...] = (),
            defaults: Mapping[str, Any] | None = None, nullable: bool = False) -> Rule:
    """An object whose known keys follow `fields`; unknown keys pass through as JSON."""
    def rule(value: Any, path: str, problems: list[Problem]) -> Any:
        if value is None and nullable:
            return None
        if not isinstance(value, Mapping):
            problems.append((path, value, "an object" + (" or null" if nullable else "")))
            return value
        out = dict(defaults or {})
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append((path, key, "string keys only"))
            elif item is not None or key not in fields:  # null for a known key means "not set"
                out[key] = fields.get(key, _json)(item, f"{path}.{key}" if path else key, problems)
        problems.extend((f"{path}.{k}", MISSING, "a value (required)") for k in required if k not in out)
        return out
    return rule


def _list_of(item: Rule) -> Rule:
    def rule(value: Any, path: str, problems: list[Problem]) -> Any:
        if not isinstance(value, (list, tuple)):
            problems.append((path, value, "a list"))
            return value
        return [item(v, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    return rule


def _tagged(variants: Mapping[str, Rule], default: str | None = None, strings: tuple[str, ...] = ()) -> Rule:
    """One of `strings`, or an object whose "type" picks its rule from `variants`."""
    allowed = " or ".join(filter(None, [", ".join(map(repr, strings)),
                                        "an object with type " + ", ".join(map(repr, variants))]))

    def rule(value: Any, path: str, problems: list[Problem]) -> Any:
        if isinstance(value, str) and value in strings:
            return value
        if not isinstance(value, Mapping):
            problems.append((path, value, allowed))
            return value
        tag = default if value.get("type") is None else value["type"]
        if not (isinstance(tag, str) and tag in variants):
            problems.append((f"{path}.type", tag, "one of " + ", ".join(map(repr, variants))))
            return value
        out = variants[tag](value, path, problems)
        return {"type": tag, **{k: v for k, v in out.items() if k != "type"}} if isinstance(out, dict) else out
    return rule


def _beta_format(value: Any, path: str, problems: list[Problem]) -> Any:
    fmt = value if isinstance(value, AudioFormat) else FORMATS.get(value) if isinstance(value, str) else None
    if fmt is None:
        problems.append((path, value, "one of " + ", ".join(map(repr, FORMATS))))
    return fmt or value


def _ga_format(value: Any, path: str, problems: list[Problem]) -> Any:
    if isinstance(value, AudioFormat):
        return value
    fmt, problem = _ga_format_problem(value)
    if problem is not None:
        key, bad, allowed = problem
        problems.append((f"{path}.{key}" if key else path, bad, allowed))
    return fmt if fmt is not None else value


def _modalities(value: Any, path: str, problems: list[Problem]) -> Any:
    """Beta `modalities`, stored canonically: ["text"], or ["text", "audio"] for any set with audio
    (audio responses always carry their transcript; GA spells this ["audio"])."""
    ok = isinstance(value, (list, tuple)) and len(value) > 0 and all(isinstance(m, str) and m in ("text", "audio") for m in value)
    if not (ok and len(set(value)) == len(value)):
        problems.append((path, value, "a non-empty list of distinct 'text', 'audio'"))
        return value
    return ["text", "audio"] if "audio" in value else ["text"]


def _output_modalities(value: Any, path: str, problems: list[Problem]) -> Any:
    """GA `output_modalities`: ["audio"] (audio plus its transcript) or ["text"], never both (the
    SDK's RealtimeSessionCreateRequest: "It is not possible to request both text and audio")."""
    if not (isinstance(value, (list, tuple)) and len(value) == 1 and value[0] in ("audio", "text")
            and isinstance(value[0], str)):
        problems.append((path, value, "['audio'] or ['text'] (GA: not both)"))
        return value
    return ["text", "audio"] if value[0] == "audio" else ["text"]


def _ga_modalities(value: list[str]) -> list[str]:
    return ["audio"] if "audio" in value else ["text"]


def _voice(value: Any, path: str, problems: list[Problem]) -> Any:
    if isinstance(value, Mapping):  # a GA custom voice reference, {"id": "voice_1234"}
        return _CUSTOM_VOICE(value, path, problems)
    return _NAMED_VOICE(value, path, problems)


_ANY_OBJECT = _object({})
_STRING = _check(lambda v: isinstance(v, str), "a string")
_STRING1 = _check(lambda v: isinstance(v, str) and v != "", "a non-empty string")
_BOOL = _check(lambda v: isinstance(v, bool), "true or false")
_MS = _check(lambda v: _is_int(v) and 0 <= v < 2**63, "an integer >= 0 (milliseconds)")
_TOKENS = _check(lambda v: v == "inf" if isinstance(v, str) else _is_int(v) and 1 <= v <= 4096,
                 "an integer 1..4096 or 'inf'")

KNOWN_MODELS = ("gpt-4o-realtime-preview", "gpt-4o-realtime-preview-2024-10-01",
                "gpt-4o-realtime-preview-2024-12-17", "gpt-4o-mini-realtime-preview",
                "gpt-4o-mini-realtime-preview-2024-12-17")
# "marin" and "cedar" came with the GA API (gpt-realtime); accepted in both shapes.
VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
_NAMED_VOICE = _check(lambda v: isinstance(v, str) and v in VOICES,
                      "one of " + ", ".join(map(repr, VOICES)) + " or {'id': <custom voice id>}")
_CUSTOM_VOICE = _object({"id": _STRING1}, required=("id",))

_FUNCTION = _object({"name": _STRING1, "description": _STRING,
                     "parameters": _object({})}, required=("name",))
_MCP = _object({"server_label": _STRING1}, required=("server_label",))  # GA remote MCP tools

_TURN_FIELDS: dict[str, Rule] = {
    "type": _enum("server_vad", "semantic_vad"),
    "threshold": _number(0, 1),
    "prefix_padding_ms": _MS,
    "silence_duration_ms": _MS,
    "idle_timeout_ms": _MS,
    "create_response": _BOOL,
    "interrupt_response": _BOOL,
    "eagerness": _enum("low", "medium", "high", "auto"),
}
# Keys the API documents for one mode only ("Used only for server_vad mode", "Used only for
# semantic_vad mode", "Idle timeout is currently only supported for server_vad mode").
_TURN_ONLY = {"threshold": "server_vad", "prefix_padding_ms": "server_vad", "silence_duration_ms": "server_vad",
              "idle_timeout_ms": "server_vad", "eagerness": "semantic_vad"}
_TURN_OBJECT = _object(_TURN_FIELDS, defaults={"type": "server_vad"}, nullable=True)


def _turn_detection(value: Any, path: str, problems: list[Problem]) -> Any:
    before = len(problems)
    out = _TURN_OBJECT(value, path, problems)
    if isinstance(out, dict) and len(problems) == before:
        mode = out.get("type")
        problems.extend((f"{path}.{key}", out[key], f"no {key} with type {mode!r} (only with {only!r})")
                        for key, only in _TURN_ONLY.items() if key in out and only != mode)
    return out


# The field table, under beta names, in serialization order.
_RULES: dict[str, Rule] = {
    "id": _STRING,
    "model": _STRING,  # any model name (KNOWN_MODELS are the ones this was written against)
    "instructions": _STRING,
    "modalities": _modalities,
    "input_audio_format": _beta_format,
    "output_audio_format": _beta_format,
    "voice": _voice,
    "input_audio_transcription": _object({"model": _STRING, "language": _STRING, "prompt": _STRING},
                                         nullable=True),
    "input_audio_noise_reduction": _object({"type": _enum("near_field", "far_field")}, nullable=True),
    "turn_detection": _turn_detection,
    "tools": _list_of(_tagged({"function": _FUNCTION, "mcp": _MCP}, default="function")),
    "tool_choice": _tagged({"function": _FUNCTION, "mcp": _MCP}, strings=("auto", "none", "required")),
    "temperature": _number(0.6, 1.2),
    "max_response_output_tokens": _TOKENS,
    "speed": _number(0.25, 1.5),
}
_NULLABLE = ("input_audio_transcription", "input_audio_noise_reduction", "turn_detection")  # null turns off
_DEFAULTS: dict[str, dict[str, Any]] = {
    "beta": {"modalities": ["text", "audio"], "input_audio_format": "pcm16", "output_audio_format": "pcm16",
             "tools": [], "tool_choice": "auto", "temperature": 0.8, "max_response_output_tokens": "inf"},
}
_DEFAULTS["ga"] = dict(_DEFAULTS["beta"])  # GA's default output_modalities ["audio"] is beta's ["text", "audio"]

# Where the GA shape keeps each renamed field; the rest keep their beta name at the top level.
_GA_PATHS: dict[str, tuple[str, ...]] = {
    "modalities": ("output_modalities",),
    "max_response_output_tokens": ("max_output_tokens",),
    "input_audio_format": ("audio", "input", "format"),
    "input_audio_transcription": ("audio", "input", "transcription"),
    "input_audio_noise_reduction": ("audio", "input", "noise_reduction"),
    "turn_detection": ("audio", "input", "turn_detection"),
    "output_audio_format": ("audio", "output", "format"),
    "voice": ("audio", "output", "voice"),
    "speed": ("audio", "output", "speed"),
}
_GA_RULES: dict[str, Rule] = {"input_audio_format": _ga_format, "output_audio_format": _ga_format,
                              "modalities": _output_modalities}
_FROM_GA = {path: name for name, path in _GA_PATHS.items()}
_GA_OMIT_DEFAULT = ("temperature",)  # GA has no temperature: written only when not the default
_AUDIO_FORMATS = ("input_audio_format", "output_audio_format")
# Never in a session.update: fields only the server sets (id, object, expires_at), and the model,
# which the connection URL chooses ("The client may send this event at any time to update any
# field except for voice and model", the SDK's SessionUpdateEvent).
_NOT_UPDATABLE = ("id", "model", "object", "expires_at")
_GA_NOT_UPDATABLE = ("client_secret",)  # beta-only (not in RealtimeSessionCreateRequest)
_GA_MARKERS = ("audio", "output_modalities", "max_output_tokens")  # keys only the GA shape has
_REALTIME = _enum("realtime")  # the GA session "type" (transcription sessions are not Sessions)
