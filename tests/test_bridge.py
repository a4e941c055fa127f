"""The sans-IO Twilio bridge core, driven with plain messages: codec paths, framing, marks,
barge-in arithmetic, the input timeline, DTMF, malformed messages and fuzzing."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import audiofmt
from audiofmt.bridge import CallStarted, CallStopped, Dtmf, ToModel, ToPhone, TwilioMediaStream


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _start(bridge: TwilioMediaStream) -> None:
    bridge.receive_phone({"event": "connected", "protocol": "Call", "version": "1.0.0"})
    out = bridge.receive_phone({"event": "start", "sequenceNumber": "1", "streamSid": "MZ1", "start": {
        "streamSid": "MZ1", "callSid": "CA1", "customParameters": {"lang": "en"},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})
    assert out == [CallStarted("MZ1", "CA1", {"lang": "en"})]


def _media(chunk: int, timestamp: int, payload: bytes) -> str:
    return json.dumps({"event": "media", "streamSid": "MZ1", "sequenceNumber": str(chunk + 1),
                       "media": {"track": "inbound", "chunk": str(chunk), "timestamp": str(timestamp), "payload": _b64(payload)}})


def _delta(data: bytes, item: str = "item_1") -> dict:
    return {"type": "response.audio.delta", "response_id": "r", "item_id": item, "output_index": 0, "content_index": 0, "delta": _b64(data)}


def _bridge(input_format: str = "g711_ulaw", output_format: str = "g711_ulaw") -> TwilioMediaStream:
    bridge = TwilioMediaStream({"input_audio_format": input_format, "output_audio_format": output_format})
    _start(bridge)
    return bridge


def _appended(outputs: list) -> bytes:
    return b"".join(base64.b64decode(o.event["audio"]) for o in outputs if isinstance(o, ToModel))


def _payloads(outputs: list) -> list[bytes]:
    return [base64.b64decode(o.message["media"]["payload"]) for o in outputs if isinstance(o, ToPhone) and o.message["event"] == "media"]


def test_ulaw_passes_through_untouched_both_ways():
    every_code = bytes(range(256)) * 6  # 0x7F (μ-law's second zero) included
    bridge = _bridge()
    sent = []
    for i in range(8):
        sent += bridge.receive_phone(_media(i + 1, i * 20, every_code[i * 160 : (i + 1) * 160]))
    assert _appended(sent) == every_code[: 8 * 160]
    reply = every_code[:1300]  # 8 frames and 20 bytes, split across deltas mid-frame
    frames = _payloads(bridge.receive_model(_delta(reply[:1000])) + bridge.receive_model(_delta(reply[1000:])))
    assert [len(f) for f in frames] == [160] * 8  # the 20-byte remainder waits for more audio
    frames += _payloads(bridge.receive_model({"type": "response.audio.done", "item_id": "item_1", "content_index": 0}))
    assert b"".join(frames) == reply and [len(f) for f in frames] == [160] * 8 + [20]


def test_alaw_session_uses_the_g711_tables():
    bridge = _bridge("g711_alaw", "g711_alaw")
    ulaw = bytes(range(160))
    assert _appended(bridge.receive_phone(_media(1, 0, ulaw))) == audiofmt.transcode(ulaw, "g711_ulaw", "g711_alaw")
    alaw = bytes(range(96, 256))
    assert _payloads(bridge.receive_model(_delta(alaw))) == [audiofmt.transcode(alaw, "g711_alaw", "g711_ulaw")]


def test_pcm16_session_resamples_with_the_low_latency_preset():
    bridge = _bridge("pcm16", "pcm16")
    tone = (np.sin(2 * np.pi * 440 * np.arange(8000) / 8000) * 8000).astype(np.int16)
    ulaw = audiofmt.encode(tone, "g711_ulaw")
    got = b"".join(_appended(bridge.receive_phone(_media(i + 1, i * 20, ulaw[i * 160 : (i + 1) * 160]))) for i in range(50))
    reference = audiofmt.Resampler(8000, 24000, "low_latency")
    expected = np.concatenate([reference.process(audiofmt.decode(ulaw[i * 160 : (i + 1) * 160], "g711_ulaw") / 32768) for i in range(50)])
    assert audiofmt.decode(got, "pcm16").tolist() == audiofmt.float_to_int16(expected, clip="ignore")[0].tolist()
    pcm = (np.sin(2 * np.pi * 440 * np.arange(24000) / 24000) * 8000).astype(np.int16)
    out = bridge.receive_model(_delta(audiofmt.encode(pcm, "pcm16")))
    out += bridge.receive_model({"type": "response.audio.done", "item_id": "item_1", "content_index": 0})
    assert sum(len(p) for p in _payloads(out)) == 8000  # every sample, 24 kHz -> 8 kHz


def test_marks_and_barge_in_truncate_exactly_what_was_played():
    bridge = _bridge("g711_ulaw", "g711_ulaw")
    bridge.receive_phone(_media(1, 0, bytes(160)))  # call clock: 20 ms
    out = bridge.receive_model(_delta(bytes(8000)))  # one second of reply
    assert len(_payloads(out)) == 50
    for i in range(2, 2 + 25):  # 500 ms of the call pass while the reply plays
        bridge.receive_phone(_media(i, (i - 1) * 20, bytes(160)))
    out = bridge.receive_model({"type": "input_audio_buffer.speech_started", "audio_start_ms": 480, "item_id": "u1"})
    assert [o.message["event"] if isinstance(o, ToPhone) else o.event["type"] for o in out] == ["clear", "conversation.item.truncate"]
    truncate = out[1].event
    assert (truncate["item_id"], truncate["content_index"], truncate["audio_end_ms"]) == ("item_1", 0, 500)
    assert bridge.receive_model(_delta(bytes(800))) == []  # the rest of that reply is dropped
    assert bridge.stats.dropped["audio of an interrupted response"] == 1 and bridge.stats.barge_ins == 1


def test_acknowledged_mark_means_fully_heard():
    bridge = _bridge()
    bridge.receive_phone(_media(1, 0, bytes(160)))
    bridge.receive_model(_delta(bytes(1600)))
    mark = bridge.receive_model({"type": "response.audio.done", "item_id": "item_1", "content_index": 0})[-1].message
    assert mark["event"] == "mark"
    bridge.receive_phone({"event": "mark", "streamSid": "MZ1", "mark": {"name": mark["mark"]["name"]}})
    assert bridge.receive_model({"type": "input_audio_buffer.speech_started"}) == []  # nothing left to interrupt


def test_input_timeline_gaps_are_filled_and_duplicates_dropped():
    bridge = _bridge()
    a = bridge.receive_phone(_media(1, 0, b"\x01" * 160))
    b = bridge.receive_phone(_media(4, 80, b"\x02" * 160))  # 60 ms missing
    c = bridge.receive_phone(_media(4, 80, b"\x02" * 160))  # duplicate
    d = bridge.receive_phone(_media(3, 60, b"\x03" * 160))  # late
    assert _appended(a + b) == b"\x01" * 160 + b"\xff" * 480 + b"\x02" * 160
    assert c == d == []
    assert bridge.stats.gap_filled_ms == 60 and bridge.stats.dropped["duplicate or late media chunk"] == 2


def test_dtmf_and_stop_are_surfaced():
    bridge = _bridge()
    assert bridge.receive_phone({"event": "dtmf", "streamSid": "MZ1", "dtmf": {"track": "inbound_track", "digit": "7"}}) == [Dtmf("7")]
    assert bridge.receive_phone({"event": "stop", "streamSid": "MZ1", "stop": {"callSid": "CA1"}}) == [CallStopped("MZ1")]
    assert bridge.receive_phone(_media(1, 0, bytes(160))) == []
    assert bridge.stats.dropped == {"media after stop": 1}


@pytest.mark.parametrize(
    "message,reason",
    [
        ("not json", "not JSON"),
        ("[1]", "not a JSON object"),
        ({"no": "event"}, "no event name"),
        ({"event": "media", "media": {"payload": "AA==", "chunk": "1", "timestamp": "0"}}, "media before start"),
        ({"event": "bogus"}, "unknown phone event 'bogus'"),
    ],
)
def test_malformed_phone_messages_are_dropped_and_counted(message, reason):
    bridge = TwilioMediaStream({})
    assert bridge.receive_phone(message) == []
    assert bridge.stats.dropped == {reason: 1}


def test_malformed_media_after_start():
    bridge = _bridge()
    cases = [
        ({"event": "media", "media": {"chunk": "1", "timestamp": "0", "payload": "!!"}}, "bad audio: InvalidDataError"),
        ({"event": "media", "media": {"chunk": "x", "timestamp": "0", "payload": "AA=="}}, "bad media.chunk"),
        ({"event": "media", "media": {"chunk": "1", "timestamp": "-5", "payload": "AA=="}}, "bad media.timestamp"),
        ({"event": "media", "media": {"chunk": "1", "timestamp": "0", "payload": ""}}, "empty media payload"),
        ({"event": "mark", "mark": {"name": "never-sent"}}, "mark we did not send"),
        ({"event": "dtmf", "dtmf": {"digit": "x"}}, "bad dtmf digit"),
        ({"event": "start", "start": {}}, "start out of order"),
    ]
    for message, reason in cases:
        assert bridge.receive_phone(message) == []
        assert bridge.stats.dropped[reason] == 1, reason
    assert bridge.receive_model({"type": "response.audio.delta", "item_id": 3, "delta": "AA=="}) == []
    pcm = _bridge("pcm16", "pcm16")
    assert pcm.receive_model(_delta(b"\0\0\0")) == []
    assert pcm.stats.dropped == {"bad model event: InvalidDataError": 1}


def test_events_for_the_model_validate_against_the_sdk():
    beta = pytest.importorskip("openai.types.beta.realtime")
    bridge = _bridge()
    append = bridge.receive_phone(_media(1, 0, bytes(160)))[0].event
    beta.InputAudioBufferAppendEvent.model_validate(append)
    bridge.receive_model(_delta(bytes(1600)))
    truncate = bridge.receive_model({"type": "input_audio_buffer.speech_started"})[1].event
    beta.ConversationItemTruncateEvent.model_validate(truncate)


_json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**5), st.text(max_size=12))
_json = st.recursive(_json_scalars, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=8), c, max_size=3)), max_leaves=4)
_payload = st.binary(max_size=400).map(_b64)
_phone_messages = st.one_of(
    _json,
    st.text(max_size=40),
    st.fixed_dictionaries({"event": st.sampled_from(["connected", "start", "media", "mark", "dtmf", "stop", "x"])},
                          optional={"media": st.fixed_dictionaries({}, optional={"chunk": st.one_of(_json, st.integers(0, 9).map(str)),
                                    "timestamp": st.one_of(_json, st.integers(0, 10**5).map(str)), "payload": st.one_of(_payload, _json), "track": _json}),
                                    "start": _json, "mark": _json, "dtmf": _json, "streamSid": _json}),
)
_model_events = st.one_of(
    _json,
    st.text(max_size=40),
    st.fixed_dictionaries({"type": st.sampled_from(["response.audio.delta", "response.output_audio.delta", "response.audio.done",
                                                    "input_audio_buffer.speech_started", "session.updated", "error"])},
                          optional={"item_id": st.one_of(st.just("item_1"), _json), "content_index": st.one_of(st.just(0), _json),
                                    "delta": st.one_of(_payload, _json), "session": _json}),
)


@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=_phone_messages, session=st.sampled_from(["g711_ulaw", "g711_alaw", "pcm16"]))
def test_fuzzed_phone_messages_never_raise(message, session):
    bridge = _bridge(session, session)
    bridge.receive_phone(message)
    if bridge.state == "started":  # a well-formed stop ends the call; anything else must not
        assert bridge.receive_phone(_media(99, 5000, bytes(160)))  # the call goes on


@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=_model_events, session=st.sampled_from(["g711_ulaw", "g711_alaw", "pcm16"]))
def test_fuzzed_model_events_never_raise(event, session):
    bridge = _bridge(session, session)
    bridge.receive_model(event)
    assert bridge.receive_phone(_media(99, 5000, bytes(160)))
