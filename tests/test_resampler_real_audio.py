"""Real-audio aliasing checks (issue 11): strong content just above the lower Nyquist N, beside
speech, through every path that resamples: convert_file, InputEncoder, OutputDecoder and the
Twilio bridge's pcm16 session. Nothing of it may land below N.

The measure. Each path runs twice on the same speech (a fixture, repeated to 10 s): once with a
tone pair at 1.02 N and 1.08 N added (each at amplitude 0.3, -10.5 dBFS), once without. The
paths are linear up to rounding, so the difference of the two int16 outputs holds what the
tones produced plus the difference of two roundings to int16 (white, about -98 dBFS RMS in
all). Its spectrum (Kaiser β = 20 window, 10 s, levels as the amplitude of a sinusoid re full
scale) is read at the two alias frequencies out_rate - f (0.98 N and 0.92 N), the highest bin
within ±4 bins: that is the aliased tone's level in dBFS. The rounding noise reads about
-145 dBFS per bin there, well below both limits: hq -130 dBFS, low_latency -100 dBFS. (With
hq the two outputs are usually bit-identical once the tones' switch-on transient has passed: the
reading is then -6000 dB, the floor of the log. With the old filters, whose transition ran to
1.1 N, every one of these tests failed: the aliases measured -22.8 to -24.2 dBFS.)

μ-law output cannot show anything below its own quantisation noise (about -45 dB re the signal),
so the bridge's model -> phone direction is checked with the tone pair alone: its μ-law output
must be digital silence (every sample decodes to 0, i.e. below half an int16 step, -96 dBFS).
The phone -> model direction upsamples 8 kHz to 24 kHz: there the check is on images, everything
in the pcm16 output from 1.01 N up must stay below -100 dBFS.
"""

from __future__ import annotations

import base64

import numpy as np
import pytest
import soundfile

import audiofmt
from audiofmt.bridge import ToModel, ToPhone, TwilioMediaStream
from audiofmt.realtime import InputEncoder, OutputDecoder

from .conftest import REPO

LIMIT_DBFS = {"hq": -130.0, "low_latency": -100.0}
TONE_AMPLITUDE = 0.3
SECONDS = 10


def _speech(rate: int) -> np.ndarray:
    """SECONDS of fixture speech at `rate` (float64, peak 0.3): the 48 kHz fixture downmixed, or
    the 16 kHz one converted with vhq, repeated end to end."""
    if rate in (48000, 44100):
        name = "speech_48k_stereo.flac" if rate == 48000 else "speech_44k_mono_pcm24.wav"
        x, file_rate = soundfile.read(REPO / "fixtures" / name, dtype="float64", always_2d=True)
        x = x.mean(axis=1)
        assert file_rate == rate
    else:
        x, file_rate = soundfile.read(REPO / "fixtures" / "speech_16k.wav", dtype="float64")
        x = audiofmt.resample(x, file_rate, rate, "vhq")
    x = np.tile(x, -(-SECONDS * rate // x.shape[0]))[: SECONDS * rate]
    return 0.3 * x / np.abs(x).max()


def _tones(rate: int, nyquist: float) -> np.ndarray:
    """The tone pair at 1.02 N and 1.08 N, at `rate`."""
    t = np.arange(SECONDS * rate) / rate
    return TONE_AMPLITUDE * (np.sin(2 * np.pi * 1.02 * nyquist * t) + np.sin(2 * np.pi * 1.08 * nyquist * t + 1.0))


def _level_dbfs(d: np.ndarray, rate: int, f_hz: float) -> float:
    """Level (dBFS, as a sinusoid's amplitude) of the component of d (full scale 1.0) at f_hz."""
    window = np.kaiser(d.shape[0], 20.0)
    spectrum = np.abs(np.fft.rfft(d * window)) * 2 / window.sum()
    k = round(f_hz * d.shape[0] / rate)
    return float(20 * np.log10(spectrum[k - 4 : k + 5].max() + 1e-300))


def _alias_levels(with_tones: np.ndarray, without: np.ndarray, out_rate: int) -> list[float]:
    """dBFS of the aliases of the 1.02 N and 1.08 N tones in the difference of two int16 outputs
    (the first and last 0.5 s, where the filters' switch-on and -off transients sit, left out)."""
    n = min(with_tones.shape[0], without.shape[0])
    edge = out_rate // 2
    d = (with_tones[edge : n - edge].astype(np.float64) - without[edge : n - edge]) / 32768
    nyquist = out_rate / 2
    return [_level_dbfs(d, out_rate, out_rate - k * nyquist) for k in (1.02, 1.08)]


def _check(levels: list[float], quality: str, reference_levels: list[float]) -> None:
    """Aliases below the limit, and the measurement able to see them: the tone pair itself, read
    the same way at its own frequencies in the input, is where it was put (-10.5 dBFS)."""
    assert all(abs(level - 20 * np.log10(TONE_AMPLITUDE)) < 0.1 for level in reference_levels)
    assert max(levels) < LIMIT_DBFS[quality], levels


def _input_tone_levels(x: np.ndarray, rate: int, nyquist: float) -> list[float]:
    return [_level_dbfs(x, rate, k * nyquist) for k in (1.02, 1.08)]


@pytest.mark.parametrize("quality", ["hq", "low_latency"])
@pytest.mark.parametrize("in_rate", [48000, 44100])
def test_convert_file_leaves_no_alias_below_nyquist(tmp_path, in_rate, quality):
    speech, tones = _speech(in_rate), _tones(in_rate, 12000.0)
    outputs = []
    for name, x in (("with", speech + tones), ("without", speech)):
        source = tmp_path / f"{name}.wav"
        soundfile.write(source, x, in_rate, subtype="DOUBLE")
        audiofmt.convert_file(source, tmp_path / f"{name}_24k.wav", "pcm16", quality=quality)
        y, rate = soundfile.read(tmp_path / f"{name}_24k.wav", dtype="int16")
        assert rate == 24000
        outputs.append(y)
    _check(_alias_levels(*outputs, 24000), quality, _input_tone_levels(tones, in_rate, 12000.0))


@pytest.mark.parametrize("quality", ["hq", "low_latency"])
def test_input_encoder_leaves_no_alias_below_nyquist(quality):
    speech, tones = _speech(48000), _tones(48000, 12000.0)
    session = {"input_audio_format": "pcm16", "output_audio_format": "pcm16"}
    outputs = []
    for x in (speech + tones, speech):
        encoder = InputEncoder(session, rate_hz=48000, quality=quality, chunk_ms=20)
        events = [e for i in range(0, x.shape[0], 960) for e in encoder.process(x[i : i + 960])] + encoder.flush()
        outputs.append(np.frombuffer(b"".join(base64.b64decode(e["audio"]) for e in events), dtype="<i2"))
    _check(_alias_levels(*outputs, 24000), quality, _input_tone_levels(tones, 48000, 12000.0))


@pytest.mark.parametrize("quality", ["hq", "low_latency"])
def test_output_decoder_leaves_no_alias_below_nyquist(quality):
    """Model output at 24 kHz (pcm16: the tones at 4080 and 4320 Hz are rounded to int16 with the
    speech) decoded to 8 kHz."""
    speech, tones = _speech(24000), _tones(24000, 4000.0)
    session = {"input_audio_format": "pcm16", "output_audio_format": "pcm16"}
    outputs = []
    for x in (speech + tones, speech):
        data = audiofmt.encode(audiofmt.float_to_int16(x)[0], "pcm16")
        decoder = OutputDecoder(session, rate_hz=8000, quality=quality)
        pieces = [decoder.feed(data[i : i + 960]) for i in range(0, len(data), 960)]
        outputs.append(np.concatenate(pieces + [decoder.flush()]))
    _check(_alias_levels(*outputs, 8000), quality, _input_tone_levels(tones, 24000, 4000.0))


def _bridge() -> TwilioMediaStream:
    bridge = TwilioMediaStream({"input_audio_format": "pcm16", "output_audio_format": "pcm16"})
    bridge.receive_phone({"event": "connected", "protocol": "Call", "version": "1.0.0"})
    bridge.receive_phone({"event": "start", "sequenceNumber": "1", "streamSid": "MZ1", "start": {
        "streamSid": "MZ1", "callSid": "CA1", "customParameters": {},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})
    return bridge


def test_bridge_pcm16_model_to_phone_leaves_no_alias_below_nyquist():
    """24 kHz pcm16 from the model, the tone pair at 1.02 N and 1.08 N of the phone's 8 kHz:
    the μ-law the phone gets is silence (the old filters sent a -29 dB alias at 3.8 kHz)."""
    tones = audiofmt.float_to_int16(_tones(24000, 4000.0)[: 3 * 24000])[0]
    bridge = _bridge()
    out = []
    for i in range(0, tones.shape[0], 480):
        delta = base64.b64encode(audiofmt.encode(tones[i : i + 480], "pcm16")).decode()
        out += bridge.receive_model({"type": "response.audio.delta", "response_id": "r", "item_id": "item_1",
                                     "output_index": 0, "content_index": 0, "delta": delta})
    payloads = [base64.b64decode(o.message["media"]["payload"]) for o in out
                if isinstance(o, ToPhone) and o.message["event"] == "media"]
    phone = audiofmt.decode(b"".join(payloads), "g711_ulaw")
    assert phone.shape[0] >= 2 * 8000
    assert not np.any(phone[400:-400])  # after the switch-on transient (6 ms of look-ahead)


def test_bridge_pcm16_phone_to_model_leaves_no_image_above_nyquist():
    """8 kHz μ-law from the phone (speech and tones at 0.92 N and 0.98 N, whose images would
    land at 1.08 N and 1.02 N) upsampled to the model's 24 kHz pcm16: everything from 1.01 N up
    stays below -100 dBFS."""
    t = np.arange(SECONDS * 8000) / 8000
    x = _speech(8000) + TONE_AMPLITUDE * (np.sin(2 * np.pi * 3680 * t) + np.sin(2 * np.pi * 3920 * t))
    ulaw = audiofmt.encode(audiofmt.float_to_int16(x)[0], "g711_ulaw")
    bridge = _bridge()
    out = []
    for i in range(0, len(ulaw), 160):
        payload = base64.b64encode(ulaw[i : i + 160]).decode()
        out += bridge.receive_phone({"event": "media", "streamSid": "MZ1", "sequenceNumber": str(i // 160 + 2), "media": {
            "track": "inbound", "chunk": str(i // 160 + 1), "timestamp": str(i // 8), "payload": payload}})
    model = np.frombuffer(b"".join(base64.b64decode(o.event["audio"]) for o in out if isinstance(o, ToModel)), dtype="<i2")
    y = model[12000:-12000].astype(np.float64) / 32768
    window = np.kaiser(y.shape[0], 20.0)
    spectrum = np.abs(np.fft.rfft(y * window)) * 2 / window.sum()
    freqs = np.fft.rfftfreq(y.shape[0], 1 / 24000)
    in_band = 20 * np.log10(spectrum[(freqs > 3600) & (freqs < 4000)].max())
    assert in_band > -30  # the tones are there (low_latency's transition band already dims 0.92-0.98 N)
    assert 20 * np.log10(spectrum[freqs >= 1.01 * 4000].max()) < LIMIT_DBFS["low_latency"]
