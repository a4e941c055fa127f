"""File conversion on real fixtures: every container and target, raw input, errors, atomicity, interop."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

import audiofmt
from audiofmt.files import AudioSource, FileFormatError, RawSpec, convert_file, decode_file, open_source, probe

from .conftest import REPO

FIXTURES = REPO / "fixtures"
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".caf", ".w64", ".m4a", ".webm", ".mp4", ".wma", ".amr"}
READABLE = sorted(
    p.name for p in FIXTURES.iterdir()
    if p.suffix in AUDIO_SUFFIXES and not p.name.startswith(("broken", "not_audio"))
)
BROKEN = {
    "broken_empty.wav": "empty",
    "broken_truncated_header.wav": "not a readable audio file",
    "broken_truncated_data.wav": "truncated",
    "not_audio.wav": "not a readable audio file",
}
TARGETS = ["pcm16", "g711_ulaw", "g711_alaw"]
CONTAINER_EXT = {"raw": {"pcm16": ".pcm", "g711_ulaw": ".ulaw", "g711_alaw": ".alaw"}, "wav": ".wav", "jsonl": ".jsonl"}


def _one_shot(path: Path, target: str) -> bytes:
    """The reference: read everything in one block, average channels, resample at once, encode.
    (That each reader's samples match ffmpeg's own decode is tested in test_readers.py.)"""
    with open_source(path, block_frames=1 << 30) as src:
        (x,) = list(src.blocks())
        rate = src.rate_hz
    mono = x[:, 0] if x.shape[1] == 1 else x.mean(axis=1)
    fmt = audiofmt.get_format(target)
    resampled = mono if rate == fmt.rate_hz else audiofmt.resample(mono, rate, fmt.rate_hz)
    return audiofmt.encode(resampled, fmt, clip="ignore")


def _payload(path: Path, container: str) -> bytes:
    """The encoded audio inside an output, whatever its container."""
    data = path.read_bytes()
    if container == "raw":
        return data
    if container == "jsonl":
        events = [json.loads(line) for line in data.decode().splitlines()]
        assert all(e["type"] == "input_audio_buffer.append" for e in events)
        return b"".join(base64.b64decode(e["audio"]) for e in events)
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    start = data.index(b"data") + 8
    size = int.from_bytes(data[start - 4 : start], "little")
    return data[start : start + size]


def _ext(container: str, target: str) -> str:
    ext = CONTAINER_EXT[container]
    return ext[target] if isinstance(ext, dict) else ext


@pytest.mark.parametrize("name", READABLE)
def test_every_fixture_converts_like_the_one_shot_path(name, tmp_path):
    out = tmp_path / "out.ulaw"
    result = convert_file(FIXTURES / name, out, "g711_ulaw", block_frames=4096)
    assert out.read_bytes() == _one_shot(FIXTURES / name, "g711_ulaw")
    assert result.samples_out == len(out.read_bytes())


@pytest.mark.parametrize("container", ["raw", "wav", "jsonl"])
@pytest.mark.parametrize("target", TARGETS)
def test_every_container_and_target(container, target, tmp_path):
    source = FIXTURES / "speech_44k_mono_pcm24.wav"
    out = tmp_path / f"out{_ext(container, target)}"
    convert_file(source, out, target)
    assert _payload(out, container) == _one_shot(source, target)
    if container == "wav":
        info = soundfile.info(out)
        fmt = audiofmt.get_format(target)
        assert (info.samplerate, info.channels, info.subtype) == (fmt.rate_hz, 1, {"pcm16": "PCM_16", "g711_ulaw": "ULAW", "g711_alaw": "ALAW"}[target])
        decoded, _ = soundfile.read(out, dtype="int16")
        assert np.array_equal(decoded, audiofmt.decode(_payload(out, "wav"), fmt))


def test_jsonl_events_are_chunked_whole_samples(tmp_path):
    out = tmp_path / "events.jsonl"
    convert_file(FIXTURES / "speech_16k_stereo_pcm16.wav", out, "pcm16", chunk_ms=40, event_id_prefix="f-")
    events = [json.loads(line) for line in out.read_text().splitlines()]
    sizes = [len(base64.b64decode(e["audio"])) for e in events]
    assert all(s == 40 * 48 for s in sizes[:-1]) and 0 < sizes[-1] <= 40 * 48 and sizes[-1] % 2 == 0
    assert [e["event_id"] for e in events[:3]] == ["f-1", "f-2", "f-3"]


def test_stereo_is_the_mean_of_the_channels(tmp_path):
    source = FIXTURES / "tone_1k_48k_stereo.wav"
    x, _ = soundfile.read(source, dtype="float64")
    out = tmp_path / "mono.pcm"
    convert_file(source, out, "pcm16")
    expected = audiofmt.encode(audiofmt.resample((x[:, 0] + x[:, 1]) / 2, 48000, 24000), "pcm16", clip="ignore")
    assert out.read_bytes() == expected


def test_block_size_does_not_change_a_sample(tmp_path):
    """The bytes are the same whatever the read block: odd and power-of-two sizes and one block
    for the whole 2 s file; 1- and 2-frame blocks on a 0.3 s FLAC cut from it (the per-frame
    cost of 1-frame reads is ~0.2 ms, so the whole file would take ~20 s). The cut is longer
    than the hq 48 -> 8 kHz chain's lookahead (241 ms), so its FFT stage emits a block while
    1-frame blocks stream in, and the rest at flush, as on the long file."""
    source = FIXTURES / "speech_48k_stereo.flac"
    samples, rate = soundfile.read(source, dtype="int16")
    cut = tmp_path / "cut.flac"
    soundfile.write(cut, samples[24000:38400], rate, subtype="PCM_16")  # loud speech, lossless

    def alaw(path: Path, block: int) -> bytes:
        out = tmp_path / f"{path.stem}_b{block}.alaw"
        convert_file(path, out, "g711_alaw", block_frames=block)
        return out.read_bytes()

    whole = alaw(source, 1 << 20)
    assert len(whole) == 16000 and len(set(whole)) > 100
    for block in (997, 4096, 65536):
        assert alaw(source, block) == whole, block
    whole_cut = alaw(cut, 1 << 20)
    for block in (1, 2):
        assert alaw(cut, block) == whole_cut, block


def test_raw_inputs(tmp_path):
    ulaw_wav, _ = soundfile.read(FIXTURES / "speech_8k_mono_ulaw.wav", dtype="int16")
    out = tmp_path / "from_raw.pcm"
    convert_file(FIXTURES / "speech_8k.ulaw", out, "pcm16", raw=RawSpec("g711_ulaw"))
    assert out.read_bytes() == audiofmt.encode(audiofmt.resample(ulaw_wav / 32768, 8000, 24000), "pcm16", clip="ignore")
    out2 = tmp_path / "s16.ulaw"
    convert_file(FIXTURES / "speech_16k_s16le.raw", out2, "g711_ulaw", raw=RawSpec("s16le", 16000))
    x = np.fromfile(FIXTURES / "speech_16k_s16le.raw", dtype="<i2") / 32768
    assert out2.read_bytes() == audiofmt.encode(audiofmt.resample(x, 16000, 8000), "g711_ulaw", clip="ignore")
    with pytest.raises(FileFormatError, match="needs a rate"):
        convert_file(FIXTURES / "speech_16k_s16le.raw", out2, "pcm16", raw=RawSpec("s16le"))
    with pytest.raises(FileFormatError, match="unknown raw format 'mp4'"):
        convert_file(FIXTURES / "speech_16k_s16le.raw", out2, "pcm16", raw=RawSpec("mp4", 8000))


@pytest.mark.parametrize("name,match", sorted(BROKEN.items()))
def test_broken_files_name_the_path_and_the_problem(name, match, tmp_path):
    out = tmp_path / "x.pcm"
    with pytest.raises(FileFormatError, match=match) as info:
        convert_file(FIXTURES / name, out, "pcm16")
    assert name in str(info.value)
    assert list(tmp_path.iterdir()) == []  # nothing half-written, no temp file


@pytest.mark.parametrize(("rate", "target"), [(48000, "pcm16"), (24000, "pcm16"), (8000, "g711_ulaw"), (44100, "g711_alaw")])
@pytest.mark.parametrize("bad", [np.nan, -np.inf])
def test_nan_or_inf_in_a_float_file_names_the_file_frame_and_channel(rate, target, bad, tmp_path):
    x = np.full((70010, 2), 0.25, dtype=np.float32)
    x[70001, 1] = bad  # in the second block of 65536 frames
    path = tmp_path / "bad.wav"
    soundfile.write(path, x, rate, subtype="FLOAT")
    kind = "NaN" if np.isnan(bad) else "infinite"
    match = rf"^bad\.wav: frame 70001 \({70001 / rate:.3f} s\), channel 1, is {kind}; float samples must be finite$"
    with pytest.raises(audiofmt.InvalidSamplesError) as info:
        convert_file(path, tmp_path / "out.pcm", target)
    assert re.match(match, str(info.value).replace(str(tmp_path) + "/", "")), str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.wav"]  # nothing written, no temp file
    with pytest.raises(audiofmt.InvalidSamplesError) as info:
        convert_file(path, tmp_path / "out.pcm", target, channel=1)
    assert "frame 70001" in str(info.value) and "channel 1" in str(info.value)
    convert_file(path, tmp_path / "out.pcm", target, channel=0)  # the bad sample is in a channel not used
    with pytest.raises(audiofmt.InvalidSamplesError) as info:
        probe(path)
    assert re.match(match, str(info.value).replace(str(tmp_path) + "/", "")), str(info.value)


def test_a_wav_whose_header_was_never_completed_is_read_to_its_end(tmp_path):
    """A recorder that could not seek back (a pipe) or stopped before it did leaves data size 0:
    the audio runs to the end of the file, as FFmpeg and sox read it (and as stdin already did)."""
    x = (np.arange(3000, dtype=np.int16) * 7).reshape(1500, 2)
    path = tmp_path / "unfinished.wav"
    soundfile.write(path, x, 16000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    at = data.index(b"data")
    data[at + 4 : at + 8] = (0).to_bytes(4, "little")
    data[4:8] = (36).to_bytes(4, "little")  # the RIFF size of the empty header too
    path.write_bytes(bytes(data))
    with open_source(path) as src:
        assert (src.rate_hz, src.channels) == (16000, 2)
        np.testing.assert_array_equal(np.concatenate(list(src.blocks(int16=src.int16_exact))), x if src.int16_exact else x / 32768)
    assert convert_file(path, tmp_path / "out.pcm", "pcm16").frames_in == 1500
    assert probe(path).frames == 1500
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, dtype=np.int16), 16000, subtype="PCM_16")
    with pytest.raises(FileFormatError, match=r"empty\.wav: no audio frames"):
        convert_file(empty, tmp_path / "out2.pcm", "pcm16")


def test_wrong_extensions_are_read_by_content():
    assert open_source(FIXTURES / "mp3_named_as.wav").container == "MP3"
    assert open_source(FIXTURES / "flac_named_as.ogg").container == "FLAC"
    assert open_source(FIXTURES / "wav_named_as.mp3").container == "WAV"


def test_failure_midway_leaves_no_output(tmp_path):
    out = tmp_path / "partial.pcm"
    out.write_bytes(b"old content")
    odd = tmp_path / "odd.raw"
    odd.write_bytes(b"\0" * 200001)  # a trailing half sample: fails after blocks were written
    with pytest.raises(FileFormatError, match="trailing byte"):
        convert_file(odd, out, "pcm16", raw=RawSpec("s16le", 16000), block_frames=1000)
    assert out.read_bytes() == b"old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.raw", "partial.pcm"]

    def interrupt(_done: int, _total: int | None) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        convert_file(FIXTURES / "speech_48k_stereo.flac", tmp_path / "new.wav", "pcm16", progress=interrupt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.raw", "partial.pcm"]


def test_probe():
    info = probe(FIXTURES / "tone_1k_48k_stereo.wav")
    assert (info.container, info.subtype, info.rate_hz, info.channels, info.frames) == ("WAV", "PCM_16", 48000, 2, 48000)
    assert info.duration_s == 1.0 and -6.1 < info.peak_dbfs < -5.9
    assert probe(FIXTURES / "silence_16k.wav").peak_dbfs == float("-inf")
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.frames = 0  # type: ignore[misc]
    assert info.to_dict()["frames"] == 48000 and info.to_dict()["warnings"] == []


@pytest.mark.parametrize("target", TARGETS)
def test_decode_jsonl_and_raw_to_files(target, tmp_path):
    fmt = audiofmt.get_format(target)
    data = _one_shot(FIXTURES / "speech_16k_mono_float32.wav", target)
    pieces = [data[i : i + 1000 * fmt.bytes_per_sample] for i in range(0, len(data), 1000 * fmt.bytes_per_sample)]
    deltas = tmp_path / "deltas.jsonl"
    lines = [{"type": "response.created"}] + [
        {"type": "response.output_audio.delta", "item_id": "it", "content_index": 0, "delta": base64.b64encode(p).decode()} for p in pieces
    ]
    deltas.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    raw = tmp_path / "reply.bin"
    raw.write_bytes(data)
    for source, out in ((deltas, tmp_path / "a.wav"), (raw, tmp_path / "b.flac")):
        decode_file(source, out, target, rate_hz=16000)
        got, rate = soundfile.read(out, dtype="int16")
        expected, _ = audiofmt.float_to_int16(audiofmt.resample(audiofmt.decode(data, fmt) / 32768, fmt.rate_hz, 16000), clip="ignore")
        assert rate == 16000 and np.array_equal(got, expected)
    decode_file(raw, tmp_path / "c.pcm", target)
    assert np.array_equal(np.fromfile(tmp_path / "c.pcm", dtype="<i2"), audiofmt.decode(data, fmt))


def test_decode_reports_the_bad_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "response.audio.delta", "item_id": "i", "content_index": 0, "delta": "AAAAAA=="}\n{"type": "response.audio.delta", "item_id": "i", "content_index": 0, "delta": "!!"}\n')
    with pytest.raises(audiofmt.AudioFormatError, match="line 2"):
        decode_file(bad, tmp_path / "x.wav", "pcm16")
    assert not (tmp_path / "x.wav").exists()


needs_tools = pytest.mark.skipif(not (shutil.which("ffmpeg") and shutil.which("sox")), reason="ffmpeg and sox are not installed")


@needs_tools
@pytest.mark.parametrize("target", TARGETS)
def test_ffmpeg_and_sox_read_our_wavs_to_the_same_samples(target, tmp_path):
    out = tmp_path / "ours.wav"
    convert_file(FIXTURES / "speech_16k.wav", out, target)
    expected = audiofmt.decode(_payload(out, "wav"), target)
    via_ffmpeg = subprocess.run(["ffmpeg", "-v", "error", "-i", str(out), "-f", "s16le", "-"], capture_output=True, check=True).stdout
    via_sox = subprocess.run(["sox", str(out), "-t", "raw", "-e", "signed", "-b", "16", "-"], capture_output=True, check=True).stdout
    assert np.array_equal(np.frombuffer(via_ffmpeg, "<i2"), expected)
    assert np.array_equal(np.frombuffer(via_sox, "<i2"), expected)


@needs_tools
@pytest.mark.parametrize("law,sox_enc,ffmpeg_codec", [("ULAW", "u-law", "pcm_mulaw"), ("ALAW", "a-law", "pcm_alaw")])
def test_g711_wavs_from_sox_and_ffmpeg_read_like_libsndfile(law, sox_enc, ffmpeg_codec, tmp_path):
    source = FIXTURES / "speech_8k.wav"
    by_sox, by_ffmpeg = tmp_path / "sox.wav", tmp_path / "ffmpeg.wav"
    subprocess.run(["sox", str(source), "-e", sox_enc, str(by_sox)], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), "-c:a", ffmpeg_codec, str(by_ffmpeg)], check=True)
    for path in (by_sox, by_ffmpeg):
        via_libsndfile, _ = soundfile.read(path, dtype="int16")
        assert soundfile.info(path).subtype == law
        codes = _payload(path, "wav")
        fmt = "g711_ulaw" if law == "ULAW" else "g711_alaw"
        assert np.array_equal(audiofmt.decode(codes, fmt), via_libsndfile)
        out = tmp_path / "again.pcm"
        convert_file(path, out, "pcm16")
        assert out.read_bytes() == audiofmt.encode(audiofmt.resample(via_libsndfile / 32768, 8000, 24000), "pcm16", clip="ignore")


def test_jsonl_events_read_back_as_input(tmp_path):
    events = tmp_path / "speech.jsonl"
    convert_file(FIXTURES / "speech_48k_stereo.flac", events, "pcm16")
    assert probe(events, RawSpec("pcm16")).frames == 48000
    again = tmp_path / "again.pcm"
    convert_file(events, again, "pcm16", raw=RawSpec("pcm16"))
    assert again.read_bytes() == _payload(events, "jsonl")
    with pytest.raises(FileFormatError, match="mono session format"):
        probe(events, RawSpec("s16le", 24000))


@pytest.mark.parametrize("target", TARGETS)
def test_jsonl_saved_with_a_utf8_bom_reads_like_without(target, tmp_path):
    """Editors and PowerShell save logs with a UTF-8 byte order mark: still JSONL, same samples
    (it was taken for raw bytes: noise for G.711, a "trailing byte" error for pcm16)."""
    fmt = audiofmt.get_format(target)
    data = audiofmt.encode((np.random.default_rng(9).standard_normal(4000) * 3000).astype(np.int16), fmt)
    lines = [
        {"type": "response.output_audio.delta", "item_id": "it", "content_index": 0, "delta": base64.b64encode(data[i : i + 800]).decode()}
        for i in range(0, len(data), 800)
    ]
    text = "\r\n".join(json.dumps(line) for line in lines) + "\r\n"
    long_line = json.dumps({**lines[0], "delta": base64.b64encode(data * 300).decode()})  # the long-line reader
    for i, body in enumerate((text, long_line)):
        log = tmp_path / f"bom{i}.jsonl"
        log.write_bytes(b"\xef\xbb\xbf" + body.encode())
        decode_file(log, tmp_path / f"bom{i}.pcm", target)
        assert (tmp_path / f"bom{i}.pcm").read_bytes() == audiofmt.decode(data if i == 0 else data * 300, fmt).astype("<i2").tobytes()
    appends = tmp_path / "appends.jsonl"
    appends.write_bytes(b"\xef\xbb\xbf" + text.replace("response.output_audio.delta", "input_audio_buffer.append").replace('"delta"', '"audio"').encode())
    convert_file(appends, tmp_path / "again.raw", target, raw=RawSpec(target))
    assert (tmp_path / "again.raw").read_bytes() == audiofmt.encode(audiofmt.decode(data, fmt), fmt)  # μ-law -0 codes become +0


_PEAK_RSS_CHILD = """
import sys
from audiofmt.files import convert_file
convert_file(sys.argv[1], sys.argv[2], "pcm16")
status = open("/proc/self/status").read()
print(next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc to read a process's peak memory")
def test_memory_stays_bounded_whatever_the_length(tmp_path):
    """Peak memory (VmHWM of the converting process itself) for 3 minutes of 48 kHz stereo is
    within a few MB of that for 1 second: the file is never held in memory."""
    import subprocess
    import sys

    rng = np.random.default_rng(5)
    short, long = tmp_path / "short.wav", tmp_path / "long.wav"
    soundfile.write(short, rng.standard_normal((48000, 2)) * 0.1, 48000, subtype="PCM_16")
    with soundfile.SoundFile(long, "w", 48000, 2, "PCM_16") as out:
        for _ in range(180):
            out.write(rng.standard_normal((48000, 2)) * 0.1)

    def peak_kib(source: Path) -> int:
        run = subprocess.run([sys.executable, "-c", _PEAK_RSS_CHILD, str(source), str(tmp_path / "out.pcm")],
                             capture_output=True, text=True, check=True)
        return int(run.stdout.strip())

    growth_mib = (peak_kib(long) - peak_kib(short)) / 1024
    assert long.stat().st_size > 30 * 2**20  # the input alone would be 33 MiB in memory, 66 MiB as float64
    assert growth_mib < 16, f"peak memory grew by {growth_mib:.1f} MiB for 180x more audio"


_INT16_FIXTURES = ["tone_1k_48k_stereo.wav", "speech_48k_stereo.flac", "speech_8k_mono_alaw.wav", "speech_8k_mono_ulaw.wav",
                   "speech_16k_stereo_pcm16.wav", "speech_22k.caf", "speech_22k.w64", "speech_22k_rf64.wav",
                   "speech_8k_stereo_pcm16.aiff", "noise_44k.flac", "speech_16k.wav"]
_OTHER_FIXTURES = ["speech_16k_mono_float32.wav", "speech_44k_mono_pcm24.wav", "speech_44k_mono.mp3", "speech_48k_stereo.opus",
                   "speech_44k_mono.m4a", "speech_8k.amr", "speech_22k_mono.wma", "speech_44k_stereo.ogg"]


@pytest.mark.parametrize("name", _INT16_FIXTURES + _OTHER_FIXTURES)
def test_int16_blocks_are_the_float_blocks_times_32768(name):
    """Sources of 16-bit samples are read as int16 by conversions: exactly the float64 samples.
    Others (24-bit, float, lossy decoders' float output) are read as float64 only."""
    with open_source(FIXTURES / name) as src:
        if name in _OTHER_FIXTURES and not src.int16_exact:
            with pytest.raises(audiofmt.AudioFormatError, match="not 16-bit integers"):
                src.blocks(int16=True)
            return
        assert src.int16_exact, name
        floats, ints = np.concatenate(list(src.blocks())), np.concatenate(list(src.blocks(int16=True)))
    assert ints.dtype == np.int16 and np.array_equal(ints * (1 / 32768), floats)


def test_int16_blocks_from_ffmpeg_and_raw(tmp_path):
    raw = tmp_path / "x.s16"
    raw.write_bytes(np.arange(-3000, 3000, dtype="<i2").tobytes())
    with open_source(raw, RawSpec("s16le", 16000, 2)) as src:
        assert src.int16_exact and np.array_equal(np.concatenate(list(src.blocks(int16=True))) / 32768, np.concatenate(list(src.blocks())))
    with open_source(raw, RawSpec("f32le", 16000)) as src:
        assert not src.int16_exact
        with pytest.raises(audiofmt.AudioFormatError, match="not 16-bit integers"):
            src.blocks(int16=True)
    with open(FIXTURES / "speech_48k_stereo.flac", "rb") as stream, open_source(stream) as src:  # a stream: FFmpeg reads it
        assert src.int16_exact and src.blocks(int16=True).__next__().dtype == np.int16


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 5, 8, 9])
def test_the_mean_of_int16_blocks_is_the_mean_of_their_floats(channels):
    from audiofmt.files.pipeline import Pipeline
    from audiofmt.formats import FORMATS
    from audiofmt.resampler.core import channel_mean

    rng = np.random.default_rng(channels)
    block = rng.integers(-32768, 32768, size=(5000, channels), dtype=np.int16)
    block[:3] = -32768
    block[3:6] = 32767
    src = AudioSource("x", 24000, channels, None, "RAW", "s16le", lambda *_: iter([block]), int16_exact=True)
    for channel in (None, channels - 1):
        pipe = Pipeline(src, FORMATS["pcm16"], "hq", channel, None)
        expected = channel_mean(block * (1 / 32768)) if channel is None else block[:, channel] * (1 / 32768)
        got = pipe._mono_of_int16(block)
        assert got.dtype == np.float64 and got.flags.c_contiguous and np.array_equal(got, expected)


def test_numpy_twins_match_the_kernels_on_every_input():
    """Conversions without a resampler round and encode in numpy (numba never loads): the same
    codes and samples as the kernels, for all 65536 int16 inputs and the float rule's edges."""
    from audiofmt.files.numpy_codec import encode, round_to_int16
    from audiofmt.formats import FORMATS

    every = np.arange(65536, dtype=np.uint16).view(np.int16)
    for fmt in ("g711_ulaw", "g711_alaw"):
        assert encode(every, FORMATS[fmt]) == audiofmt.encode(every, fmt)
    assert encode(every, FORMATS["pcm16"]) == audiofmt.encode(every, "pcm16")
    rng = np.random.default_rng(7)
    halves = (np.arange(-33000, 33000) + 0.5) / 32768  # every tie, and past both ends
    x = np.concatenate([rng.uniform(-1.5, 1.5, 100_000), halves, [1.0, -1.0, 0.0, -0.0, 32767.5 / 32768, -32768.5 / 32768]])
    got, expected = round_to_int16(x), audiofmt.float_to_int16(x, clip="ignore")
    assert np.array_equal(got[0], expected[0]) and got[1] == expected[1] > 0
    bad = x.copy()
    bad[[5, 9]] = [np.nan, np.inf]
    with pytest.raises(audiofmt.InvalidSamplesError) as numpy_error:
        round_to_int16(bad)
    with pytest.raises(audiofmt.InvalidSamplesError) as kernel_error:
        audiofmt.float_to_int16(bad, clip="ignore")
    assert str(numpy_error.value) == str(kernel_error.value)


def _convert_1s_stereo_without_numba(rate: int, to: str, tmp_path: Path) -> np.ndarray:
    """Convert 1 s of a stereo PCM_16 WAV at `rate` to `to` (out.raw) in a fresh process, check
    that numba never loaded, and return the input's int16 samples."""
    t = np.arange(rate) / rate
    stereo = np.stack([0.7 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 1000 * t + 0.3)], axis=1)
    source = tmp_path / "in.wav"
    soundfile.write(source, stereo, rate, subtype="PCM_16")
    code = (f"import sys; from audiofmt.cli import main; rc = main(['convert', {str(source)!r}, '-o', {str(tmp_path / 'out.raw')!r}, "
            f"'--to', {to!r}, '-q']); print(rc, 'numba' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["0", "False"], done.stderr
    ints = soundfile.read(source, dtype="int16")[0]
    return ints


@pytest.mark.parametrize(("rate", "to"), [(8000, "g711_ulaw"), (8000, "g711_alaw"), (24000, "pcm16")])
def test_a_conversion_without_resampling_loads_no_numba(rate, to, tmp_path):
    ints = _convert_1s_stereo_without_numba(rate, to, tmp_path)
    mean, _ = audiofmt.float_to_int16((ints[:, 0] / 32768 + ints[:, 1] / 32768) / 2, clip="ignore")
    assert (tmp_path / "out.raw").read_bytes() == audiofmt.encode(mean, to)


@pytest.mark.parametrize(("rate", "to"), [(48000, "pcm16"), (44100, "pcm16"), (16000, "g711_ulaw"), (16000, "pcm16")])
def test_a_conversion_by_the_fft_engine_alone_loads_no_numba(rate, to, tmp_path):
    """hq plans made of the FFT engine alone run its spectral step in numpy (resampler.numpy_spectrum)
    and round in numpy: numba never loads, and the output is what the kernels give."""
    ints = _convert_1s_stereo_without_numba(rate, to, tmp_path)
    mean = (ints[:, 0] / 32768 + ints[:, 1] / 32768) / 2
    resampled, _ = audiofmt.float_to_int16(audiofmt.resample(mean, rate, audiofmt.get_format(to).rate_hz), clip="ignore")
    assert (tmp_path / "out.raw").read_bytes() == audiofmt.encode(resampled, to)


@pytest.mark.parametrize("raw_args", [["--raw-format", "s16le", "--raw-rate", "24000", "--raw-channels", "2"], ["--raw-format", "pcm16"]])
def test_raw_pcm_at_the_formats_rate_loads_no_numba(raw_args, tmp_path):
    source = tmp_path / "in.raw"
    ints = (np.sin(np.arange(48000) / 7) * 20000).astype("<i2")
    source.write_bytes(ints.tobytes())
    code = (f"import sys; from audiofmt.cli import main; rc = main(['convert', {str(source)!r}, *{raw_args!r}, "
            f"'-o', {str(tmp_path / 'out.pcm')!r}, '--to', 'pcm16', '-q']); print(rc, 'numba' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["0", "False"], done.stderr
    x = ints.astype(np.int64)
    expected = x if "pcm16" in raw_args else np.rint((x[0::2] + x[1::2]) / 2).astype(np.int16)  # the mean, ties to even
    assert (tmp_path / "out.pcm").read_bytes() == expected.astype("<i2").tobytes()


def test_rate_is_rate_hz_and_the_old_names_still_work(tmp_path):
    """One name for a rate in Hz: RawSpec.rate_hz, AudioSource.rate_hz, decode_file(rate_hz=); the
    old names keep working with a DeprecationWarning."""
    with pytest.warns(DeprecationWarning, match="rate= is now rate_hz="):
        old = RawSpec("s16le", rate=16000)
    assert old == RawSpec("s16le", 16000) == RawSpec("s16le", rate_hz=16000)
    with pytest.warns(DeprecationWarning, match="RawSpec.rate is now rate_hz"):
        assert old.rate == 16000
    with open_source(FIXTURES / "speech_16k_s16le.raw", RawSpec("s16le", rate_hz=16000)) as src:
        assert src.rate_hz == 16000
        with pytest.warns(DeprecationWarning, match="AudioSource.rate is now rate_hz"):
            assert src.rate == 16000
    data = tmp_path / "reply.pcm"
    data.write_bytes(audiofmt.encode(np.zeros(2400, dtype=np.int16), "pcm16"))
    with pytest.warns(DeprecationWarning, match="rate= is now rate_hz="):
        result = decode_file(data, tmp_path / "a.wav", "pcm16", rate=16000)
    assert result == decode_file(data, tmp_path / "a.wav", "pcm16", rate_hz=16000)
