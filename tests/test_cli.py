"""The command line: every command runs for real in a subprocess or in-process; exit codes; batch."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from audiofmt.batch import Job, run_dask, run_local

import audiofmt
from audiofmt.cli import main

from .conftest import REPO

FIXTURES = REPO / "fixtures"


def cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """`python -m audiofmt ...` in a subprocess: for the smoke tests of the real entry point, pipes and workers."""
    return subprocess.run([sys.executable, "-m", "audiofmt", *args], input=stdin, capture_output=True, cwd=REPO, timeout=120)


def run(capsys: pytest.CaptureFixture[bytes], *args: str) -> subprocess.CompletedProcess:
    """The same command in this process (main(), as the entry point calls it; argparse's exits
    included): what `cli` returns, without a Python start and imports (~0.7 s each here)."""
    try:
        code = main(list(args))
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["audiofmt", *args], code, out, err)


def test_help_for_every_command(capsysbinary):
    for command in ("convert", "decode", "info", "roundtrip"):
        result = run(capsysbinary, command, "--help")
        assert result.returncode == 0 and b"example" in result.stdout


def test_convert_infers_container_and_prints_nothing_when_quiet(tmp_path, capsys):
    assert main(["convert", str(FIXTURES / "speech_16k.wav"), "-o", str(tmp_path / "a.ulaw"), "--to", "g711_ulaw", "-q"]) == 0
    assert main(["convert", str(FIXTURES / "speech_16k.wav"), "-o", str(tmp_path / "a.jsonl"), "--to", "pcm16", "-q"]) == 0
    assert capsys.readouterr().err == ""
    assert (tmp_path / "a.ulaw").stat().st_size == 64062
    first = json.loads((tmp_path / "a.jsonl").read_text().splitlines()[0])
    assert first["type"] == "input_audio_buffer.append" and len(base64.b64decode(first["audio"])) == 4800


def test_batch_failure_exit_code_and_one_line_errors(tmp_path):
    result = cli("convert", str(FIXTURES / "speech_8k.wav"), str(FIXTURES / "not_audio.wav"), str(FIXTURES / "noise_44k.flac"),
                 "-d", str(tmp_path), "--to", "pcm16", "-j", "2")
    assert result.returncode == 1
    err = result.stderr.decode()
    assert "Traceback" not in err and "not_audio.wav: not a readable audio file" in err and "converted 2 of 3 files" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noise_44k.wav", "speech_8k.wav"]


def test_usage_errors_exit_2(tmp_path, capsysbinary):
    assert run(capsysbinary, "convert", "a.wav", "b.wav", "-o", "x.wav", "--to", "pcm16").returncode == 2
    assert run(capsysbinary, "convert", str(FIXTURES / "speech_8k.wav"), "-o", str(tmp_path / "x.mp4"), "--to", "pcm16").returncode == 2
    assert cli("convert", "x.wav", "--to", "opus").returncode == 2  # argparse's own refusal, through the real entry point


def test_verbose_shows_the_traceback(tmp_path):
    result = cli("convert", str(FIXTURES / "broken_empty.wav"), "-o", str(tmp_path / "x.pcm"), "--to", "pcm16", "-v")
    assert result.returncode == 1 and b"Traceback" in result.stderr


def test_stdin_to_stdout_pipes():
    raw = (FIXTURES / "speech_16k_s16le.raw").read_bytes()
    result = cli("convert", "-", "--raw-format", "s16le", "--raw-rate", "16000", "--to", "g711_ulaw", "-o", "-", "--container", "raw", stdin=raw)
    assert result.returncode == 0
    x = np.frombuffer(raw, dtype="<i2") / 32768
    assert result.stdout == audiofmt.encode(audiofmt.resample(x, 16000, 8000), "g711_ulaw", clip="ignore")
    jsonl = cli("convert", "-", "--to", "pcm16", "-o", "-", "--container", "jsonl", stdin=(FIXTURES / "speech_8k_mono_alaw.wav").read_bytes())
    assert jsonl.returncode == 0 and all(json.loads(line)["type"] == "input_audio_buffer.append" for line in jsonl.stdout.splitlines())


def test_decode_and_info(tmp_path, capsysbinary):
    ulaw = FIXTURES / "speech_8k.ulaw"
    assert run(capsysbinary, "decode", str(ulaw), "--from", "g711_ulaw", "-o", str(tmp_path / "r.wav"), "--rate", "16000").returncode == 0
    info = run(capsysbinary, "info", "--json", str(tmp_path / "r.wav"), str(FIXTURES / "speech_48k_stereo.opus"))
    reports = json.loads(info.stdout)
    assert [(r["rate_hz"], r["channels"]) for r in reports] == [(16000, 1), (48000, 2)]
    text = run(capsysbinary, "info", str(FIXTURES / "tone_1k_48k_stereo.wav")).stdout.decode()
    assert "48000 Hz, 2 ch, 48000 frames, 1.000 s, peak -6.0 dBFS" in text
    assert run(capsysbinary, "info", str(FIXTURES / "not_audio.wav")).returncode == 1


def test_decode_of_a_log_with_a_bad_session_event_fails_in_one_line(tmp_path, capsysbinary):
    """A session.updated that audiofmt refuses (a SessionError lists its problems on lines of
    their own) is still one `audiofmt: error:` line, naming the file, the line and the field."""
    log = tmp_path / "log.jsonl"
    log.write_text('{"type": "session.updated", "session": {"output_audio_format": "opus", "temperature": 3}}\n')
    result = run(capsysbinary, "decode", str(log), "--from", "pcm16", "-o", str(tmp_path / "x.wav"))
    err = result.stderr.decode()
    assert result.returncode == 1 and err.count("\n") == 1 and err.startswith("audiofmt: error: ")
    assert "log.jsonl, line 1:" in err and "output_audio_format: got 'opus'" in err
    assert "temperature" not in err  # the server's own fields are not audiofmt's to refuse (Session.from_server)


def test_info_json_is_valid_json_for_silence(capsysbinary):
    """A silent file's levels are -inf dBFS: JSON has no such number, so --json says null
    (Python's json would write -Infinity, which jq, JSON.parse and strict parsers refuse)."""
    info = run(capsysbinary, "info", "--json", str(FIXTURES / "silence_16k.wav"))
    assert info.returncode == 0
    report = json.loads(info.stdout, parse_constant=lambda name: pytest.fail(f"not JSON: {name}"))
    assert report["peak_dbfs"] is None and report["rms_dbfs"] is None and report["frames"] == 16000


def test_roundtrip_demo(tmp_path, capsysbinary):
    result = run(capsysbinary, "roundtrip", str(FIXTURES / "speech_16k.wav"), "--format", "g711_alaw", "-o", str(tmp_path / "back.wav"))
    assert result.returncode == 0 and b"round-trip SNR" in result.stdout and (tmp_path / "back.wav").exists()


def _jobs(tmp_path: Path) -> list[Job]:
    names = ["speech_8k.wav", "speech_48k_stereo.flac", "not_audio.wav", "speech_44k_stereo.ogg", "speech_16k_mono.opus"]
    return [Job(str(FIXTURES / n), str(tmp_path / f"{Path(n).stem}.jsonl"), {"to": "g711_alaw"}) for n in names]


def test_parallel_batch_matches_single_process(tmp_path):
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    serial.mkdir(), parallel.mkdir()
    one = run_local(_jobs(serial), workers=1)
    two = run_local(_jobs(parallel), workers=2)
    assert [o.ok for o in one] == [o.ok for o in two] == [True, True, False, True, True]
    for a, b in zip(sorted(serial.iterdir()), sorted(parallel.iterdir())):
        assert a.read_bytes() == b.read_bytes()


def test_dask_cluster_matches_single_process(tmp_path):
    distributed = pytest.importorskip("distributed", reason="the optional dask extra is not installed")
    serial, on_cluster = tmp_path / "serial", tmp_path / "dask"
    serial.mkdir(), on_cluster.mkdir()
    expected = run_local(_jobs(serial), workers=1)
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        outcomes = run_dask(_jobs(on_cluster), client)
    assert [o.ok for o in outcomes] == [o.ok for o in expected]
    assert "not_audio.wav" in outcomes[2].error
    for a, b in zip(sorted(serial.iterdir()), sorted(on_cluster.iterdir())):
        assert a.name == b.name and a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("config_file", [False, True])
def test_numba_reads_its_yaml_config_only_where_there_is_one(config_file, tmp_path):
    """numba's config imports PyYAML to read a .numba_config.yaml from the working directory:
    the command line hides PyYAML from it only where there is no such file."""
    pytest.importorskip("yaml")
    if config_file:
        (tmp_path / ".numba_config.yaml").write_text("warnings: 0\n")
    code = (
        "import sys; from audiofmt.cli import main\n"
        f"rc = main(['convert', {str(FIXTURES / 'speech_48k_stereo.flac')!r}, '-o', 'x.ulaw', '--to', 'g711_ulaw', '-q'])\n"
        "print(rc, 'numba' in sys.modules, 'yaml' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.stdout.split() == ["0", "True", str(config_file)], done.stderr


def test_numba_does_not_load_scipy_or_pycparser_for_the_command_line(tmp_path):
    """numba imports SciPy (BLAS probe) and pycparser (cffi support) while it initialises; the
    command line hides them from numba only: a conversion loads neither, later imports work.
    (48 kHz -> 8 kHz has half-band stages: numba kernels.)"""
    pytest.importorskip("scipy")
    code = (
        "import sys; from audiofmt.cli import main\n"
        f"rc = main(['convert', {str(FIXTURES / 'speech_48k_stereo.flac')!r}, '-o', {str(tmp_path / 'x.ulaw')!r}, '--to', 'g711_ulaw', '-q'])\n"
        "print(rc, 'numba' in sys.modules, 'scipy' in sys.modules, 'pycparser' in sys.modules)\n"
        "import scipy.linalg, cffi; cffi.FFI(); print('later imports work')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split("\n")[:2] == ["0 True False False", "later imports work"], done.stderr


@pytest.mark.parametrize("kind, pack", [
    ("gzip", lambda b: __import__("gzip").compress(b)),
    ("bzip2", lambda b: __import__("bz2").compress(b)),
    ("xz", lambda b: __import__("lzma").compress(b)),
])
@pytest.mark.parametrize("command", ["decode", "convert", "convert-raw"])
def test_compressed_logs_and_files_are_refused_with_a_hint_not_read_as_raw_audio(tmp_path, capsysbinary, kind, pack, command):
    """A gzipped log given to `decode --from g711_ulaw` was read as raw μ-law (noise, exit 0)."""
    line = json.dumps({"type": "response.audio.delta", "item_id": "i", "content_index": 0,
                       "delta": base64.b64encode(bytes(160)).decode()}) + "\n"
    packed = tmp_path / "log.jsonl.z"
    packed.write_bytes(pack(line.encode() * 50))
    args = {"decode": ["decode", str(packed), "--from", "g711_ulaw"],
            "convert": ["convert", str(packed), "--to", "pcm16"],
            "convert-raw": ["convert", str(packed), "--raw-format", "g711_ulaw", "--to", "pcm16"]}[command]
    result = run(capsysbinary, *args, "-o", str(tmp_path / "out.wav"))
    err = result.stderr.decode()
    assert result.returncode == 1 and err.count("\n") == 1
    assert f"is {kind}-compressed" in err and "decompress it first" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.jsonl.z"]
