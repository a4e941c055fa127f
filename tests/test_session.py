"""Tests for audiofmt.session: the Realtime session object in its beta and GA shapes."""

from __future__ import annotations

import copy
import json
import pickle
import subprocess
import sys
from typing import Any

import pytest
from audiofmt.session import VOICES, Session, SessionError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import audiofmt
from audiofmt import FORMATS, AudioFormatError, InvalidRateError, UnknownFormatError
from audiofmt.formats import format_from_ga, format_to_ga

TURN_DETECTION = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                  "silence_duration_ms": 500, "create_response": True, "interrupt_response": True}
TRANSCRIPTION = {"model": "whisper-1", "language": "en", "prompt": "account numbers, street names"}
TOOLS = [{
    "type": "function",
    "name": "lookup_account",
    "description": "Find a customer's account by its number.",
    "parameters": {"type": "object", "properties": {"account_id": {"type": "string"}},
                   "required": ["account_id"]},
}]

# A full beta session as the server sends it in session.created (plus the fields it echoes back).
BETA_SEED: dict[str, Any] = {
    "id": "sess_AbC123",
    "object": "realtime.session",
    "model": "gpt-4o-realtime-preview-2024-12-17",
    "expires_at": 1734626400,
    "instructions": "You are a phone agent for Example Bank. Be brief and polite.",
    "modalities": ["text", "audio"],
    "input_audio_format": "g711_ulaw",
    "output_audio_format": "g711_alaw",
    "voice": "coral",
    "input_audio_transcription": TRANSCRIPTION,
    "input_audio_noise_reduction": {"type": "near_field"},
    "turn_detection": TURN_DETECTION,
    "tools": TOOLS,
    "tool_choice": "auto",
    "temperature": 0.8,
    "max_response_output_tokens": 1024,
    "speed": 1.1,
    "tracing": "auto",
    "client_secret": None,
}
# The same session in the GA shape (GA has no temperature; 0.8 is the default, so it is left out).
GA_SEED: dict[str, Any] = {
    "type": "realtime",
    "id": "sess_AbC123",
    "object": "realtime.session",
    "model": "gpt-4o-realtime-preview-2024-12-17",
    "expires_at": 1734626400,
    "instructions": "You are a phone agent for Example Bank. Be brief and polite.",
    "output_modalities": ["audio"],  # GA: audio plus its transcript; beta says ["text", "audio"]
    "audio": {
        "input": {"format": {"type": "audio/pcmu"}, "transcription": TRANSCRIPTION,
                  "noise_reduction": {"type": "near_field"}, "turn_detection": TURN_DETECTION},
        "output": {"format": {"type": "audio/pcma"}, "voice": "coral", "speed": 1.1},
    },
    "tools": TOOLS,
    "tool_choice": "auto",
    "max_output_tokens": 1024,
    "tracing": "auto",
    "client_secret": None,
}


def problem_paths(exc: SessionError) -> list[str]:
    return [path for path, _, _ in exc.problems]


def parse_error(obj: Any) -> SessionError:
    with pytest.raises(SessionError) as info:
        Session.parse(obj)
    return info.value


# ---- valid sessions, both shapes -----------------------------------------------------------------

def test_seed_validates_in_both_shapes():
    beta, ga = Session.parse(BETA_SEED), Session.parse(GA_SEED)
    assert (beta.shape, ga.shape) == ("beta", "ga")
    assert beta == ga
    assert beta.to_dict() == BETA_SEED and ga.to_dict() == GA_SEED
    assert beta.to_dict("ga") == GA_SEED and ga.to_dict("beta") == BETA_SEED
    assert beta.input_format is FORMATS["g711_ulaw"] and beta.output_format is FORMATS["g711_alaw"]
    assert ga.input_format is FORMATS["g711_ulaw"] and ga.output_format is FORMATS["g711_alaw"]
    assert (ga.voice, ga.speed, ga.max_response_output_tokens, ga.modalities) == ("coral", 1.1, 1024, ["text", "audio"])
    assert ga.turn_detection == TURN_DETECTION and ga.tools == TOOLS
    assert ga.input_audio_transcription == TRANSCRIPTION
    assert not beta.audio_output_started


def test_defaults_are_applied():
    s = Session.parse({})
    assert s.shape == "beta" and s == Session()
    assert s.input_format is FORMATS["pcm16"] and s.output_format is FORMATS["pcm16"]
    assert (s.modalities, s.temperature, s.max_response_output_tokens) == (["text", "audio"], 0.8, "inf")
    assert (s.tool_choice, s.tools, s.voice, s.turn_detection) == ("auto", [], None, None)
    assert "turn_detection" not in s.to_dict() and "voice" not in s.to_dict()  # absent stays absent
    assert Session.parse({"turn_detection": {}}).turn_detection == {"type": "server_vad"}
    for tool in ({"name": "f", "description": None}, {"type": None, "name": "f", "parameters": None}):
        assert Session.parse({"tools": [tool]}).tools == [{"type": "function", "name": "f"}]
    nulls = Session.parse({"temperature": None, "voice": None, "audio": {"input": {"format": None}},
                           "turn_detection": None, "input_audio_transcription": None})
    assert nulls.temperature == 0.8 and nulls.voice is None and nulls.input_format is FORMATS["pcm16"]
    assert nulls.to_dict("beta")["turn_detection"] is None  # null turns turn detection off: kept
    ga = Session.parse({"type": "realtime"})
    assert ga.shape == "ga" and ga.modalities == ["text", "audio"]  # GA's default output_modalities ["audio"]
    assert ga.to_dict() == {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}},
                                                          "output": {"format": {"type": "audio/pcm", "rate": 24000}}},
                            "output_modalities": ["audio"], "tools": [], "tool_choice": "auto",
                            "max_output_tokens": "inf"}


def test_known_models_and_any_model_string():
    for model in ("gpt-4o-realtime-preview", "gpt-4o-mini-realtime-preview", "gpt-realtime", "some-future-model"):
        assert Session.parse({"model": model}).model == model


def test_voices_including_ga_ones_and_custom():
    # the voices of the Realtime API reference, written out here rather than read from VOICES
    for voice in ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"):
        assert Session.parse({"voice": voice}).voice == voice
    with pytest.raises(SessionError, match="voice"):
        Session.parse({"voice": "nobody"})
    custom = Session.parse({"audio": {"output": {"voice": {"id": "voice_1234"}}}})
    assert custom.voice == {"id": "voice_1234"} and custom.to_dict("beta")["voice"] == {"id": "voice_1234"}


def test_unknown_fields_pass_through():
    beta = dict(BETA_SEED, new_field={"nested": [1, 2.5, None, True, "x"]}, include=["item.logprobs"],
                turn_detection=dict(TURN_DETECTION, idle_timeout_ms=6000),
                tools=[dict(TOOLS[0], strict=True)])
    s = Session.parse(beta)
    assert s.to_dict() == beta
    assert s.extra["new_field"] == {"nested": [1, 2.5, None, True, "x"]}
    assert s.to_dict("ga")["new_field"] == beta["new_field"] and s.to_dict("ga")["include"] == ["item.logprobs"]
    assert s.to_dict("ga")["audio"]["input"]["turn_detection"]["idle_timeout_ms"] == 6000
    ga = copy.deepcopy(GA_SEED)
    ga["audio"]["input"]["future_knob"] = 3
    ga["audio"]["output"]["future_flag"] = True
    ga["audio"]["video"] = {"fps": 30}
    g = Session.parse(ga)
    assert g.to_dict() == ga
    assert Session.parse(g.to_json()).to_dict() == ga
    assert g.to_dict("beta") == BETA_SEED  # GA-only audio keys have no place in the beta shape


def test_beta_ga_beta_round_trip_is_lossless():
    for fin in FORMATS:
        for fout in FORMATS:
            for voice, modalities, tokens in [("alloy", ["text"], 1), ("marin", ["audio"], 4096),
                                              ("verse", ["audio", "text"], "inf")]:
                beta = {"input_audio_format": fin, "output_audio_format": fout, "voice": voice,
                        "modalities": modalities, "max_response_output_tokens": tokens, "temperature": 0.61}
                s = Session.parse(beta)
                ga = s.to_dict("ga")
                assert ga["audio"]["input"]["format"] == format_to_ga(fin)
                assert ga["audio"]["output"]["format"]["type"] == FORMATS[fout].ga_type
                assert ga["audio"]["output"]["voice"] == voice
                assert ga["output_modalities"] == (["audio"] if "audio" in modalities else ["text"])  # never both
                assert ga["max_output_tokens"] == tokens and ga["temperature"] == 0.61
                back = Session.parse(json.loads(json.dumps(ga)))
                assert back == s and back.to_dict("beta") == s.to_dict("beta")
                canonical = dict(beta, modalities=["text", "audio"] if "audio" in modalities else ["text"])
                assert all(back.to_dict("beta")[k] == v for k, v in canonical.items())


def test_parse_accepts_json_events_and_sessions():
    s = Session.parse(BETA_SEED)
    assert Session.parse(json.dumps(BETA_SEED)) == s
    assert Session.parse(json.dumps(GA_SEED).encode()) == s
    for event_type in ("session.created", "session.updated", "session.update"):
        assert Session.parse({"type": event_type, "event_id": "evt_1", "session": GA_SEED}) == s
    s.mark_audio_output()
    c = Session.parse(s)
    assert c == s and c is not s and c.audio_output_started and c.shape == s.shape
    sent = Session.parse(s.update_event(event_id="e"))  # no id or model, no voice after audio output
    assert sent.to_dict() == {k: v for k, v in s.to_dict().items() if k not in ("id", "model", "object", "expires_at", "voice")}


def test_attributes_are_copies():
    s = Session.parse(BETA_SEED)
    s.tools.append({"name": "x"})
    s.turn_detection["threshold"] = 0.9
    s.extra["tracing"] = "no"
    assert s.to_dict() == BETA_SEED


# ---- update ---------------------------------------------------------------------------------------

def test_update_merges_partially_and_revalidates():
    s = Session.parse(BETA_SEED)
    u = s.update({"output_audio_format": "pcm16"})
    assert u is not s and u.output_format is FORMATS["pcm16"] and s.output_format is FORMATS["g711_alaw"]
    assert u.to_dict() == dict(BETA_SEED, output_audio_format="pcm16")
    assert s.update({"type": "session.update", "session": {"temperature": 1.0}}).temperature == 1.0
    assert s.update({"turn_detection": None}).turn_detection is None
    assert s.update({"turn_detection": {"silence_duration_ms": 800}}).turn_detection == {
        "type": "server_vad", "silence_duration_ms": 800}  # nested objects are replaced whole
    with pytest.raises(SessionError) as info:
        s.update({"temperature": 1.5, "input_audio_format": "opus"})
    assert problem_paths(info.value) == ["input_audio_format", "temperature"]
    assert s.to_dict() == BETA_SEED


def test_update_in_ga_shape():
    g = Session.parse(GA_SEED)
    u = g.update({"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcm"}}}})
    assert u.output_format is FORMATS["pcm16"] and u.input_format is FORMATS["g711_ulaw"]
    assert u.voice == "coral" and u.speed == 1.1  # the rest of audio.output stays
    assert u.shape == "ga" and u.to_dict()["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert g.update({"output_modalities": ["text"], "max_output_tokens": 200}).to_dict("beta")["modalities"] == ["text"]
    b = Session.parse(BETA_SEED).update({"audio": {"input": {"format": {"type": "audio/pcma"}, "knob": 1}}})
    assert b.shape == "beta" and b.input_format is FORMATS["g711_alaw"]
    assert b.to_dict("ga")["audio"]["input"]["knob"] == 1
    assert b.update({"audio": {"input": {"other": 2}}}).to_dict("ga")["audio"]["input"]["knob"] == 1
    with pytest.raises(SessionError) as info:
        g.update({"audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}})
    assert problem_paths(info.value) == ["audio.input.format.rate"]


def test_voice_cannot_change_after_audio_output():
    s = Session.parse(BETA_SEED)
    assert s.update({"voice": "echo"}).voice == "echo"  # fine before any audio
    s.mark_audio_output()
    assert s.audio_output_started
    u = s.update({"voice": "coral", "instructions": "Be terse."})  # same voice: fine
    assert u.audio_output_started and u.instructions == "Be terse."
    for partial, path in [({"voice": "echo"}, "voice"),
                          ({"audio": {"output": {"voice": "ash"}}}, "audio.output.voice")]:
        with pytest.raises(SessionError) as info:
            u.update(partial)
        assert problem_paths(info.value) == [path]
        assert "cannot change" in str(info.value) and "'coral'" in str(info.value)


def test_update_event_and_json():
    s = Session.parse(BETA_SEED)
    server_only = ("id", "object", "model", "expires_at")
    assert s.update_event() == {"type": "session.update",
                                "session": {k: v for k, v in BETA_SEED.items() if k not in server_only}}
    assert s.update_event("ga", event_id="evt_9") == {
        "type": "session.update", "event_id": "evt_9",
        "session": {k: v for k, v in GA_SEED.items() if k not in (*server_only, "client_secret")}}
    assert s.update_event("ga")["session"]["type"] == "realtime"
    assert json.loads(s.to_json("ga")) == GA_SEED and json.loads(s.to_json()) == BETA_SEED
    for bad in (lambda: s.to_dict("v2"), lambda: s.update_event(event_id=5)):
        with pytest.raises(SessionError):
            bad()


# ---- bad input: every problem named, all at once ---------------------------------------------

BAD_CASES = [
    # (session, field path, text that must be in the message)
    ({"input_audio_format": "mp3"}, "input_audio_format", "'pcm16', 'g711_ulaw', 'g711_alaw'"),
    ({"output_audio_format": 16}, "output_audio_format", "'pcm16', 'g711_ulaw', 'g711_alaw'"),
    ({"temperature": 1.5}, "temperature", "[0.6, 1.2]"),
    ({"temperature": True}, "temperature", "[0.6, 1.2]"),
    ({"temperature": float("nan")}, "temperature", "[0.6, 1.2]"),
    ({"max_response_output_tokens": 5000}, "max_response_output_tokens", "1..4096 or 'inf'"),
    ({"max_response_output_tokens": True}, "max_response_output_tokens", "1..4096 or 'inf'"),
    ({"max_output_tokens": 0}, "max_output_tokens", "1..4096 or 'inf'"),
    ({"modalities": []}, "modalities", "non-empty"),
    ({"modalities": ["text", "text"]}, "modalities", "distinct"),
    ({"output_modalities": ["video"]}, "output_modalities", "['audio'] or ['text']"),
    ({"output_modalities": ["text", "audio"]}, "output_modalities", "['audio'] or ['text'] (GA: not both)"),
    ({"turn_detection": {"type": "semantic_vad", "threshold": 0.5}}, "turn_detection.threshold", "only with 'server_vad'"),
    ({"turn_detection": {"eagerness": "low"}}, "turn_detection.eagerness", "only with 'semantic_vad'"),
    ({"turn_detection": {"type": "semantic_vad", "idle_timeout_ms": 5}}, "turn_detection.idle_timeout_ms", "only with 'server_vad'"),
    ({"voice": "bob"}, "voice", "'alloy'"),
    ({"tools": [{"type": "function"}]}, "tools[0].name", "required"),
    ({"tools": [{"type": "function", "name": ""}]}, "tools[0].name", "non-empty"),
    ({"tools": [{"type": "web_search"}]}, "tools[0].type", "'function'"),
    ({"tools": {"name": "f"}}, "tools", "a list"),
    ({"tool_choice": "any"}, "tool_choice", "'auto', 'none', 'required'"),
    ({"tool_choice": {"type": "function"}}, "tool_choice.name", "required"),
    ({"turn_detection": {"threshold": 2}}, "turn_detection.threshold", "[0, 1]"),
    ({"turn_detection": {"type": "vad"}}, "turn_detection.type", "'server_vad', 'semantic_vad'"),
    ({"turn_detection": {"prefix_padding_ms": -1}}, "turn_detection.prefix_padding_ms", ">= 0"),
    ({"turn_detection": {"silence_duration_ms": 10**5000}}, "turn_detection.silence_duration_ms", ">= 0"),
    ({"turn_detection": {"create_response": 1}}, "turn_detection.create_response", "true or false"),
    ({"turn_detection": {"eagerness": "max"}}, "turn_detection.eagerness", "'low', 'medium', 'high', 'auto'"),
    ({"turn_detection": "server_vad"}, "turn_detection", "an object or null"),
    ({"input_audio_transcription": {"language": 5}}, "input_audio_transcription.language", "a string"),
    ({"input_audio_noise_reduction": {"type": "mid"}}, "input_audio_noise_reduction.type", "'near_field'"),
    ({"speed": 3}, "speed", "[0.25, 1.5]"),
    ({"instructions": 7}, "instructions", "a string"),
    ({"audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}}, "audio.input.format.rate", "24000"),
    ({"audio": {"output": {"format": {"type": "audio/opus"}}}}, "audio.output.format.type",
     "'audio/pcm', 'audio/pcmu', 'audio/pcma'"),
    ({"audio": {"output": {"format": "pcm16"}}}, "audio.output.format", "'audio/pcm', 'audio/pcmu', 'audio/pcma'"),
    ({"audio": {"input": {"format": {"type": "audio/pcmu", "bits": 8}}}}, "audio.input.format.bits", "'type'"),
    ({"audio": []}, "audio", "an object"),
    ({"audio": {"input": None}}, "audio.input", "an object"),
    ({"type": "transcription"}, "type", "'realtime'"),
    ({"extra": float("inf")}, "extra", "JSON value"),
    ({"extra": {"deep": [object()]}}, "extra.deep[0]", "JSON value"),
    ({"input_audio_format": "pcm16", "audio": {"input": {"format": {"type": "audio/pcmu"}}}},
     "audio.input.format", "the same value as input_audio_format"),
    ({"modalities": ["text"], "output_modalities": ["audio"]}, "output_modalities", "the same value as modalities"),
    ({"type": "session.update"}, "session", "an object"),
]


@pytest.mark.parametrize(("session", "path", "allowed"), BAD_CASES,
                         ids=[case[1] for case in BAD_CASES])
def test_bad_field_is_named(session, path, allowed):
    error = parse_error(session)
    assert isinstance(error, AudioFormatError) and isinstance(error, ValueError)
    assert problem_paths(error) == [path]
    message = str(error)
    assert f"{path}: got " in message and allowed in message


def test_all_problems_reported_together():
    bad = {"input_audio_format": "mp3", "temperature": 1.5, "max_response_output_tokens": 5000, "modalities": [],
           "voice": "bob", "tools": [{"type": "function"}], "tool_choice": "any", "speed": 3, "instructions": 7,
           "turn_detection": {"threshold": 2, "eagerness": "max"}, "future": float("inf"),
           "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}},
                     "output": {"format": {"type": "audio/opus"}}}}
    error = parse_error(bad)
    paths = problem_paths(error)
    assert sorted(paths) == sorted([
        "input_audio_format", "temperature", "max_response_output_tokens", "modalities", "voice",
        "tools[0].name", "tool_choice", "speed", "instructions", "turn_detection.threshold",
        "turn_detection.eagerness", "future", "audio.input.format.rate", "audio.output.format.type"])
    lines = str(error).splitlines()
    assert len(lines) == len(paths) + 1 and f"({len(paths)} problem(s))" in lines[0]
    for (path, _value, allowed), line in zip(error.problems, lines[1:]):
        assert line.strip().startswith(f"{path}: got ") and allowed in line


def test_structural_garbage_is_a_session_error():
    deep: Any = "x"
    for _ in range(5000):
        deep = [deep]
    for obj in (None, 42, 4.5, [1, 2], "not json", "[1, 2]", b"\xff\xfe\x00", "", "{", object(),
                {1: "x"}, {"tools": [{1: 2}]}, {"audio": {"input": {3: 4}}}, {"session": 5, "type": "session.created"},
                {"x": deep}, '{"x": ' + "[" * 100000 + "]" * 100000 + "}", "[" * 100000):
        with pytest.raises(SessionError) as info:
            Session.parse(obj)
        assert info.value.problems and str(info.value)


def test_session_error_pickles_and_is_public():
    error = parse_error({"temperature": 2, "voice": 1})
    again = pickle.loads(pickle.dumps(error))
    assert again.problems == error.problems and str(again) == str(error)
    assert audiofmt.SessionError is SessionError and audiofmt.Session is Session
    assert "Session" in audiofmt.__all__ and "SessionError" in audiofmt.__all__


def test_import_is_light():
    code = ("import sys, audiofmt.session; "
            "print(sorted(m for m in ('numpy', 'numba', 'openai', 'pydantic') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---- the registry's GA lookups ------------------------------------------------------------------

def test_format_from_ga_and_back():
    for fmt in FORMATS.values():
        assert format_from_ga(format_to_ga(fmt)) is fmt
        assert format_from_ga({"type": fmt.ga_type}) is fmt
    assert format_to_ga("pcm16") == {"type": "audio/pcm", "rate": 24000}
    assert format_to_ga("g711_ulaw") == {"type": "audio/pcmu"}
    with pytest.raises(UnknownFormatError, match="'audio/pcm', 'audio/pcmu', 'audio/pcma'"):
        format_from_ga({"type": "audio/opus"})
    with pytest.raises(InvalidRateError, match="24000"):
        format_from_ga({"type": "audio/pcm", "rate": 16000})
    for bad in ("audio/pcm", None, {"type": "audio/pcmu", "x": 1}, {"rate": 24000}):
        with pytest.raises(AudioFormatError):
            format_from_ga(bad)


# ---- openai SDK objects ---------------------------------------------------------------------------

def _sdk(module: str) -> Any:
    return pytest.importorskip(module, reason=f"{module} is not in the installed openai SDK")


def test_parse_beta_sdk_session():
    beta = _sdk("openai.types.beta.realtime")
    sdk_session = _sdk("openai.types.beta.realtime.session")
    obj = beta.Session(
        id="sess_1", model="gpt-4o-mini-realtime-preview", input_audio_format="g711_alaw", voice="sage",
        modalities=["text", "audio"], temperature=0.7, max_response_output_tokens=512,
        turn_detection=sdk_session.TurnDetection(type="semantic_vad", eagerness="low"),
        tools=[sdk_session.Tool(type="function", name="hang_up", parameters={"type": "object"})],
        input_audio_transcription=sdk_session.InputAudioTranscription(model="whisper-1"),
    )
    s = Session.parse(obj)
    assert s.shape == "beta" and s.input_format is FORMATS["g711_alaw"] and s.output_format is FORMATS["pcm16"]
    assert (s.voice, s.temperature, s.max_response_output_tokens) == ("sage", 0.7, 512)
    assert s.turn_detection == {"type": "semantic_vad", "eagerness": "low"}
    assert s.tools == [{"type": "function", "name": "hang_up", "parameters": {"type": "object"}}]
    event = beta.SessionUpdateEvent.model_validate(s.update_event("beta", event_id="evt_1"))
    assert event.session.input_audio_format == "g711_alaw" and event.session.voice == "sage"
    assert event.event_id == "evt_1"
    seed_event = beta.SessionUpdateEvent.model_validate(Session.parse(GA_SEED).update_event("beta"))
    assert seed_event.session.output_audio_format == "g711_alaw"
    assert Session.parse(seed_event).to_dict() == {k: v for k, v in BETA_SEED.items()
                                                   if k not in ("id", "object", "model", "expires_at")}


def test_parse_ga_sdk_session():
    rt = _sdk("openai.types.realtime")
    formats = _sdk("openai.types.realtime.realtime_audio_formats")
    inp = _sdk("openai.types.realtime.realtime_audio_config_input")
    out = _sdk("openai.types.realtime.realtime_audio_config_output")
    obj = rt.RealtimeSessionCreateRequest(
        type="realtime", model="gpt-realtime", output_modalities=["audio"], max_output_tokens=300,
        audio=rt.RealtimeAudioConfig(
            input=inp.RealtimeAudioConfigInput(format=formats.AudioPCMU(type="audio/pcmu"), turn_detection=None),
            output=out.RealtimeAudioConfigOutput(format=formats.AudioPCM(type="audio/pcm", rate=24000),
                                                 voice="cedar", speed=1.2),
        ),
    )
    s = Session.parse(obj)
    assert s.shape == "ga" and s.input_format is FORMATS["g711_ulaw"] and s.output_format is FORMATS["pcm16"]
    assert (s.voice, s.speed, s.modalities, s.max_response_output_tokens) == ("cedar", 1.2, ["text", "audio"], 300)
    assert s.turn_detection is None and "turn_detection" in s.to_dict("beta")  # explicit null kept
    event = rt.SessionUpdateEvent.model_validate(s.update_event("ga"))
    assert isinstance(event.session, rt.RealtimeSessionCreateRequest)
    assert isinstance(event.session.audio.input.format, formats.AudioPCMU)
    assert event.session.audio.output.format.rate == 24000 and event.session.audio.output.voice == "cedar"
    seed_event = rt.SessionUpdateEvent.model_validate(Session.parse(BETA_SEED).update_event("ga", event_id="e"))
    assert isinstance(seed_event.session.audio.output.format, formats.AudioPCMA)
    assert seed_event.session.audio.input.turn_detection.silence_duration_ms == 500
    assert Session.parse(seed_event).to_dict("beta") == {k: v for k, v in BETA_SEED.items()
                                                         if k not in ("id", "object", "model", "expires_at", "client_secret")}
    full = Session.parse(obj.model_dump_json())  # every unset field as null
    assert (full.input_format, full.output_format, full.voice, full.tools) == (s.input_format, s.output_format,
                                                                              "cedar", [])
    assert full.input_audio_transcription is None and full.extra["truncation"] is None


# ---- fuzzing ------------------------------------------------------------------------------------
# Hypothesis draws are slow on a small VM, so most values are picked from pools of plausible and
# hostile values (one draw each); arbitrary JSON from the recursive strategy fills unknown keys,
# mutations and whole inputs.

JSON: st.SearchStrategy[Any] = st.deferred(lambda: st.one_of(  # (st.recursive is 3x slower here)
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=4),
    st.lists(JSON, max_size=2), st.dictionaries(st.text(max_size=3), JSON, max_size=2)))
HOSTILE: list[Any] = [
    None, True, False, 0, -1, 1, 2**70, 0.5, -0.0, 1e308, float("nan"), float("inf"), "", "x", "\n", "inf",
    "realtime", "auto", "function", "audio/pcm", 24000, 16000, 4096, 4097, [], [None], ["text"], ("tuple",), {},
    {"": None}, {"type": "function"}, {"type": "audio/pcm"}, {"a": {"b": [1, "c", {"d": None}]}}, [[[]]],
    {1: "non-str key"}, {"type": None}, object(), b"bytes", 10**5000,
]
GA_FORMATS = [{"type": "audio/pcm"}, {"type": "audio/pcm", "rate": 24000}, {"type": "audio/pcm", "rate": 16000},
              {"type": "audio/pcmu"}, {"type": "audio/pcma"}, {"type": "audio/pcmu", "rate": 8000},
              {"type": "audio/opus"}, {"type": "audio/pcm", "rate": 24000.0}, {"type": "audio/pcma", "x": 1},
              "pcm16", {}]
PLAUSIBLE: dict[str, list[Any]] = {
    "id": ["sess_1"], "model": ["gpt-4o-realtime-preview", "future-model"], "instructions": ["Be brief."],
    "input_audio_format": [*FORMATS, "mp3", "G711_ULAW"], "output_audio_format": [*FORMATS, "pcm"],
    "voice": [*VOICES, "bob", {"id": "voice_1"}, {"id": ""}],
    "temperature": [0.6, 0.8, 1, 1.2, 1.5, 0.59],
    "modalities": [["text"], ["audio"], ["text", "audio"], ["audio", "text"], ["text", "text"], ["video"], "text"],
    "max_response_output_tokens": [1, 1024, 4096, "inf", 0, 4097, 1.0, "INF"],
    "speed": [0.25, 1.0, 1.5, 2],
    "tool_choice": ["none", "required", "any", {"type": "function", "name": "f"}, {"type": "function"},
                    {"type": "mcp", "server_label": "s"}, {"name": "f"}, {"type": "function", "name": ""}],
    "tools": [TOOLS, [{"name": "g", "parameters": {"type": "object"}}], [{"type": "function"}],
              [{"type": "mcp", "server_label": "x"}], [{"type": "web"}], [{"name": "f", "parameters": 3}],
              [{"name": "f", "description": None, "strict": True}]],
    "turn_detection": [TURN_DETECTION, {"type": "semantic_vad", "eagerness": "high"}, {"threshold": 2},
                       {"threshold": 0.0, "prefix_padding_ms": 0}, {"silence_duration_ms": -1},
                       {"create_response": 1}, {"type": "server_vad", "idle_timeout_ms": None}],
    "input_audio_transcription": [TRANSCRIPTION, {"language": 5}, {"model": "whisper-1", "delay": "low"}],
    "input_audio_noise_reduction": [{"type": "far_field"}, {"type": "mid"}, {"strength": 0.5}],
}
GA_PATHS = {"modalities": ("output_modalities",), "max_response_output_tokens": ("max_output_tokens",),
            "input_audio_format": ("audio", "input", "format"), "output_audio_format": ("audio", "output", "format"),
            "input_audio_transcription": ("audio", "input", "transcription"),
            "input_audio_noise_reduction": ("audio", "input", "noise_reduction"),
            "turn_detection": ("audio", "input", "turn_detection"), "voice": ("audio", "output", "voice"),
            "speed": ("audio", "output", "speed")}
UNKNOWN = [("future",), ("tracing",), ("audio", "input", "knob"), ("audio", "output", "flag"), ("audio", "video")]


def pairs(ga: bool) -> list[tuple[tuple[str, ...], Any]]:
    """(path, value) pairs for one shape: every plausible value of every field, and hostile ones."""
    out = []
    for name, values in PLAUSIBLE.items():
        path = GA_PATHS.get(name, (name,)) if ga else (name,)
        pool = GA_FORMATS if ga and name.endswith("audio_format") else values
        out += [(path, v) for v in [*pool, *HOSTILE]]
    out += [(path, v) for path in UNKNOWN if ga or len(path) == 1 for v in HOSTILE]
    if ga:
        out += [(("type",), v) for v in ["realtime", "realtime", "transcription", None, 1]]
        out += [(("audio",), v) for v in HOSTILE] + [(("audio", side), v) for side in ("input", "output") for v in HOSTILE]
    return out


def build(items: list[tuple[tuple[str, ...], Any]]) -> dict[str, Any]:
    """A session dict from (path, value) pairs; a pair under a non-object value replaces it."""
    out: dict[str, Any] = {}
    for path, value in items:
        node = out
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[path[-1]] = copy.deepcopy(value)
    return out


def picks(pool: list[Any], most: int) -> st.SearchStrategy[list[Any]]:
    """Up to `most` items of `pool`, packed in two integer draws (half the cost of st.lists of
    st.sampled_from here); shrinking still goes toward fewer and earlier items."""
    def unpack(count_and_digits: tuple[int, int]) -> list[Any]:
        count, digits = count_and_digits
        return [pool[digits // len(pool) ** i % len(pool)] for i in range(count)]
    return st.tuples(st.integers(0, most), st.integers(0, len(pool) ** most - 1)).map(unpack)


def session_dicts(*shapes: bool) -> st.SearchStrategy[dict[str, Any]]:
    pool = [pair for ga in shapes for pair in pairs(ga)]
    unknown = st.one_of([st.sampled_from([{}, {}, {}, *({key: v} for key in ("future", "", "x y") for v in HOSTILE)])] * 4
                        + [st.dictionaries(st.text(max_size=4), JSON, min_size=1, max_size=1)])
    return st.builds(lambda items, extra: {**extra, **build(items)}, picks(pool, 6), unknown)


BETA_DICTS, GA_DICTS, MIXED_DICTS = session_dicts(False), session_dicts(True), session_dicts(False, True)
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
BATCH = 5  # inputs per hypothesis example: the engine's cost per example (~2 ms here) is paid once for five


def batches(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    """BATCH independent draws of `strategy` per example (max_examples counts examples, so the
    tests below run max_examples x BATCH inputs: as many as before batching)."""
    return st.lists(strategy, min_size=BATCH, max_size=BATCH)


def expected_shape(obj: dict[str, Any]) -> str:
    ga = obj.get("type") == "realtime" or obj.keys() & {"audio", "output_modalities", "max_output_tokens"}
    return "ga" if ga else "beta"


def check(obj: Any) -> Session | None:
    """Parse `obj`: only SessionError may escape, and an accepted session must round-trip."""
    try:
        s = Session.parse(obj)
    except SessionError as error:
        assert error.problems and len(str(error).splitlines()) == len(error.problems) + 1
        return None
    assert not check_round_trip(s) or s.shape == "ga"  # parse never puts GA-only keys in a beta session
    return s


def check_round_trip(s: Session) -> bool:
    """Round trips through JSON in both shapes; True if `s` holds GA-only audio keys."""
    ga = s.to_json("ga")
    again = Session.parse(ga)
    assert again == s and again.shape == "ga"  # the GA shape holds everything
    beta = s.to_json("beta")
    assert Session.parse(beta).to_json("beta") == beta
    ga_only = ga_only_audio(json.loads(ga)["audio"])
    if s.shape == "ga" or not ga_only:  # a beta session updated with GA-only audio keys
        own = Session.parse(s.to_json())  # loses them in its own shape (documented)
        assert own.shape == s.shape and own == s
    return ga_only


def ga_only_audio(audio: dict[str, Any]) -> bool:
    known = {"input": {"format", "transcription", "noise_reduction", "turn_detection"},
             "output": {"format", "voice", "speed"}}
    return bool(audio.keys() - known.keys() or any(audio[side].keys() - known[side] for side in known))


@settings(FUZZ, max_examples=2500 // BATCH)
@given(batches(BETA_DICTS))
def test_fuzz_beta_dicts(objs):
    for obj in objs:
        s = check(obj)
        assert s is None or s.shape == expected_shape(obj) == "beta" or "type" in obj


@settings(FUZZ, max_examples=2500 // BATCH)
@given(batches(GA_DICTS))
def test_fuzz_ga_dicts(objs):
    for obj in objs:
        s = check(obj)
        assert s is None or s.shape == expected_shape(obj)


@settings(FUZZ, max_examples=1500 // BATCH)
@given(batches(MIXED_DICTS))
def test_fuzz_mixed_shape_dicts(objs):
    for obj in objs:
        s = check(obj)
        assert s is None or s.shape == expected_shape(obj)


MUTATION_VALUES = HOSTILE + [v for values in PLAUSIBLE.values() for v in values] + GA_FORMATS
CHEAP_VALUES = st.sampled_from(MUTATION_VALUES)
def all_slots(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) in a JSON-like tree."""
    items = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) if isinstance(node, list) else []
    return [slot for key, child in items for slot in [(node, key), *all_slots(child)]]


@settings(FUZZ, max_examples=2000 // BATCH)
@given(batches(st.tuples(st.sampled_from([json.dumps(BETA_SEED), json.dumps(GA_SEED)]), st.integers(1, 3), st.integers(0, 2**64),
                         st.one_of([CHEAP_VALUES] * 3 + [JSON]))))
def test_fuzz_mutated_seed(mutations):
    for seed, count, code, drawn in mutations:
        mutate_and_check(seed, count, code, drawn)


def mutate_and_check(seed: str, count: int, code: int, drawn: Any) -> None:
    """Up to three mutations of a valid session, each at any key or item: delete it, or set it to
    `drawn` or to a pool value (`code` packs where and what, to keep hypothesis draws few)."""
    obj = json.loads(seed)
    for _ in range(count):
        slots = all_slots(obj)
        if not slots:
            break
        code, where = divmod(code, 256)
        code, what = divmod(code, len(MUTATION_VALUES) + 2)
        container, key = slots[where % len(slots)]
        if what == 0:
            del container[key]
        else:
            container[key] = copy.deepcopy(drawn if what == 1 else MUTATION_VALUES[what - 2])
    check(obj)


@settings(FUZZ, max_examples=1000 // BATCH)
@given(batches(st.tuples(st.sampled_from([BETA_SEED, GA_SEED]), st.booleans(), MIXED_DICTS)))
def test_fuzz_update(updates):
    for seed, audio_started, partial in updates:
        update_and_check(seed, audio_started, partial)


def update_and_check(seed: dict[str, Any], audio_started: bool, partial: Any) -> None:
    s = Session.parse(seed)
    if audio_started:
        s.mark_audio_output()
    try:
        u = s.update(partial)
    except SessionError as error:
        assert error.problems
        return
    assert u.audio_output_started == audio_started and u.shape == s.shape
    if audio_started:
        assert u.voice == s.voice
    check_round_trip(u)


def json_text(obj: Any) -> str:
    """`obj` as JSON text, whatever it holds (unknown objects as their repr)."""
    try:
        return json.dumps(obj, default=repr)
    except ValueError:  # an int too long to print
        return "{" + "1" * 5000 + "}"


@settings(FUZZ, max_examples=700 // BATCH)
@given(batches(JSON | st.binary(max_size=20) | st.text(max_size=20) | MIXED_DICTS.map(json_text)
               | st.builds(lambda t, s: {"type": t, "session": s}, st.sampled_from(["session.created", "session.update"]),
                           JSON | MIXED_DICTS)))
def test_fuzz_any_input(objs):
    for obj in objs:
        check(obj)
