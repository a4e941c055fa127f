"""The sans-IO Twilio bridge core, driven with plain messages: codec paths, framing, marks,
barge-in arithmetic, the input timeline, DTMF, malformed messages and fuzzing."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    reference = audiofmt.Resampler(8000, 24000, "low_latency")  # in float32, as the bridge (its output is int16)
    frames = [audiofmt.decode(ulaw[i * 160 : (i + 1) * 160], "g711_ulaw").astype(np.float32) / np.float32(32768) for i in range(50)]
    expected = np.concatenate([reference.process(frame) for frame in frames]).astype(np.float64)
    assert audiofmt.decode(got, "pcm16").tolist() == audiofmt.float_to_int16(expected, clip="ignore")[0].tolist()
    pcm = (np.sin(2 * np.pi * 440 * np.arange(24000) / 24000) * 8000).astype(np.int16)
    out = bridge.receive_model(_delta(audiofmt.encode(pcm, "pcm16")))
    out += bridge.receive_model({"type": "response.audio.done", "item_id": "item_1", "content_index": 0})
    assert sum(len(p) for p in _payloads(out)) == 8000  # every sample, 24 kHz -> 8 kHz


def test_pcm16_replies_in_20_ms_deltas_become_exact_frames_of_the_float32_stream():
    bridge = _bridge("pcm16", "pcm16")
    bridge.receive_phone(_media(1, 0, bytes(160)))
    rng = np.random.default_rng(8)
    pcm = (rng.standard_normal(24000) * 4000).astype(np.int16)
    data = audiofmt.encode(pcm, "pcm16")
    sizes = [960] * 10 + [2, 958, 100, 960, 1820] + [960] * 10  # odd cuts on the way, whole samples
    out, start = [], 0
    for size in sizes:
        out += bridge.receive_model(_delta(data[start : start + size]))
        start += size
    out += bridge.receive_model(_delta(data[start:]))
    out += bridge.receive_model({"type": "response.audio.done", "item_id": "item_1", "content_index": 0})
    frames = _payloads(out)
    assert all(len(f) == 160 for f in frames[:-1])
    floats = audiofmt.int16_to_float(pcm, np.float32)  # the bridge resamples in float32 (int16 out)
    expected, _ = audiofmt.float_to_int16(audiofmt.resample(floats, 24000, 8000, quality="low_latency").astype(np.float64), clip="ignore")
    assert b"".join(frames) == audiofmt.encode(expected, "g711_ulaw")
    assert bridge.stats.frames_out == len(frames)


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
        ({"event": "bogus"}, "unknown phone event"),
    ],
)
def test_malformed_phone_messages_are_dropped_and_counted(message, reason):
    bridge = TwilioMediaStream({})
    assert bridge.receive_phone(message) == []
    assert bridge.stats.dropped == {reason: 1}


def test_malformed_media_after_start():
    bridge = _bridge()
    cases = [
        ({"event": "media", "media": {"chunk": "1", "timestamp": "0", "payload": "!!"}}, "bad media.payload"),
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
    assert pcm.stats.dropped == {"bad model audio": 1}


def test_events_for_the_model_validate_against_the_sdk():
    beta = pytest.importorskip("openai.types.beta.realtime")
    bridge = _bridge()
    append = bridge.receive_phone(_media(1, 0, bytes(160)))[0].event
    beta.InputAudioBufferAppendEvent.model_validate(append)
    bridge.receive_model(_delta(bytes(1600)))
    truncate = bridge.receive_model({"type": "input_audio_buffer.speech_started"})[1].event
    beta.ConversationItemTruncateEvent.model_validate(truncate)
    ga = pytest.importorskip("openai.types.realtime")  # the GA client events have the same shape
    ga.InputAudioBufferAppendEvent.model_validate(append)
    ga.ConversationItemTruncateEvent.model_validate(truncate)
    assert truncate["content_index"] == 0 and truncate["audio_end_ms"] <= 200  # never more than the item's audio


# -- hostile peers: amplification, bounded state, fuzzing ------------------------------------


@pytest.mark.parametrize("session", ["g711_ulaw", "pcm16"])
@pytest.mark.parametrize("step_ms, payload_bytes", [
    (10_000, 160),  # the issue's pattern: 200 messages, each 10 s after the previous
    (100, 1),  # the largest gap filled, carried by the smallest payload
    (121, 160),  # gaps of 101 ms: just over the limit
    (80, 160),  # 60 ms gaps: filled while the budget lasts
    (2**40, 160),  # absurd jumps
])
def test_gap_filling_cannot_amplify(session, step_ms, payload_bytes):
    bridge = _bridge(session, session)
    out: list = []
    for i in range(200):
        out += bridge.receive_phone(_media(i + 1, i * step_ms, b"\x01" * payload_bytes))
    bytes_in = 200 * payload_bytes
    assert bridge.stats.media_in_bytes == bytes_in
    phone_samples_out = len(_appended(out)) // (6 if session == "pcm16" else 1)  # pcm16: 3 x rate, 2 bytes
    fill_limit = 800  # MAX_GAP_FILL_MS of allowance
    assert phone_samples_out <= 2 * bytes_in + fill_limit
    assert bridge._filled_samples <= bytes_in + fill_limit
    if step_ms > 100:
        assert bridge.stats.gap_filled_ms == 0 and bridge.stats.resyncs == 199


def test_small_gaps_are_filled_and_large_ones_resync():
    bridge = _bridge()
    a = bridge.receive_phone(_media(1, 0, b"\x01" * 160))
    b = bridge.receive_phone(_media(2, 120, b"\x02" * 160))  # 100 ms missing: filled
    c = bridge.receive_phone(_media(3, 260, b"\x03" * 160))  # 120 ms missing: a resync, not filled
    d = bridge.receive_phone(_media(4, 280, b"\x04" * 160))  # continuous again
    assert _appended(a + b + c + d) == b"\x01" * 160 + b"\xff" * 800 + b"\x02" * 160 + b"\x03" * 160 + b"\x04" * 160
    assert (bridge.stats.gap_filled_ms, bridge.stats.resyncs) == (100, 1)


def test_hostile_timestamps_in_bytes_of_json():
    """The issue's measurement: 200 media messages, timestamps 10 s apart, pcm16 session."""
    bridge = _bridge("pcm16", "pcm16")
    messages = [_media(i + 1, i * 10_000, bytes(160)) for i in range(200)]
    sent = sum(len(m) for m in messages)
    out = [o for m in messages for o in bridge.receive_phone(m)]
    received = sum(len(o.json()) for o in out)
    assert received < 7 * sent  # 6x is pcm16's own expansion (3x the rate, 2 bytes a sample)


def test_drop_reasons_are_a_fixed_set():
    from audiofmt.bridge.twilio import DROP_REASONS

    bridge = _bridge()
    for i in range(2_000):
        bridge.receive_phone({"event": f"event-{i}"})
        bridge.receive_phone({"event": "media", "media": {"chunk": str(i), "timestamp": "0", "payload": f"!{i}"}})
        bridge.receive_model({"type": "response.audio.delta", "item_id": f"x{i}", "content_index": -i - 1, "delta": "AA=="})
        bridge.receive_model({"type": "session.updated", "session": {"input_audio_format": f"fmt{i}"}})
    assert dict(bridge.stats.dropped) == {"unknown phone event": 2_000, "bad media.payload": 2_000,
                                          "audio event without item_id/content_index": 2_000,
                                          "bad session event": 2_000}
    assert set(bridge.stats.dropped) <= DROP_REASONS


def test_unhashable_mark_name_is_dropped():
    bridge = _bridge()
    for name in ([], {}, None, 1.5, float("nan"), 10**100):
        assert bridge.receive_phone({"event": "mark", "mark": {"name": name}}) == []
    assert bridge.receive_phone(json.dumps({"event": "mark", "mark": {"name": []}})) == []
    assert bridge.stats.dropped == {"bad mark name": 7}


# Hostile values for any field: unhashable, non-string, non-int, NaN, huge ints, deep nesting.
_hostile_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**64), st.just(10**4000), st.just(-(10**400)),
    st.floats(allow_nan=True, allow_infinity=True), st.just(float("nan")), st.text(max_size=12),
    st.sampled_from(["", "0", "-1", "1e3", "NaN", "inbound", "item_1", "AA==", "!!", "9" * 30, "\x00", "\ud800"]),
)
_hostile = st.recursive(_hostile_scalars, lambda c: st.one_of(st.lists(c, max_size=3),
                                                             st.dictionaries(st.text(max_size=6), c, max_size=3)),
                        max_leaves=5)
_FRAME = _b64(bytes(160))
_PHONE_TEMPLATES = [
    {"event": "connected", "protocol": "Call", "version": "1.0.0"},
    {"event": "start", "sequenceNumber": "1", "streamSid": "MZ1", "start": {
        "streamSid": "MZ1", "callSid": "CA1", "customParameters": {"lang": "en"}, "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}},
    {"event": "media", "streamSid": "MZ1", "sequenceNumber": "3",
     "media": {"track": "inbound", "chunk": "2", "timestamp": "20", "payload": _FRAME}},
    {"event": "mark", "streamSid": "MZ1", "sequenceNumber": "4", "mark": {"name": "item_1:0:1"}},
    {"event": "dtmf", "streamSid": "MZ1", "sequenceNumber": "5", "dtmf": {"track": "inbound_track", "digit": "1"}},
    {"event": "stop", "streamSid": "MZ1", "sequenceNumber": "6", "stop": {"accountSid": "AC1", "callSid": "CA1"}},
]
_MODEL_TEMPLATES = [
    {"type": t, "event_id": "e", "response_id": "r", "item_id": "item_1", "output_index": 0, "content_index": 0,
     "delta": _b64(bytes(480))} for t in ("response.audio.delta", "response.output_audio.delta")
] + [
    {"type": t, "event_id": "e", "response_id": "r", "item_id": "item_1", "output_index": 0, "content_index": 0}
    for t in ("response.audio.done", "response.output_audio.done")
] + [
    {"type": "input_audio_buffer.speech_started", "event_id": "e", "audio_start_ms": 100, "item_id": "u1"},
    {"type": "session.updated", "event_id": "e", "session": {
        "type": "realtime", "output_modalities": ["audio"],
        "audio": {"input": {"format": {"type": "audio/pcmu"}, "turn_detection": {"type": "server_vad"}},
                  "output": {"format": {"type": "audio/pcmu"}, "voice": "marin"}}}},
    {"type": "session.created", "event_id": "e", "session": {
        "input_audio_format": "g711_ulaw", "output_audio_format": "g711_ulaw", "modalities": ["text", "audio"]}},
    {"type": "error", "event_id": "e", "error": {"type": "invalid_request_error", "message": "x"}},
]


def _paths(obj: object, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(obj, dict):
        for key, value in obj.items():
            found += _paths(value, (*prefix, key))
    return found


@st.composite
def _mutated(draw, templates):
    """A valid message with 0-3 of its fields (at any depth, the whole message included) replaced
    by hostile values, or extra keys added; sometimes as JSON text."""
    message = json.loads(json.dumps(draw(st.sampled_from(templates))))
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_paths(message)))
        value = draw(_hostile)
        if not path:
            message = value
            break
        parent = message
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            parent[path[-1] if draw(st.booleans()) else draw(st.text(max_size=4))] = value
    if draw(st.integers(0, 3)) == 0:
        try:
            return json.dumps(message)
        except (ValueError, TypeError):
            pass
    return message


def _valid_media(bridge: TwilioMediaStream) -> str:
    return _media(bridge._last_chunk + 1, (bridge._next_timestamp or 0), bytes(160))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(session=st.sampled_from(["g711_ulaw", "g711_alaw", "pcm16"]),
       batch=st.lists(st.tuples(st.booleans(), st.one_of(_mutated(_PHONE_TEMPLATES), _mutated(_MODEL_TEMPLATES))),
                      min_size=1, max_size=25))
def test_fuzzed_messages_never_raise(session, batch):
    """Nothing either peer sends raises; every drop has a fixed reason; the call goes on."""
    from audiofmt.bridge.twilio import DROP_REASONS

    bridge = _bridge(session, session)
    out: list = []
    for to_phone_side, message in batch:  # each message goes to both sides, valid traffic between
        out += bridge.receive_phone(message) if to_phone_side else bridge.receive_model(message)
        out += bridge.receive_model(message) if to_phone_side else bridge.receive_phone(message)
        if bridge.state == "started":
            out += bridge.receive_phone(_valid_media(bridge))
            out += bridge.receive_model(_delta(bytes(480)))
    for o in out:  # whatever went in, what goes out is strict JSON, ASCII
        if isinstance(o, (ToPhone, ToModel)):
            assert json.loads(o.json()) == json.loads(json.dumps(o.message if isinstance(o, ToPhone) else o.event))
            o.json().encode("ascii")
    assert set(bridge.stats.dropped) <= DROP_REASONS and "internal error" not in bridge.stats.dropped
    if bridge.state == "started":  # a well-formed stop ends the call; anything else must not
        assert bridge.receive_phone(_valid_media(bridge))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session=st.sampled_from(["g711_ulaw", "pcm16"]),
       batch=st.lists(st.one_of(_hostile, st.text(max_size=40), st.binary(max_size=40)), min_size=1, max_size=20))
def test_fuzzed_garbage_never_raises(session, batch):
    from audiofmt.bridge.twilio import DROP_REASONS

    bridge = _bridge(session, session)
    for message in batch:
        bridge.receive_phone(message)
        bridge.receive_model(message)
    assert set(bridge.stats.dropped) <= DROP_REASONS and "internal error" not in bridge.stats.dropped
    assert bridge.receive_phone(_valid_media(bridge))


def test_per_call_state_stays_bounded_when_the_phone_never_acknowledges():
    bridge = _bridge()
    bridge.receive_phone(_media(1, 0, bytes(160)))
    for i in range(1000):
        bridge.receive_model(_delta(bytes(1600), item=f"item_{i}"))
        if i % 2:
            bridge.receive_model({"type": "input_audio_buffer.speech_started"})  # interrupts item i
        else:
            bridge.receive_model({"type": "response.audio.done", "item_id": f"item_{i}", "content_index": 0})
    assert bridge.stats.barge_ins == 500
    assert len(bridge._marks) <= 64 and len(bridge._cleared_marks) <= 64 and len(bridge._play.cancelled) <= 64
    assert bridge.receive_model(_delta(bytes(160), item="item_999")) == []  # the latest interrupted item stays dropped


@settings(max_examples=200, deadline=None)
@given(session=st.sampled_from(["g711_ulaw", "pcm16"]),
       steps=st.lists(st.tuples(st.integers(-1000, 10**6) | st.sampled_from([0, 19, 20, 21, 100, 120, 121]),
                                st.integers(1, 400)), min_size=1, max_size=60))
def test_any_timestamp_pattern_is_bounded(session, steps):
    """Whatever the timestamps and payload sizes, silence <= audio received + 100 ms."""
    bridge = _bridge(session, session)
    out, timestamp = [], 10**6
    for i, (step_ms, n_bytes) in enumerate(steps):
        timestamp = max(0, timestamp + step_ms)
        out += bridge.receive_phone(_media(i + 1, timestamp, b"\x01" * n_bytes))
    bytes_in = sum(n for _, n in steps)
    assert len(_appended(out)) // (6 if session == "pcm16" else 1) <= 2 * bytes_in + 800


def test_a_server_session_with_a_newer_voice_still_switches_the_bridge_paths():
    bridge = _bridge("g711_ulaw", "g711_ulaw")
    bridge.receive_model({"type": "session.updated", "session": {"input_audio_format": "pcm16", "output_audio_format": "pcm16",
                                                                "voice": "nova-2099"}})
    assert bridge.session.input_format.name == "pcm16" and not bridge.stats.dropped
    (out,) = bridge.receive_phone(_media(1, 0, bytes(range(160))))
    assert len(base64.b64decode(out.event["audio"])) % 2 == 0  # pcm16 now


def test_session_created_defaults_do_not_change_the_formats_the_bridge_asked_for():
    """session.created carries the server's defaults from before the bridge's session.update (which
    the server applies before any append): appends keep the asked-for format; session.updated rules."""
    bridge = _bridge("g711_ulaw", "g711_ulaw")
    bridge.receive_model({"type": "session.created", "session": {"input_audio_format": "pcm16", "output_audio_format": "pcm16"}})
    frame = bytes(range(160))
    (out,) = bridge.receive_phone(_media(1, 0, frame))
    assert isinstance(out, ToModel) and base64.b64decode(out.event["audio"]) == frame  # μ-law, untouched
    bridge.receive_model({"type": "session.updated", "session": {"input_audio_format": "pcm16", "output_audio_format": "pcm16"}})
    (out,) = bridge.receive_phone(_media(2, 20, frame))
    n_bytes = len(base64.b64decode(out.event["audio"]))
    assert n_bytes % 2 == 0 and 600 <= n_bytes <= 960  # pcm16 at 24 kHz: 20 ms less the resampler's 6 ms look-ahead
