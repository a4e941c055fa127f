"""The two readers (libsndfile, FFmpeg through PyAV) against ffmpeg's own decode; damaged inputs;
pipes; inputs that hold no audio refused by content; JSON Lines of any line length."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from audiofmt.sources import RawSpec, open_source, sniff

import audiofmt
from audiofmt.cli import main
from audiofmt.errors import DamagedFileError, FileFormatError, StreamStateError
from audiofmt.files import convert_file, decode_file, probe
from audiofmt.files.jsonl_source import LONG_LINE_BYTES

from .conftest import REPO
from .test_files import READABLE

FIXTURES = REPO / "fixtures"
needs_ffmpeg = pytest.mark.skipif(not shutil.which("ffmpeg"), reason="ffmpeg is not installed")
# PyAV's wheels bring FFmpeg 8 here, the system's ffmpeg is 5.1: their float decoders (MP3, AAC,
# Opus, Vorbis, WMA) agree to 1 float32 ulp near full scale (2^-23, measured on every fixture), so
# two ulps; integer PCM, FLAC and G.711 must be exact.
TOLERANCE = 2.0**-22
LIBSNDFILE = {"WAV", "RF64", "W64", "AIFF", "CAF", "FLAC"}


def _ffmpeg_decode(path: Path, channels: int, stdin: bytes | None = None) -> np.ndarray:
    """ffmpeg -i X -f f32le -acodec pcm_f32le - : what ffmpeg itself makes of a file."""
    source = "-" if stdin is not None else str(path)
    run = subprocess.run(["ffmpeg", "-v", "error", "-i", source, "-f", "f32le", "-acodec", "pcm_f32le", "-"],
                         input=stdin, capture_output=True, check=True)
    return np.frombuffer(run.stdout, dtype="<f4").reshape(-1, channels).astype(np.float64)


def _read(path: Path | str, block_frames: int = 4096) -> tuple[np.ndarray, object]:
    with open_source(path, block_frames=block_frames) as src:
        blocks = list(src.blocks())
        return np.concatenate(blocks), src


@needs_ffmpeg
@pytest.mark.parametrize("name", READABLE)
def test_both_readers_match_ffmpeg(name):
    samples, src = _read(FIXTURES / name)
    expected = _ffmpeg_decode(FIXTURES / name, src.channels)
    assert samples.shape == expected.shape
    lossless = src.container in LIBSNDFILE and src.subtype != "FLOAT"
    # float32 WAV: ffmpeg's float output is the file's own values, exact too
    assert np.max(np.abs(samples - expected)) <= (0.0 if lossless or src.subtype == "FLOAT" else TOLERANCE)


@pytest.mark.parametrize(
    "name,container,reader",
    [("speech_44k_mono.m4a", "MP4", "ffmpeg"), ("speech_48k_mono.webm", "WEBM", "ffmpeg"), ("speech_8k.amr", "AMR", "ffmpeg"),
     ("speech_22k_mono.wma", "ASF", "ffmpeg"), ("speech_22k_stereo.mp3", "MP3", "ffmpeg"), ("speech_44k_stereo.ogg", "OGG", "ffmpeg"),
     ("speech_48k_stereo.flac", "FLAC", "libsndfile"), ("speech_8k_mono_ulaw.wav", "WAV", "libsndfile")],
)
def test_reader_chosen_by_content_not_name(name, container, reader, tmp_path):
    disguised = tmp_path / "recording.wav" if not name.endswith(".wav") else tmp_path / "recording.m4a"
    shutil.copyfile(FIXTURES / name, disguised)
    with open_source(disguised) as src:
        assert src.container == container
        assert (src.subtype in {"PCM_16", "ULAW", "ALAW", "FLOAT", "PCM_24"}) == (reader == "libsndfile")
    assert sniff((FIXTURES / name).read_bytes()[:4096]) in {container, "WEBM"}


def test_mp3_streams_in_blocks():
    """MP3 is no longer read whole: blocks come in the size asked for, and equal one whole read."""
    with open_source(FIXTURES / "speech_22k_stereo.mp3", block_frames=1000) as src:
        sizes = [b.shape[0] for b in src.blocks()]
    assert sizes[:-1] == [1000] * (len(sizes) - 1) and sum(sizes) == 44100
    assert np.array_equal(_read(FIXTURES / "speech_22k_stereo.mp3", 997)[0], _read(FIXTURES / "speech_22k_stereo.mp3", 1 << 20)[0])


DAMAGED = {
    # FFmpeg 8 declares 44100 (2.000 s), FFmpeg 7 (PyAV 13) 45504 before its gapless trim
    "broken_half.mp3": r"decoded 21359 frames \(0.969 s\) of 4\d{4} frames \(2.0\d\d s\) declared",
    "broken_half.opus": r"after the last complete Ogg page",
    "broken_garbage_middle.opus": r"decoded 648 frames \(0.013 s\) of 96312 frames \(2.006 s\) declared",
    "broken_corrupt_middle.ogg": r"decoded 43648 frames \(0.990 s\) of 88200 frames \(2.000 s\) declared",
    "broken_truncated_data.wav": r"declares 16000 frames \(2.000 s\) but only 8000 frames \(1.000 s\) are present",
}


def _syncsafe(n: int) -> bytes:
    return bytes(((n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F))


def test_a_cut_mp3_with_cover_art_is_damaged_too(tmp_path):
    """Cover art makes the ID3v2 tag longer than the first bytes read to recognise the file; the
    Xing/Info frame that declares the length comes after it and must still be found."""
    data = (FIXTURES / "broken_half.mp3").read_bytes()
    tag_end = 10 + sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(data[6:10]))
    picture = b"\x00image/png\x00\x03\x00" + np.random.default_rng(0).bytes(50_000)
    frame = b"APIC" + _syncsafe(len(picture)) + b"\x00\x00" + picture
    tagged = tmp_path / "with_cover.mp3"
    tagged.write_bytes(b"ID3\x04\x00\x00" + _syncsafe(len(frame)) + frame + data[tag_end:])
    with pytest.raises(DamagedFileError, match=DAMAGED["broken_half.mp3"]) as info:
        convert_file(tagged, tmp_path / "out.pcm", "pcm16")
    assert "with_cover.mp3" in str(info.value) and list(tmp_path.iterdir()) == [tagged]


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_damaged_inputs_fail_unless_errors_are_ignored(name, tmp_path):
    out = tmp_path / "out.pcm"
    with pytest.raises(DamagedFileError, match=DAMAGED[name]) as info:
        convert_file(FIXTURES / name, out, "pcm16")
    message = str(info.value)
    assert name in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []
    result = convert_file(FIXTURES / name, out, "pcm16", ignore_errors=True)
    assert result.frames_in > 0 and out.stat().st_size == 2 * result.samples_out
    assert len(result.warnings) == 1 and name in result.warnings[0]
    assert "lost" in result.warnings[0] or "Ogg page" in result.warnings[0]


def test_ignore_errors_on_the_command_line(tmp_path):
    out = tmp_path / "x.pcm"
    args = ["convert", str(FIXTURES / "broken_half.mp3"), "-o", str(out), "--to", "pcm16"]
    assert main(args) == 1 and not out.exists()
    run = subprocess.run([sys.executable, "-m", "audiofmt", *args, "--ignore-errors"], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0 and out.exists()
    assert "warning" in run.stderr and "lost" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("name", ["speech_8k_mono_ulaw.wav", "speech_16k_stereo_pcm16.wav", "speech_48k_stereo.flac",
                                  "speech_44k_stereo.ogg", "speech_48k_stereo.opus", "speech_48k_mono.webm",
                                  "speech_8k_stereo_pcm16.aiff", "speech_22k_mono.wma"])
def test_containers_stream_from_a_pipe(name, tmp_path, monkeypatch, capsys):
    """stdin: every container either reader can stream gives the same output as the file. The
    command runs in this process with stdin an OS pipe that a thread fills (not seekable, as from
    another program); test_cli's smoke tests pipe into a real `python -m audiofmt`."""
    import io
    import threading

    from_file, from_pipe = tmp_path / "file.pcm", tmp_path / "pipe.pcm"
    convert_file(FIXTURES / name, from_file, "pcm16")
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        with open(write_fd, "wb") as writer:
            try:
                writer.write((FIXTURES / name).read_bytes())
            except BrokenPipeError:
                pass  # the reader stopped early: the assertions below say why

    feeder = threading.Thread(target=feed)
    feeder.start()
    with open(read_fd, "rb") as reader:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(reader))
        code = main(["convert", "-", "-o", str(from_pipe), "--to", "pcm16"])
    feeder.join()
    assert code == 0, capsys.readouterr().err
    assert from_pipe.read_bytes() == from_file.read_bytes()


@needs_ffmpeg
def test_mp3_from_a_pipe_matches_ffmpeg_from_a_pipe():
    """From a pipe FFmpeg cannot apply the LAME gapless trim it applies to files (ffmpeg's own CLI
    neither): the samples equal what `ffmpeg -i -` decodes."""
    data = (FIXTURES / "speech_22k_stereo.mp3").read_bytes()
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, data)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as pipe:
            samples, _ = _read(pipe)  # type: ignore[arg-type]
    finally:
        pass
    expected = _ffmpeg_decode(Path("-"), 2, stdin=data)
    assert samples.shape == expected.shape and np.max(np.abs(samples - expected)) <= TOLERANCE


@needs_ffmpeg
def test_mp4_with_its_index_at_the_end_from_a_pipe_says_so(tmp_path):
    m4a = tmp_path / "memo.m4a"  # ffmpeg writes moov after the audio unless told +faststart
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=30",
                    "-c:a", "aac", "-b:a", "48k", str(m4a)], check=True)
    cat = subprocess.Popen(["cat", str(m4a)], stdout=subprocess.PIPE)
    run = subprocess.run([sys.executable, "-m", "audiofmt", "convert", "-", "-o", str(tmp_path / "x.pcm"), "--to", "pcm16"],
                         stdin=cat.stdout, capture_output=True, cwd=REPO)
    cat.wait()
    assert run.returncode == 1 and b"index (moov)" in run.stderr and b"pass the file itself" in run.stderr
    with open(m4a, "rb") as redirected:  # `convert - < memo.m4a`: stdin is the file itself, seekable
        run = subprocess.run([sys.executable, "-m", "audiofmt", "convert", "-", "-o", str(tmp_path / "x.pcm"), "--to", "pcm16"],
                             stdin=redirected, capture_output=True, cwd=REPO)
    assert run.returncode == 0, run.stderr


def test_caf_with_a_free_chunk_from_a_pipe_says_so(tmp_path):
    """libsndfile and sox write a 'free' chunk before a CAF's audio; FFmpeg (5.1 and PyAV's 8.0)
    misreads the chunks after it when it cannot seek. From a pipe that is one line saying so,
    not "not a readable audio file"; from the file (or `convert - < x.caf`) it converts."""
    caf = FIXTURES / "speech_22k.caf"
    assert b"free" in caf.read_bytes()[:64]
    cat = subprocess.Popen(["cat", str(caf)], stdout=subprocess.PIPE)
    run = subprocess.run([sys.executable, "-m", "audiofmt", "convert", "-", "-o", str(tmp_path / "x.pcm"), "--to", "pcm16"],
                         stdin=cat.stdout, capture_output=True, cwd=REPO)
    cat.wait()
    assert run.returncode == 1 and not (tmp_path / "x.pcm").exists()
    assert run.stderr.count(b"\n") == 1 and b"<stdin>: cannot read this CAF from a pipe" in run.stderr, run.stderr
    assert b"pass the file itself" in run.stderr
    with open(caf, "rb") as redirected:
        run = subprocess.run([sys.executable, "-m", "audiofmt", "convert", "-", "-o", str(tmp_path / "x.pcm"), "--to", "pcm16"],
                             stdin=redirected, capture_output=True, cwd=REPO)
    assert run.returncode == 0, run.stderr


@needs_ffmpeg
def test_an_mp3_without_audio_frames_is_one_line_from_ffmpeg_alone(tmp_path):
    """An MP3 holding only its LAME Info frame (an encoder given no samples). libsndfile is not an
    MP3 reader here (docs/formats.md): trying it as a fallback printed libmpg123's own warning on
    stderr and added "File does not exist or is not a regular file" to the message."""
    empty = tmp_path / "empty.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "anullsrc=r=44100:cl=mono", "-t", "0",
                    "-c:a", "libmp3lame", str(empty)], check=True)
    run = subprocess.run([sys.executable, "-m", "audiofmt", "convert", str(empty), "-o", str(tmp_path / "x.pcm"), "--to", "pcm16"],
                         capture_output=True, cwd=REPO)
    assert run.returncode == 1 and not (tmp_path / "x.pcm").exists()
    assert run.stderr.count(b"\n") == 1 and run.stderr.startswith(b"audiofmt: error: "), run.stderr
    assert b"empty.mp3: not a readable audio file (FFmpeg: " in run.stderr and b"libsndfile" not in run.stderr


def test_wav_on_a_pipe_keeps_the_damage_check(tmp_path):
    cut = (FIXTURES / "speech_16k_stereo_pcm16.wav").read_bytes()[:40000]
    run = subprocess.run([sys.executable, "-m", "audiofmt", "convert", "-", "-o", str(tmp_path / "x.pcm"), "--to", "pcm16"],
                         input=cut, capture_output=True, cwd=REPO)
    assert run.returncode == 1 and b"declared" in run.stderr and not (tmp_path / "x.pcm").exists()


def test_wav_on_a_pipe_with_a_long_header_keeps_the_damage_check(tmp_path):
    """Recorders put chunks of several KB before the audio (bext, iXML, JUNK padding): the data
    chunk's size lies past the first 4 KB peeked from the pipe, and must still be found."""
    data = (FIXTURES / "speech_16k_stereo_pcm16.wav").read_bytes()
    at = data.index(b"data")
    padded = bytearray(data[:at] + b"JUNK" + (8192).to_bytes(4, "little") + bytes(8192) + data[at:])
    padded[4:8] = (len(padded) - 8).to_bytes(4, "little")
    command = [sys.executable, "-m", "audiofmt", "convert", "-", "-o", str(tmp_path / "x.pcm"), "--to", "pcm16", "-y"]
    whole = subprocess.run(command, input=bytes(padded), capture_output=True, cwd=REPO)
    assert whole.returncode == 0, whole.stderr
    cut = subprocess.run(command, input=bytes(padded[: len(padded) // 2]), capture_output=True, cwd=REPO)
    assert cut.returncode == 1 and b"<stdin>: damaged or cut short" in cut.stderr and b"declared" in cut.stderr, cut.stderr


def test_a_source_is_a_context_manager_with_a_fresh_blocks():
    for path, raw in ((FIXTURES / "speech_48k_stereo.flac", None), (FIXTURES / "speech_44k_mono.m4a", None),
                      (FIXTURES / "speech_8k.ulaw", RawSpec("g711_ulaw"))):
        with open_source(path, raw, block_frames=3000) as src:
            first = np.concatenate(list(src.blocks()))
            again = np.concatenate(list(src.blocks()))
        assert np.array_equal(first, again)
    with open(FIXTURES / "speech_44k_stereo.ogg", "rb") as stream, open_source(stream) as src:  # seekable
        assert np.array_equal(np.concatenate(list(src.blocks())), np.concatenate(list(src.blocks())))
    read_fd, write_fd = os.pipe()
    os.write(write_fd, (FIXTURES / "speech_16k_mono.opus").read_bytes())
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe, open_source(pipe) as src:
        list(src.blocks())
        with pytest.raises(StreamStateError, match="only once"):
            list(src.blocks())


# --- input that holds no audio, or not the audio asked for ------------------------------------

@pytest.mark.parametrize("name,kind", [("speech_8k_mono_ulaw.wav", "WAV"), ("speech_22k_stereo.mp3", "MP3"),
                                       ("speech_44k_mono.m4a", "MP4"), ("speech_44k_mono.mp3", "MP3")])
def test_decode_refuses_containers_as_raw(name, kind, tmp_path):
    with pytest.raises(FileFormatError, match=f"is a {kind} file, not raw g711_ulaw bytes.*audiofmt convert"):
        decode_file(FIXTURES / name, tmp_path / "x.wav", "g711_ulaw")
    with pytest.raises(FileFormatError, match=f"is a {kind} file, not raw g711_ulaw audio: leave out --raw-format"):
        convert_file(FIXTURES / name, tmp_path / "x.pcm", "pcm16", raw=RawSpec("g711_ulaw"))
    assert list(tmp_path.iterdir()) == []


def test_raw_g711_that_starts_with_0xff_is_still_raw():
    silence = b"\xff" * 4000 + b"\x7f" * 4000  # μ-law silence codes
    assert sniff(silence) is None


def test_decode_refuses_event_files_without_deltas(tmp_path):
    appends = tmp_path / "appends.jsonl"
    convert_file(FIXTURES / "speech_8k.wav", appends, "pcm16")  # what convert writes: append events
    with pytest.raises(FileFormatError, match=r"input_audio_buffer.append event\(s\).*audiofmt convert .* --raw-format pcm16"):
        decode_file(appends, tmp_path / "x.wav", "pcm16")
    other = tmp_path / "other.jsonl"
    other.write_text('{"type": "response.created"}\n{"type": "response.done"}\n')
    with pytest.raises(FileFormatError, match="no response audio delta events"):
        decode_file(other, tmp_path / "x.wav", "pcm16")
    empty = tmp_path / "empty.raw"
    empty.write_bytes(b"")
    with pytest.raises(FileFormatError, match="empty"):
        decode_file(empty, tmp_path / "x.wav", "pcm16")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["appends.jsonl", "empty.raw", "other.jsonl"]
    with pytest.raises(FileFormatError, match=r"JSON Lines of realtime events.*--raw-format"):
        open_source(appends)
    assert main(["decode", str(appends), "--from", "pcm16", "-o", str(tmp_path / "y.wav")]) == 1


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts open files through /proc")
def test_decode_with_a_bad_output_name_leaves_no_file_open(tmp_path):
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        with pytest.raises(audiofmt.AudioFormatError, match="decode writes"):
            decode_file(FIXTURES / "speech_8k.ulaw", tmp_path / "x.mp4", "g711_ulaw")
    assert len(os.listdir("/proc/self/fd")) == before


# --- JSON Lines of any line length --------------------------------------------------------------

def _delta(audio: bytes, **extra: object) -> dict:
    return {"type": "response.output_audio.delta", "item_id": "it", "content_index": 0, **extra, "delta": base64.b64encode(audio).decode()}


def test_a_long_delta_line_decodes_like_small_ones(tmp_path):
    rng = np.random.default_rng(3)
    audio = (rng.standard_normal(1_500_000) * 3000).astype("<i2").tobytes()  # 3 MB: a 4 MB line
    small = tmp_path / "small.jsonl"
    small.write_text("".join(json.dumps(_delta(audio[i : i + 4800])) + "\n" for i in range(0, len(audio), 4800)))
    variants = {
        "long": json.dumps(_delta(audio)),
        "type_last": json.dumps({k: v for k, v in reversed(list(_delta(audio).items()))}),  # audio before its type: spooled
        "escaped": json.dumps(_delta(audio)).replace("/", "\\/"),  # a JSON writer that escapes '/'
    }
    reference = tmp_path / "small.pcm"
    decode_file(small, reference, "pcm16")
    assert reference.read_bytes() == audio
    for label, line in variants.items():
        path = tmp_path / f"{label}.jsonl"
        path.write_text('{"type": "response.created"}\n' + line + "\n")
        out = tmp_path / f"{label}.pcm"
        result = decode_file(path, out, "pcm16", rate_hz=24000)
        assert out.read_bytes() == audio, label
        assert result.events == 1
    escaped = variants["escaped"]
    cut = escaped.rfind("\\/", 0, LONG_LINE_BYTES - 12)  # moved to an escape split by the line's first read
    shifted = escaped.replace('{"type"', '{"pad": "' + "x" * (LONG_LINE_BYTES - 12 - cut) + '", "type"', 1)
    assert shifted[LONG_LINE_BYTES - 1 : LONG_LINE_BYTES + 1] == "\\/"
    mixed = escaped.replace("A", "\\u0041", 3)  # other escapes beside the slashes: the escape-by-escape path
    for label, line in {"cut": shifted, "mixed": mixed}.items():
        path = tmp_path / f"{label}.jsonl"
        path.write_text(line + "\n")
        out = tmp_path / f"{label}.pcm"
        decode_file(path, out, "pcm16", rate_hz=24000)
        assert out.read_bytes() == audio, label
    appended = tmp_path / "append.jsonl"
    appended.write_text(json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(audio).decode()}))  # no newline
    assert probe(appended, RawSpec("pcm16")).frames == len(audio) // 2


@pytest.mark.parametrize(
    "line,match",
    [('{"type": "response.output_audio.delta", "item_id": "it", "content_index": 0, "delta": "QUFB' + "A" * 1_200_000 + '=AAA"}', "not valid base64"),
     ('{"type": "response.output_audio.delta", "item_id": "it", "content_index": 0, "delta": "' + "A" * 1_200_000, "unterminated string"),
     ('{"type": "response.output_audio.delta", "item_id": "it", "content_index": 0, "delta": "' + "A" * 1_200_000 + '"} x', "text after"),
     ('{"type": "response.output_audio.delta", "content_index": 0, "delta": "' + "A" * 1_200_000 + '"}', "item_id")],
)
def test_a_bad_long_line_is_one_error_naming_the_line(line, match, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"type": "response.created"}\n' + line + "\n")
    with pytest.raises(FileFormatError, match=match) as info:
        decode_file(path, tmp_path / "x.wav", "pcm16")
    assert "line 2" in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl"]


_PEAK_CHILD = """
import sys
from audiofmt.cli import main
code = main(sys.argv[1:])
status = open("/proc/self/status").read()
print(code, next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc to read a process's peak memory")
@pytest.mark.parametrize("case", ["wav on stdin", "jsonl line", pytest.param("mp3", marks=needs_ffmpeg)])
def test_peak_memory_does_not_grow_with_the_input(case, tmp_path):
    """VmHWM of the converting process for a long input is within a few MB of a short one's: a WAV on
    stdin (3 min of 48 kHz stereo, 33 MiB), one JSONL line of 48 MiB, and an MP3 (10 min of 22.05 kHz,
    26 MiB as int16). One case per test, so that parallel runs spread them."""
    rng = np.random.default_rng(5)

    def growth_kib(long: tuple, short: tuple) -> int:
        """Peak of the long run minus the short one's, the short run done once first to fill numba's
        cache: on a cold cache (CI) the first run's compiling would count as growth."""
        peak_kib(*short)
        return peak_kib(*long) - peak_kib(*short)

    def peak_kib(stdin: Path, *args: str) -> int:
        with open(stdin, "rb") as feed:
            run = subprocess.run([sys.executable, "-c", _PEAK_CHILD, *args, "-y"],  # -y: every run writes one output
                                 stdin=feed, capture_output=True, text=True, check=True)
        code, kib = run.stdout.split()
        assert code == "0", run.stderr
        return int(kib)

    def wav(path: Path, seconds: int) -> Path:
        with soundfile.SoundFile(path, "w", 48000, 2, "PCM_16") as out:
            for _ in range(seconds):
                out.write(rng.standard_normal((48000, 2)) * 0.1)
        return path

    def jsonl(path: Path, n_bytes: int) -> Path:
        with open(path, "w") as out:
            out.write('{"type":"response.output_audio.delta","item_id":"i","content_index":0,"delta":"')
            chunk = base64.b64encode(rng.integers(-3000, 3000, 3 << 18, dtype="<i2").tobytes()).decode()
            for _ in range(n_bytes // len(chunk)):
                out.write(chunk)
            out.write('"}\n')
        return path

    def mp3(seconds: int) -> Path:
        path = tmp_path / f"{seconds}.mp3"
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=22050:duration={seconds}",
                        "-c:a", "libmp3lame", "-b:a", "32k", "-compression_level", "9", str(path)], check=True)  # 9: fastest encode
        return path

    out = str(tmp_path / "out.pcm")
    if case == "wav on stdin":
        short_wav, long_wav = wav(tmp_path / "short.wav", 1), wav(tmp_path / "long.wav", 180)
        growth = growth_kib((long_wav, "convert", "-", "-o", out, "--to", "pcm16"), (short_wav, "convert", "-", "-o", out, "--to", "pcm16"))
    elif case == "jsonl line":
        short_line, long_line = jsonl(tmp_path / "short.jsonl", 3 << 20), jsonl(tmp_path / "long.jsonl", 48 << 20)
        growth = growth_kib((long_line, "decode", "-", "--from", "pcm16", "-o", out),
                            (short_line, "decode", "-", "--from", "pcm16", "-o", out))
    else:
        growth = growth_kib((Path("/dev/null"), "convert", str(mp3(600)), "-o", out, "--to", "pcm16"),
                            (Path("/dev/null"), "convert", str(mp3(2)), "-o", out, "--to", "pcm16"))
    assert growth < 16 * 1024, f"{case}: peak memory grew by {growth / 1024:.1f} MiB"
