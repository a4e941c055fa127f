"""InputEncoder / OutputDecoder / events: all nine format pairs, SDK validation, fuzzing, errors."""

from __future__ import annotations

import base64
import itertools
import json

import numpy as np
import pytest
import soundfile
from audiofmt.events import (
    append_event,
    clear_event,
    commit_event,
    heard_ms,
    ms_to_bytes,
    ms_to_samples,
    parse_event,
    truncate_event,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import audiofmt
from audiofmt import AudioFormatError, EventError, InvalidDataError, Session
from audiofmt.realtime import InputEncoder, OutputDecoder

from .conftest import REPO

FORMATS = ["pcm16", "g711_ulaw", "g711_alaw"]
PAIRS = list(itertools.product(FORMATS, FORMATS))


def _speech_16k() -> np.ndarray:
    x, rate = soundfile.read(REPO / "fixtures" / "speech_16k.wav", dtype="float64")
    assert rate == 16000
    return x[:40000]


def _session(input_format: str, output_format: str) -> dict:
    return {"input_audio_format": input_format, "output_audio_format": output_format, "voice": "alloy"}


def _event_audio(events: list) -> bytes:
    return b"".join(base64.b64decode(e["audio"]) for e in events if e["type"] == "input_audio_buffer.append")


def _delta(data: bytes, item_id: str = "item_1", content_index: int = 0, kind: str = "response.audio.delta") -> dict:
    return {
        "type": kind,
        "event_id": "event_1",
        "response_id": "resp_1",
        "item_id": item_id,
        "output_index": 0,
        "content_index": content_index,
        "delta": base64.b64encode(data).decode(),
    }


@pytest.mark.parametrize("input_format,output_format", PAIRS)
def test_input_encoder_matches_one_shot_path(input_format, output_format):
    x = _speech_16k()
    fmt = audiofmt.get_format(input_format)
    encoder = InputEncoder(_session(input_format, output_format), rate_hz=16000)
    events = []
    rng = np.random.default_rng(7)
    i = 0
    while i < x.shape[0]:
        n = int(rng.integers(0, 3000))
        events += encoder.process(x[i : i + n])
        i += n
    events += encoder.flush()
    one_shot = audiofmt.encode(audiofmt.resample(x, 16000, fmt.rate_hz, quality="low_latency"), fmt, clip="ignore")
    assert _event_audio(events) == one_shot
    chunk_bytes = fmt.bytes_per_ms * 100
    sizes = [len(base64.b64decode(e["audio"])) for e in events]
    assert all(size == chunk_bytes for size in sizes[:-1]) and 0 < sizes[-1] <= chunk_bytes
    assert encoder.samples_sent == audiofmt.output_length(x.shape[0], 16000, fmt.rate_hz)
    assert encoder.ms_sent == encoder.samples_sent * 1000 // fmt.rate_hz


@pytest.mark.parametrize("input_format,output_format", PAIRS)
def test_output_decoder_matches_one_shot_path(input_format, output_format):
    fmt = audiofmt.get_format(output_format)
    x = _speech_16k()
    data = audiofmt.encode(audiofmt.resample(x, 16000, fmt.rate_hz), fmt, clip="ignore")
    pieces = [data[i : i + 997 * fmt.bytes_per_sample] for i in range(0, len(data), 997 * fmt.bytes_per_sample)]
    for rate in (None, 16000, 48000):
        decoder = OutputDecoder(_session(input_format, output_format), rate_hz=rate)
        got = [decoder.process(_delta(piece)) for piece in pieces]
        got.append(decoder.process({"type": "response.audio.done", "item_id": "item_1", "content_index": 0}))
        out = np.concatenate(got)
        samples = audiofmt.decode(data, fmt)
        if rate is None or rate == fmt.rate_hz:
            expected = samples
        else:  # G.711 to int16 computes in float32 (its codes carry at most 14 bits), pcm16 in float64
            floats = audiofmt.int16_to_float(samples, np.float32 if fmt.codec != "pcm_s16le" else np.float64)
            expected, _ = audiofmt.float_to_int16(
                audiofmt.resample(floats, fmt.rate_hz, rate, quality="low_latency").astype(np.float64), clip="ignore")
        assert out.dtype == np.int16 and np.array_equal(out, expected)
        assert decoder.received == {("item_1", 0): samples.shape[0]}


def test_output_decoder_float_dtypes_and_ga_events():
    data = audiofmt.encode((np.sin(np.arange(2400) * 0.05) * 8000).astype(np.int16), "pcm16")
    for dtype in ("float32", "float64"):
        decoder = OutputDecoder(_session("pcm16", "pcm16"), dtype=dtype)
        out = decoder.process(json.dumps(_delta(data, kind="response.output_audio.delta")))
        assert out.dtype == np.dtype(dtype)
        assert np.array_equal(out, (audiofmt.decode(data, "pcm16") / 32768).astype(dtype))
    assert decoder.process({"type": "response.text.delta", "delta": "hi"}).shape == (0,)


def test_a_server_session_with_fields_newer_than_audiofmt_still_switches_the_format():
    """The server is the authority on its session: a voice or value this version does not know
    (a new voice, a temperature outside today's range) is left out, not refused, so decoding its
    audio goes on; the audio formats are always checked."""
    decoder = OutputDecoder(_session("pcm16", "pcm16"))
    newer = {"type": "session.updated", "session": {**_session("pcm16", "g711_ulaw"), "voice": "nova-2099",
                                                     "temperature": 1.7, "tools": [{"type": "telepathy"}]}}
    decoder.process(newer)
    assert decoder.format.name == "g711_ulaw" and decoder.session.voice is None
    ulaw = bytes(range(160))
    assert np.array_equal(decoder.process(_delta(ulaw, "item_2")), audiofmt.decode(ulaw, "g711_ulaw"))
    with pytest.raises(AudioFormatError, match="output_audio_format: got 'opus'"):
        decoder.process({"type": "session.updated", "session": {"output_audio_format": "opus", "voice": "nova-2099"}})
    assert Session.parse(newer).voice is None  # a server event: read the same way
    with pytest.raises(AudioFormatError, match="voice"):
        Session.parse(newer["session"])  # a session object, as a caller configures one: checked in full
    with pytest.raises(AudioFormatError, match="voice"):
        Session.parse({**newer, "type": "session.update"})  # what a client sends: checked in full


def test_mid_session_format_change_flushes_and_switches():
    x = (np.sin(np.arange(24000) * 0.05) * 8000).astype(np.int16)
    decoder = OutputDecoder(_session("pcm16", "pcm16"), rate_hz=16000)
    first = decoder.process(_delta(audiofmt.encode(x, "pcm16")))
    switched = decoder.process({"type": "session.updated", "session": _session("pcm16", "g711_ulaw")})
    assert decoder.format.name == "g711_ulaw"
    ulaw = audiofmt.encode(x[::3], "g711_ulaw")
    second = np.concatenate([decoder.process(_delta(ulaw, "item_2")), decoder.flush()])
    expected_first, _ = audiofmt.float_to_int16(audiofmt.resample(x / 32768, 24000, 16000, quality="low_latency"), clip="ignore")
    assert np.array_equal(np.concatenate([first, switched]), expected_first)  # nothing lost or doubled
    floats = audiofmt.int16_to_float(audiofmt.decode(ulaw, "g711_ulaw"), np.float32)  # G.711 to int16: float32
    expected_second, _ = audiofmt.float_to_int16(
        audiofmt.resample(floats, 8000, 16000, quality="low_latency").astype(np.float64), clip="ignore"
    )
    assert np.array_equal(second, expected_second)
    assert decoder.session.audio_output_started


def test_voice_locked_after_audio_output():
    decoder = OutputDecoder(_session("pcm16", "pcm16"))
    decoder.process(_delta(b"\0\0" * 10))
    with pytest.raises(AudioFormatError, match="voice"):
        decoder.session.update({"voice": "echo"})


def test_events_validate_against_the_openai_sdk():
    beta = pytest.importorskip("openai.types.beta.realtime")
    ga = pytest.importorskip("openai.types.realtime")
    encoder = InputEncoder(_session("g711_ulaw", "pcm16"), rate_hz=8000, event_id_prefix="evt_")
    events = encoder.process(np.zeros(2000, dtype=np.int16)) + encoder.commit() + encoder.clear()
    assert [e["type"] for e in events] == ["input_audio_buffer.append"] * 3 + ["input_audio_buffer.commit", "input_audio_buffer.clear"]
    for module in (beta, ga):
        for event in events:
            model = {
                "input_audio_buffer.append": module.InputAudioBufferAppendEvent,
                "input_audio_buffer.commit": module.InputAudioBufferCommitEvent,
                "input_audio_buffer.clear": module.InputAudioBufferClearEvent,
            }[event["type"]]
            assert model.model_validate(event).model_dump(exclude_none=True) == event
        truncate = truncate_event("item_1", 0, heard_samples=12345, rate_hz=24000, event_id="evt_9")
        assert module.ConversationItemTruncateEvent.model_validate(truncate).audio_end_ms == 514


def test_sdk_server_events_are_accepted():
    beta = pytest.importorskip("openai.types.beta.realtime")
    ga = pytest.importorskip("openai.types.realtime")
    data = audiofmt.encode(np.arange(0, 8000, 10).astype(np.int16), "g711_alaw")
    for module, kind in ((beta, "response.audio.delta"), (ga, "response.output_audio.delta")):
        event = module.ResponseAudioDeltaEvent.model_validate(_delta(data, kind=kind))
        decoder = OutputDecoder(_session("pcm16", "g711_alaw"))
        assert np.array_equal(decoder.process(event), audiofmt.decode(data, "g711_alaw"))


def test_events_and_sessions_read_objects_by_one_rule():
    """parse_event and Session.parse share plain_object: JSON text of any buffer type, or an SDK
    model's set fields as JSON values (an explicit null kept, an unset field absent)."""
    from audiofmt.realtime.events import plain_object

    ga = pytest.importorskip("openai.types.realtime")
    text = '{"type": "session.updated", "event_id": "e1", "session": {"type": "realtime", "instructions": null}}'
    for raw in (text, text.encode(), bytearray(text.encode()), memoryview(text.encode())):
        assert parse_event(raw) == json.loads(text)
    model = ga.SessionUpdatedEvent.model_validate(json.loads(text))
    plain = plain_object(model, ValueError)
    assert plain == json.loads(text)  # instructions: set to null, so kept; the session's unset fields absent
    assert parse_event(model) == plain
    assert Session.parse(model).to_dict("ga") == Session.parse(json.loads(text)).to_dict("ga")
    for bad in ("{", b"[1,", memoryview(b"nope")):
        with pytest.raises(EventError, match="event is not valid JSON"):
            parse_event(bad)
        with pytest.raises(audiofmt.SessionError, match="not valid JSON"):
            Session.parse(bad)


def test_json_output_and_event_ids():
    encoder = InputEncoder(_session("pcm16", "pcm16"), rate_hz=24000, as_json=True, event_id_prefix="mic-", chunk_ms=20)
    events = encoder.process(np.zeros(480 * 3 + 10, dtype=np.int16))
    assert len(events) == 3 and all(isinstance(e, str) for e in events)
    assert [json.loads(e)["event_id"] for e in events] == ["mic-1", "mic-2", "mic-3"]
    assert [len(base64.b64decode(json.loads(e)["audio"])) for e in encoder.flush()] == [20]


def test_stereo_input_is_downmixed():
    left, right = np.full(4800, 0.25), np.full(4800, -0.05)
    encoder = InputEncoder(_session("pcm16", "pcm16"), rate_hz=24000, channels=2)
    audio = _event_audio(encoder.process(np.stack([left, right], axis=1)) + encoder.flush())
    assert set(audiofmt.decode(audio, "pcm16").tolist()) == {round(0.1 * 32768)}


def test_truncation_arithmetic_rounds_down():
    assert heard_ms(23, 24000) == 0 and heard_ms(24, 24000) == 1 and heard_ms(47, 24000) == 1
    assert heard_ms(7, 8000) == 0 and heard_ms(8, 8000) == 1
    assert heard_ms(10 * 3600 * 24000 + 23, 24000) == 10 * 3600 * 1000  # exact after 10 hours
    assert (ms_to_samples(20, "pcm16"), ms_to_bytes(20, "pcm16")) == (480, 960)
    assert (ms_to_samples(20, "g711_ulaw"), ms_to_bytes(20, "g711_alaw")) == (160, 160)
    assert truncate_event("item_1", 0, audio_end_ms=1500)["audio_end_ms"] == 1500
    encoder = InputEncoder(_session("pcm16", "g711_ulaw"), rate_hz=24000)
    encoder.process(np.zeros(24 * 1999 + 23, dtype=np.int16))
    assert (encoder.samples_sent, encoder.ms_sent) == (24 * 1900, 1900)  # whole 100 ms chunks sent
    encoder.flush()
    assert (encoder.samples_sent, encoder.ms_sent) == (24 * 1999 + 23, 1999)  # rounded down


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: heard_ms(-1, 8000), "n_samples must be >= 0"),
        (lambda: heard_ms(10, 0), "rate_hz must be >= 1 Hz"),
        (lambda: heard_ms(10.0, 8000), "n_samples must be an integer"),
        (lambda: truncate_event("item_1", True, audio_end_ms=5), "content_index must be an integer"),
        (lambda: truncate_event("item_1", -1, audio_end_ms=5), "content_index must be >= 0"),
        (lambda: truncate_event("item_1", 0, audio_end_ms=5.5), "audio_end_ms must be an integer"),
    ],
)
def test_truncation_inputs_are_checked(call, match):
    with pytest.raises(AudioFormatError, match=match):
        call()
    event = truncate_event("item_1", np.int64(1), audio_end_ms=np.int32(5))  # numpy integers become ints
    assert json.dumps(event) and type(event["content_index"]) is int and type(event["audio_end_ms"]) is int


@pytest.mark.parametrize(
    "event,error,match",
    [
        (_delta(b"") | {"delta": "not base64!!"}, InvalidDataError, "not valid base64"),
        (_delta(b"\0\0\0"), InvalidDataError, "got 3 bytes"),
        (_delta(b"\0\0") | {"item_id": None}, AudioFormatError, "item_id"),
        (_delta(b"\0\0") | {"delta": 5}, InvalidDataError, "base64 string"),
        ("{not json", AudioFormatError, "not valid JSON"),
        ([1, 2], AudioFormatError, "JSON object"),
        ({"no": "type"}, AudioFormatError, "type"),
    ],
)
def test_bad_server_events(event, error, match):
    with pytest.raises(error, match=match):
        OutputDecoder(_session("pcm16", "pcm16")).process(event)


def test_a_delta_of_part_samples_names_the_field():
    """An odd pcm16 delta: the error names the event's field (dict and JSON text alike), one line."""
    for kind in ("response.audio.delta", "response.output_audio.delta"):
        for event in (_delta(b"\0\0\0", kind=kind), json.dumps(_delta(b"\0\0\0", kind=kind))):
            for rate in (None, 16000):
                with pytest.raises(InvalidDataError, match=rf"^{kind}\.delta must be whole 2-byte pcm16 samples; got 3 bytes$"):
                    OutputDecoder(_session("pcm16", "pcm16"), rate_hz=rate).process(event)


def test_bad_encoder_arguments():
    with pytest.raises(AudioFormatError, match="chunk_ms"):
        InputEncoder(_session("pcm16", "pcm16"), rate_hz=24000, chunk_ms=0)
    with pytest.raises(AudioFormatError, match="15728640 bytes"):
        InputEncoder(_session("pcm16", "pcm16"), rate_hz=24000, chunk_ms=300_000)
    with pytest.raises(AudioFormatError, match="shape"):
        InputEncoder(_session("pcm16", "pcm16"), rate_hz=24000).process(np.zeros((10, 2)))
    with pytest.raises(AudioFormatError, match="rate"):
        InputEncoder(_session("pcm16", "pcm16"), rate_hz=0)
    with pytest.raises(AudioFormatError, match="dtype"):
        OutputDecoder(_session("pcm16", "pcm16"), dtype="int32")
    assert append_event(b"ab")["audio"] == "YWI=" and commit_event()["type"] == "input_audio_buffer.commit"
    assert clear_event("x") == {"type": "input_audio_buffer.clear", "event_id": "x"}


_json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=False), st.text(max_size=20))
_json = st.recursive(_json_scalars, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=6), c, max_size=3)), max_leaves=4)
_event_types = st.sampled_from(
    ["response.audio.delta", "response.output_audio.delta", "response.audio.done", "response.output_audio.done", "session.updated", "session.created", "response.done", "error"]
)
_server_events = st.one_of(
    _json,
    st.fixed_dictionaries({"type": _event_types}, optional={"delta": st.one_of(_json, st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode())), "item_id": _json, "content_index": _json, "session": _json}),
    st.text(max_size=60),
)


@settings(max_examples=1_400 // 4, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(st.tuples(st.lists(_server_events, min_size=1, max_size=20), st.sampled_from(FORMATS), st.sampled_from([None, 16000])),
                min_size=4, max_size=4))
def test_fuzzed_server_events_raise_only_audio_format_errors(sequences):
    """About 10,000 events in all (1,400 sequences of 7 on average, four per hypothesis example), each
    sequence fed to one decoder (so bad events also meet every state)."""
    for events, output_format, rate in sequences:
        decoder = OutputDecoder(_session("pcm16", output_format), rate_hz=rate)
        for event in events:
            try:
                out = decoder.process(event)
            except AudioFormatError:
                continue
            assert isinstance(out, np.ndarray) and out.dtype == np.int16


def test_parse_event_accepts_bytes_and_models():
    assert parse_event(b'{"type": "x"}') == {"type": "x"}


@pytest.mark.parametrize("rate", [24000, 16000])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_refused_at_every_rate(rate, channels, bad):
    """One rule for NaN/inf: refused whether or not the encoder resamples (it was silence at 24 kHz)."""
    enc = InputEncoder({"input_audio_format": "pcm16"}, rate_hz=rate, channels=channels)
    for dtype in (np.float32, np.float64):
        x = np.full((480, channels) if channels > 1 else 480, 0.1, dtype=dtype)
        x[100] = bad
        with pytest.raises(audiofmt.InvalidSamplesError, match="finite"):
            enc.process(x)


def test_numpy_integers_and_dtypes_are_accepted_where_python_ones_are():
    """One validation rule (audiofmt._checks): np.int64 channel counts, numpy dtypes, big-endian input."""
    encoder = InputEncoder(_session("pcm16", "pcm16"), rate_hz=np.int64(24000), channels=np.int64(2), chunk_ms=np.int32(20))
    assert encoder.channels == 2 and type(encoder.channels) is int
    stereo = np.zeros((480, 2), dtype=">f4")
    assert len(encoder.process(stereo)) == 1  # 20 ms of big-endian float32 stereo: one append event
    for dtype in ("float32", np.float32, np.dtype("float32")):
        assert OutputDecoder(_session("pcm16", "pcm16"), dtype=dtype).dtype is np.dtype(np.float32)
    with pytest.raises(AudioFormatError, match="channels must be from 1 to 256; got 257"):
        InputEncoder(_session("pcm16", "pcm16"), rate_hz=24000, channels=257)


def test_reset_drops_what_is_held_back_and_starts_a_new_stream():
    session = _session("pcm16", "pcm16")
    x = np.sin(np.arange(4800) / 7.0) * 0.3
    reference = InputEncoder(session, 16000)
    expected = _event_audio(reference.process(x) + reference.flush())
    encoder = InputEncoder(session, 16000)
    held = encoder.process(np.full(1000, 0.5))  # held back: the resampler's look-ahead and a partial chunk
    encoder.reset()
    assert held == [] and _event_audio(encoder.process(x) + encoder.flush()) == expected
    assert encoder.samples_sent == reference.samples_sent  # nothing of the dropped audio was sent
    delta = _delta(audiofmt.encode(np.full(2400, 1000, dtype=np.int16), "pcm16"))
    decoder = OutputDecoder(session, rate_hz=16000)
    decoder.process(delta)
    decoder.reset()  # barge-in: the resampler's tail of the first item is never returned
    assert decoder.flush().shape == (0,)
    reference = OutputDecoder(session, rate_hz=16000)
    assert np.array_equal(decoder.process(delta), reference.process(delta))


def test_old_rate_keyword_still_works_with_a_warning():
    session = _session("pcm16", "pcm16")
    with pytest.warns(DeprecationWarning, match="rate= is now rate_hz="):
        encoder = InputEncoder(session, rate=16000)
    assert encoder.rate_hz == 16000
    with pytest.warns(DeprecationWarning, match="rate= is now rate_hz="):
        decoder = OutputDecoder(session, rate=8000)
    with pytest.warns(DeprecationWarning):
        assert (decoder.rate, decoder.output_rate) == (8000, 8000)
    with pytest.raises(TypeError, match="both rate= and rate_hz="):
        InputEncoder(session, rate=16000, rate_hz=16000)


def test_stream_objects_count_frames_in_and_out_alike():
    x = np.sin(np.arange(16000 * 3) / 9.0) * 0.5
    encoder = InputEncoder(_session("pcm16", "pcm16"), 16000, chunk_ms=20)
    resampler = audiofmt.Resampler(16000, 24000, "low_latency")
    for piece in np.array_split(x, 7):
        encoder.process(piece)
        resampler.process(piece)
    encoder.flush()
    resampler.flush()
    assert (encoder.n_in, encoder.n_out) == (resampler.n_in, resampler.n_out) == (48000, 72000)
    assert encoder.n_out == encoder.samples_sent
    decoder = OutputDecoder(_session("pcm16", "pcm16"), rate_hz=8000)
    data = audiofmt.encode(np.full(2400, 100, dtype=np.int16), "pcm16")
    got = sum(decoder.process(_delta(data)).shape[0] for _ in range(5)) + decoder.flush().shape[0]
    assert (decoder.n_in, decoder.n_out, got) == (12000, 4000, 4000)


def _float32_reference(samples: np.ndarray, in_rate: int, out_rate: int) -> tuple[np.ndarray, int]:
    """The low_latency resampler in float32 (what G.711 <-> int16 streams compute in), rounded."""
    floats = audiofmt.int16_to_float(samples, np.float32)
    return audiofmt.float_to_int16(audiofmt.resample(floats, in_rate, out_rate, quality="low_latency").astype(np.float64), clip="ignore")


@pytest.mark.parametrize("fmt", ["g711_ulaw", "g711_alaw"])
def test_input_encoder_to_g711_in_frames_is_the_float32_stream(fmt):
    rng = np.random.default_rng(5)
    square = np.where(np.arange(24000) % 60 < 30, 31000.0, -31000.0)  # overshoots: clipped
    x = (square + rng.standard_normal(24000) * 500).clip(-32768, 32767).astype(np.int16)
    expected, clipped = _float32_reference(x, 24000, 8000)
    assert clipped > 0
    sizes = [480] * 10 + [1, 7, 333, 480, 2000, 0, 479] + [480] * 5
    encoder = InputEncoder(_session(fmt, "pcm16"), rate_hz=24000, chunk_ms=20)
    events, start = [], 0
    for size in sizes:
        events += encoder.process(x[start : start + size])
        start += size
    events += encoder.process(x[start:][::-1].copy()[::-1])  # a read-only or strided chunk takes the generic path
    events += encoder.flush()
    assert _event_audio(events) == audiofmt.encode(expected, fmt)
    assert encoder.n_in == x.shape[0] and encoder.n_out == expected.shape[0] and encoder.n_clipped == clipped


def test_input_encoder_keeps_clipped_counts_across_flush_and_reset():
    """Each stream's clipped samples stay counted when flush() or reset() starts the next one."""
    rng = np.random.default_rng(8)
    square = np.where(np.arange(12000) % 60 < 30, 31000.0, -31000.0)  # overshoots: clipped
    x = (square + rng.standard_normal(12000) * 500).clip(-32768, 32767).astype(np.int16)

    def encoder() -> InputEncoder:
        made = InputEncoder(_session("g711_ulaw", "pcm16"), rate_hz=24000, chunk_ms=20)
        assert made._fused is not None  # the fused path's own count is what must carry over
        return made

    whole = encoder()
    whole.process(x)
    whole.flush()
    cut = encoder()
    cut.process(x)  # the part output before a reset
    assert whole.n_clipped > cut.n_clipped > 0
    stream = encoder()
    stream.process(x)
    stream.flush()
    stream.process(x)
    stream.reset()
    stream.process(x)
    stream.flush()
    assert stream.n_clipped == 2 * whole.n_clipped + cut.n_clipped


def test_input_encoder_to_g711_goes_on_in_float32_after_a_float_chunk():
    rng = np.random.default_rng(6)
    x = (rng.standard_normal(9600) * 3000).astype(np.int16)
    encoder = InputEncoder(_session("g711_ulaw", "pcm16"), rate_hz=24000, chunk_ms=20)
    events = encoder.process(x[:4800])  # int16: the fused path
    events += encoder.process(audiofmt.int16_to_float(x[4800:7200], np.float32))  # floats: the Resampler goes on
    events += encoder.process(x[7200:]) + encoder.flush()
    expected, _ = _float32_reference(x, 24000, 8000)
    assert _event_audio(events) == audiofmt.encode(expected, "g711_ulaw")
    encoder.reset()  # a new stream: the fused path again
    assert _event_audio(encoder.process(x) + encoder.flush()) == audiofmt.encode(expected, "g711_ulaw")


@pytest.mark.parametrize("fmt", ["g711_ulaw", "g711_alaw"])
def test_output_decoder_from_g711_in_deltas_is_the_float32_stream(fmt):
    square = np.where(np.arange(8000) % 40 < 20, 32000, -32000).astype(np.int16)  # overshoots: clipped
    data = audiofmt.encode(square, fmt)
    decoder = OutputDecoder(_session(fmt, fmt), rate_hz=24000)
    got = [decoder.process(json.dumps(_delta(data[i : i + 160]))) for i in range(0, 4000, 160)]
    got += [decoder.process(_delta(data[4000:4007])), decoder.process(json.dumps(_delta(data[4007:])))]
    got.append(decoder.process({"type": "response.audio.done", "item_id": "item_1", "content_index": 0}))
    expected, clipped = _float32_reference(audiofmt.decode(data, fmt), 8000, 24000)
    out = np.concatenate(got)
    assert clipped > 0 and out.dtype == np.int16 and np.array_equal(out, expected)
    assert all(piece.flags.writeable for piece in got)
    assert decoder.n_clipped == clipped and decoder.n_out == expected.shape[0] and decoder.n_in == len(data)
    assert decoder.received == {("item_1", 0): len(data)}
    second = decoder.process(_delta(data[:160], "item_2"))  # a new item: a new stream
    assert np.array_equal(second, _float32_reference(audiofmt.decode(data[:160], fmt), 8000, 24000)[0][: second.shape[0]])
