"""session.update carries only what the caller set (issue 13 item 8), and every GA field audiofmt
emits obeys the openai SDK's GA request types and their documented constraints (item 9)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from audiofmt.session import Session, SessionError
from hypothesis import given, settings

from audiofmt import FORMATS
from tests.test_session import (
    BATCH,
    BETA_SEED,
    FUZZ,
    GA_DICTS,
    GA_SEED,
    MIXED_DICTS,
    TOOLS,
    TRANSCRIPTION,
    TURN_DETECTION,
    batches,
)

PCM = {"type": "audio/pcm", "rate": 24000}


# ---- item 8: only what the caller set ----------------------------------------------------------

def test_beta_update_carries_only_what_was_set_plus_formats():
    s = Session.parse({"instructions": "Be brief."})
    assert s.update_event() == {"type": "session.update", "session": {
        "instructions": "Be brief.", "input_audio_format": "pcm16", "output_audio_format": "pcm16"}}
    # the defaults are still there to read
    assert (s.tools, s.temperature, s.modalities, s.max_response_output_tokens, s.tool_choice) == (
        [], 0.8, ["text", "audio"], "inf", "auto")
    assert s.set_fields == {"instructions"}
    assert "tools" in s.to_dict() and "temperature" in s.to_dict()  # to_dict is the full session


def test_ga_update_carries_only_what_was_set_plus_formats():
    s = Session.parse({"type": "realtime", "audio": {"output": {"voice": "marin", "format": {"type": "audio/pcmu"}}}})
    assert s.update_event() == {"type": "session.update", "session": {
        "type": "realtime", "audio": {"input": {"format": PCM},
                                      "output": {"format": {"type": "audio/pcmu"}, "voice": "marin"}}}}
    assert s.set_fields == {"voice", "output_audio_format"}


def test_updates_accumulate_what_was_set():
    s = Session.parse({"input_audio_format": "g711_ulaw", "output_audio_format": "g711_ulaw"})
    assert s.update_event()["session"] == {"input_audio_format": "g711_ulaw", "output_audio_format": "g711_ulaw"}
    u = s.update({"tools": [], "turn_detection": None}).update({"audio": {"output": {"speed": 1.2}}})
    assert u.update_event()["session"] == {"input_audio_format": "g711_ulaw", "output_audio_format": "g711_ulaw",
                                           "turn_detection": None, "tools": [], "speed": 1.2}
    assert u.update_event("ga")["session"] == {"type": "realtime", "tools": [], "audio": {
        "input": {"format": {"type": "audio/pcmu"}, "turn_detection": None},
        "output": {"format": {"type": "audio/pcmu"}, "speed": 1.2}}}
    # a Session given as the partial brings only what it had set, not its defaults
    v = Session.parse({"instructions": "A", "tools": TOOLS}).update(Session.parse({"voice": "ash"}))
    assert v.tools == TOOLS and v.update_event()["session"]["tools"] == TOOLS
    assert v.set_fields == {"instructions", "tools", "voice"}


def test_nulls_that_mean_not_set_are_not_sent():
    s = Session.parse({"temperature": None, "voice": None, "instructions": "x"})
    assert s.update_event()["session"] == {"instructions": "x", "input_audio_format": "pcm16",
                                           "output_audio_format": "pcm16"}


def test_server_only_fields_model_and_locked_voice_are_never_sent():
    s = Session.parse(BETA_SEED)
    sent = s.update_event()["session"]
    assert not sent.keys() & {"id", "object", "expires_at", "model"}
    assert sent["voice"] == "coral" and sent["tools"] == TOOLS
    s.mark_audio_output()
    assert "voice" not in s.update_event()["session"]
    assert "voice" not in s.update_event("ga")["session"]["audio"]["output"]
    assert s.voice == "coral" and s.to_dict()["voice"] == "coral"


def test_ga_temperature_is_refused_not_dropped():
    assert "temperature" not in Session.parse({"temperature": 0.8}).update_event("ga")["session"]
    with pytest.raises(SessionError, match="temperature"):
        Session.parse({"temperature": 1.0}).update_event("ga")
    assert Session.parse({"temperature": 1.0}).update_event("beta")["session"]["temperature"] == 1.0


def test_modalities_in_each_shape():
    for beta, ga in ((["text", "audio"], ["audio"]), (["audio", "text"], ["audio"]), (["audio"], ["audio"]),
                     (["text"], ["text"])):
        s = Session.parse({"modalities": beta})
        assert s.update_event("ga")["session"]["output_modalities"] == ga
        assert Session.parse({"output_modalities": ga}) == s
    with pytest.raises(SessionError, match="not both"):
        Session.parse({"output_modalities": ["text", "audio"]})


# ---- item 9: GA fields against the SDK and its documented constraints ---------------------------

def _ga_constraints(session: dict[str, Any], unknown: set[tuple[str, ...]]) -> list[str]:
    """The documented constraints of openai.types.realtime.RealtimeSessionCreateRequest (docstrings
    of the installed SDK) for the fields audiofmt emits; keys outside the SDK's models must be
    ones the caller gave (`unknown` paths)."""
    rt = pytest.importorskip("openai.types.realtime")
    from openai.types.realtime import realtime_audio_config_input as inp
    from openai.types.realtime import realtime_audio_config_output as outp

    bad: list[str] = []

    def extra(obj: dict[str, Any], model: Any, prefix: tuple[str, ...]) -> None:
        bad.extend(f"{'.'.join((*prefix, k))}: not a field of {model.__name__}"
                   for k in obj if k not in model.model_fields and (*prefix, k) not in unknown)

    extra(session, rt.RealtimeSessionCreateRequest, ())
    if session.get("type") != "realtime":
        bad.append("type must be 'realtime'")
    if "output_modalities" in session and session["output_modalities"] not in (["audio"], ["text"]):
        bad.append(f"output_modalities {session['output_modalities']}: ['audio'] or ['text'], not both")
    tokens = session.get("max_output_tokens", "inf")
    if not (tokens == "inf" or (type(tokens) is int and 1 <= tokens <= 4096)):
        bad.append(f"max_output_tokens {tokens!r}: 1..4096 or 'inf'")
    if "temperature" in session:
        bad.append("temperature: no such GA field")
    audio = session.get("audio", {})
    extra(audio, rt.RealtimeAudioConfig, ("audio",))
    for side, model in (("input", inp.RealtimeAudioConfigInput), ("output", outp.RealtimeAudioConfigOutput)):
        part = audio.get(side, {})
        extra(part, model, ("audio", side))
        fmt = part.get("format")
        if fmt is not None and fmt not in (PCM, {"type": "audio/pcm"}, {"type": "audio/pcmu"}, {"type": "audio/pcma"}):
            bad.append(f"audio.{side}.format {fmt}: pcm only at 24000 Hz; pcmu/pcma carry no rate")
    output = audio.get("output", {})
    if "speed" in output and not 0.25 <= output["speed"] <= 1.5:
        bad.append(f"speed {output['speed']}: 0.25..1.5")
    turn = audio.get("input", {}).get("turn_detection")
    if isinstance(turn, dict):
        mode = turn.get("type")
        if mode not in ("server_vad", "semantic_vad"):
            bad.append(f"turn_detection.type {mode!r} is required: server_vad or semantic_vad")
        for key in ("threshold", "prefix_padding_ms", "silence_duration_ms", "idle_timeout_ms"):
            if key in turn and mode != "server_vad":
                bad.append(f"turn_detection.{key}: server_vad only")
        if "eagerness" in turn and mode != "semantic_vad":
            bad.append("turn_detection.eagerness: semantic_vad only")
        if "threshold" in turn and not 0 <= turn["threshold"] <= 1:
            bad.append("turn_detection.threshold: 0..1")
    noise = audio.get("input", {}).get("noise_reduction")
    if isinstance(noise, dict) and noise.get("type", "near_field") not in ("near_field", "far_field"):
        bad.append("noise_reduction.type: near_field or far_field")
    for i, tool in enumerate(session.get("tools", [])):
        if tool.get("type") not in ("function", "mcp"):
            bad.append(f"tools[{i}].type: function or mcp")
    for value in _leaves(session):
        if isinstance(value, float) and not math.isfinite(value):
            bad.append("a non-finite number")
    return bad


def _leaves(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [leaf for v in node.values() for leaf in _leaves(v)]
    if isinstance(node, list):
        return [leaf for v in node for leaf in _leaves(v)]
    return [node]


def _unknown_paths(s: Session) -> set[tuple[str, ...]]:
    ga = s.to_dict("ga")
    known_top = {"type", "audio", "instructions", "output_modalities", "max_output_tokens", "tools", "tool_choice",
                 "temperature", "id", "model", "voice"}
    paths = {(k,) for k in s.extra}
    paths |= {("audio", k) for k in ga["audio"] if k not in ("input", "output")}
    known = {"input": {"format", "transcription", "noise_reduction", "turn_detection"},
             "output": {"format", "voice", "speed"}}
    paths |= {("audio", side, k) for side in known for k in ga["audio"][side] if k not in known[side]}
    return {p for p in paths if p[0] not in known_top or p[0] == "audio"}


def _without(session: dict[str, Any], paths: set[tuple[str, ...]]) -> dict[str, Any]:
    out = {k: v for k, v in session.items() if (k,) not in paths}
    if "audio" in out:
        out["audio"] = {k: ({kk: vv for kk, vv in v.items() if ("audio", k, kk) not in paths} if k in ("input", "output") else v)
                        for k, v in out["audio"].items() if ("audio", k) not in paths}
    return out


def _check_ga_event(s: Session) -> None:
    rt = pytest.importorskip("openai.types.realtime")
    try:
        event = s.update_event("ga", event_id="e1")
    except SessionError as error:  # only a temperature GA cannot carry
        assert [p for p, _, _ in error.problems] == ["temperature"] and s.temperature != 0.8
        return
    unknown = _unknown_paths(s)  # the caller's own fields pass through: theirs, not checked here
    validated = rt.SessionUpdateEvent.model_validate({**event, "session": _without(event["session"], unknown)})
    assert isinstance(validated.session, rt.RealtimeSessionCreateRequest)
    assert _ga_constraints(event["session"], unknown) == []
    full = s.to_dict("ga")  # the full GA description validates too (its temperature aside)
    rt.RealtimeSessionCreateRequest.model_validate(_without(full, unknown))
    assert [b for b in _ga_constraints(full, _unknown_paths(s) | {("id",), ("model",)})
            if not b.startswith(("temperature", "id:", "object:", "expires_at:", "client_secret:"))] == []


def test_constraints_checker_catches_the_old_shape():
    old = {"type": "realtime", "output_modalities": ["text", "audio"], "temperature": 0.9,
           "audio": {"input": {"format": {"type": "audio/pcmu", "rate": 8000},
                               "turn_detection": {"type": "semantic_vad", "threshold": 0.5}}}}
    assert len(_ga_constraints(old, set())) == 5


@pytest.mark.parametrize("seed", [BETA_SEED, GA_SEED, {}, {"type": "realtime"},
                                  {"turn_detection": {"type": "semantic_vad", "eagerness": "low"}},
                                  {"turn_detection": dict(TURN_DETECTION, idle_timeout_ms=6000)},
                                  {"input_audio_transcription": TRANSCRIPTION, "modalities": ["text"]},
                                  {"tool_choice": {"type": "function", "name": "f"}, "tools": TOOLS},
                                  {"tools": [{"type": "mcp", "server_label": "crm"}], "max_response_output_tokens": 1}])
def test_emitted_ga_events_obey_the_sdk(seed):
    s = Session.parse(seed)
    _check_ga_event(s)
    for fmt in FORMATS:
        _check_ga_event(s.update({"input_audio_format": fmt, "output_audio_format": fmt}))


def test_emitted_beta_events_validate_against_the_beta_sdk():
    beta = pytest.importorskip("openai.types.beta.realtime")
    for seed in (BETA_SEED, GA_SEED, {}):
        event = Session.parse(seed).update_event("beta")
        beta.SessionUpdateEvent.model_validate(event)
        assert not event["session"].keys() & {"id", "object", "expires_at", "model"}


@settings(FUZZ, max_examples=600 // BATCH)
@given(batches(GA_DICTS | MIXED_DICTS))
def test_fuzzed_sessions_emit_valid_ga_events(objs):
    for obj in objs:
        _emit_and_check(obj)


def _emit_and_check(obj: Any) -> None:
    try:
        s = Session.parse(obj)
    except SessionError:
        return
    _check_ga_event(s)
    sent = s.update_event("beta")["session"]
    assert set(sent) - set(s.extra) <= s.set_fields | {"input_audio_format", "output_audio_format"}
