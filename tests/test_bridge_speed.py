"""The bridge's fast paths change no byte: accelerators (orjson, pybase64) against the standard
library, the forwarded μ-law base64 text, and the fused pcm16 kernels against the generic path."""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audiofmt import _speedups
from audiofmt.bridge import ToModel, ToPhone, TwilioMediaStream
from audiofmt.bridge._fused import fused_path
from audiofmt.codecs import decode, encode, int16_to_float, round_to_int16
from audiofmt.formats import FORMATS
from audiofmt.resampler.core import Resampler

ROOT = Path(__file__).resolve().parents[1]

# A scripted run through every session kind: valid traffic, gaps, non-canonical and over-padded
# base64, odd sizes, marks, barge-in, garbage. Prints every output's JSON and the stats.
SCENARIO = r'''
import base64, json, sys
import numpy as np
from audiofmt.bridge import TwilioMediaStream

def b64(data):
    return base64.b64encode(data).decode()

rng = np.random.default_rng(7)
lines = []
for session in ("g711_ulaw", "g711_alaw", "pcm16"):
    call = TwilioMediaStream({"input_audio_format": session, "output_audio_format": session})
    msgs = [json.dumps({"event": "connected"}),
            json.dumps({"event": "start", "streamSid": "MZ\u00e9\ud800", "start": {"streamSid": "MZ\u00e9\ud800", "callSid": "CA"}})]
    ts = 0
    for chunk in range(1, 60):
        payload = rng.integers(0, 256, 160 if chunk % 7 else 80, dtype=np.uint8).tobytes()
        text = b64(payload)
        if chunk % 11 == 0:  # the same bytes, non-canonical trailing bits
            text = text[:-3] + chr(ord(text[-3]) + 1) + "==" if text.endswith("==") else text
        if chunk % 13 == 0:
            text += "=="  # surplus padding: binascii's strict mode accepts it
        ts += 20 if chunk % 17 else 60  # a gap now and then
        msgs.append(json.dumps({"event": "media", "streamSid": "MZ", "media": {"track": "inbound", "chunk": str(chunk), "timestamp": str(ts), "payload": text}}))
        n = {"pcm16": 960, "g711_ulaw": 160, "g711_alaw": 160}[session] * (1 + chunk % 3) + (chunk % 5 == 0) * 2
        delta = b64(rng.integers(0, 256, n, dtype=np.uint8).tobytes())
        if chunk % 9 == 0:
            delta += "=="  # surplus padding (accepted or refused, the same way both ways)
        msgs.append(json.dumps({"type": "response.audio.delta", "item_id": f"it{chunk // 20}", "content_index": 0, "delta": delta}))
        if chunk % 20 == 19:
            msgs.append(json.dumps({"type": "response.audio.done", "item_id": f"it{chunk // 20}", "content_index": 0}))
        if chunk == 30:
            msgs.append(json.dumps({"type": "input_audio_buffer.speech_started"}))
    msgs += ["{", "[1,2]", '"{\\"type\\":\\"x\\"}"', '{"event": NaN}', '{"type": "\\ud800"}', json.dumps({"event": "media", "media": {"chunk": "1e3"}}),
             '{"event":"media","media":{"track":"inbound","chunk":"99","timestamp":"9","payload":"QUFB===="}}',
             '{"event":"media","media":{"track":"inbound","chunk":"100","timestamp":"10","payload":"QU!B"}}',
             '{"type":"response.audio.delta","item_id":"z","content_index":0,"delta":"QUFB="}', "1" * 30, b'{"event":"stop"}']
    for message in msgs:
        for receive in (call.receive_phone, call.receive_model):
            for out in receive(message):
                lines.append(out.json() if hasattr(out, "json") else repr(out))
    lines.append(repr(call.stats))
sys.stdout.write("\n".join(lines))
'''


def _scenario(no_accel: bool) -> str:
    env = dict(os.environ, AUDIOFMT_NO_ACCEL="1" if no_accel else "0", PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", SCENARIO], env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    return result.stdout


@pytest.mark.skipif(not _speedups.ACCELERATED, reason="orjson / pybase64 not installed")
def test_accelerators_change_no_byte_of_the_bridge_output():
    accelerated, stdlib = _scenario(no_accel=False), _scenario(no_accel=True)
    assert accelerated.count("\n") > 300 and '"input_audio_buffer.append"' in accelerated
    assert accelerated == stdlib


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                 lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3), max_leaves=8).map(json.dumps),
    st.text(max_size=30),
    st.binary(max_size=30),
))
def test_loads_is_json_loads(text):
    def outcome(loads):
        try:
            return ("ok", json.dumps(loads(text), allow_nan=True, sort_keys=False))
        except (ValueError, RecursionError):
            return ("error", None)
    assert outcome(_speedups.loads) == outcome(json.loads)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="AQgw+/=xyz09\n -_é", max_size=14) | st.binary(max_size=12).map(lambda b: base64.b64encode(b).decode()))
def test_b64decode_strict_is_binascii_strict(text):
    def outcome(decoder):
        try:
            return decoder(text)
        except ValueError:
            return "error"
    assert outcome(_speedups.b64decode_strict) == outcome(lambda t: binascii.a2b_base64(t, strict_mode=True))
    if outcome(_speedups.b64decode_strict) != "error":
        data = _speedups.b64decode_strict(text)
        assert _speedups.canonical_b64(text, len(data)) == (text == base64.b64encode(data).decode())


def _media(chunk: int, text: str) -> str:
    return json.dumps({"event": "media", "media": {"track": "inbound", "chunk": str(chunk), "timestamp": str(chunk * 20), "payload": text}})


def test_ulaw_text_is_forwarded_only_when_canonical():
    call = TwilioMediaStream({"input_audio_format": "g711_ulaw", "output_audio_format": "g711_ulaw"})
    call.receive_phone({"event": "start", "start": {"streamSid": "MZ1"}})
    frame = bytes(range(96, 256))
    canonical = base64.b64encode(frame).decode()
    (out,) = call.receive_phone(_media(1, canonical))
    assert isinstance(out, ToModel) and out.json() == '{"type":"input_audio_buffer.append","audio":"' + canonical + '"}'
    odd = canonical[:-3] + chr(ord(canonical[-3]) + 1) + "=="  # same bytes, non-zero trailing bits
    assert base64.b64decode(odd) == frame and odd != canonical
    (out,) = call.receive_phone(_media(2, odd))
    assert out.event["audio"] == canonical  # re-encoded: the model always gets canonical base64
    (out,) = call.receive_model({"type": "response.audio.delta", "item_id": "i", "content_index": 0, "delta": odd})
    assert isinstance(out, ToPhone) and out.message == {"event": "media", "streamSid": "MZ1", "media": {"payload": canonical}}
    (out,) = call.receive_model({"type": "response.audio.delta", "item_id": "i", "content_index": 0, "delta": canonical})
    assert out.json() == '{"event":"media","streamSid":"MZ1","media":{"payload":"' + canonical + '"}}'
    assert out == ToPhone({"event": "media", "streamSid": "MZ1", "media": {"payload": canonical}})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("src", "dst"), [("g711_ulaw", "pcm16"), ("pcm16", "g711_ulaw"), ("g711_alaw", "pcm16"), ("pcm16", "g711_alaw")])
def test_fused_path_is_the_generic_path_bit_for_bit(src, dst, dtype):
    fin, fout = FORMATS[src], FORMATS[dst]
    path = fused_path(fin, fout, "low_latency", dtype)
    if path is None:
        pytest.skip("the low_latency plan for these rates is not a single polyphase stage")
    assert path.dtype == dtype
    reference = Resampler(fin.rate_hz, fout.rate_hz, "low_latency")
    rng = np.random.default_rng(3)
    clipped = 0
    for k in range(300):
        n = int(rng.choice([0, 1, 7, 33, 3000, 9000])) if k % 4 == 0 else (480 if src == "pcm16" else 160)
        if src == "pcm16":
            scale = 40000 if k % 5 == 0 else 3000  # clipping included
            data = (rng.standard_normal(n) * scale).clip(-32768, 32767).astype(np.int16).tobytes()
        else:
            data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        ints, n_clipped = round_to_int16(reference.process(int16_to_float(decode(data, fin), dtype)).astype(np.float64))
        clipped += n_clipped
        expected = encode(ints, fout)
        if k % 3 == 0 and src == "pcm16":  # int16 samples in, as an array
            samples = np.frombuffer(data, dtype="<i2").astype(np.int16)
            samples.flags.writeable = k % 2 == 0  # both compiled variants
            assert bytes(path.process_int16(samples)) == expected, k
        elif k % 3 == 1 and dst == "pcm16":  # int16 samples out, as a new writable array
            got = path.process_samples(data)
            assert got.dtype == np.int16 and got.flags.writeable and got.tobytes() == expected, k
        else:
            assert path.process(data) == expected, k
        assert path.n_clipped == clipped, k
    assert clipped > 0 or src != "pcm16"
    assert path.flush() == encode(round_to_int16(reference.flush().astype(np.float64))[0], fout)


def test_import_audiofmt_loads_no_accelerator_or_numba():
    code = "import sys, audiofmt; print(any(m in sys.modules for m in ('numba', 'orjson', 'pybase64', 'audiofmt._speedups')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.stdout.strip() == "False"
