"""Nothing the user had is lost: outputs never replace inputs or each other, overwrite rules,
devices and FIFOs, signals, duration limits and the free-space guard, one-line errors."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

import audiofmt
from audiofmt.cli import main
from audiofmt.errors import OutputError, OutputExistsError
from audiofmt.files import convert_file, max_frames_for
from audiofmt.files.outputs import atomic_output, plan_outputs, remove_unfinished_outputs

from .conftest import REPO

FIXTURES = REPO / "fixtures"
SPEECH = FIXTURES / "speech_16k.wav"


def _run(*args: str, cwd: Path | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "audiofmt", *args], capture_output=True, cwd=cwd or REPO, timeout=120, check=False, **kwargs)


def _one_error_line(err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("audiofmt: error: "), err
    assert "Traceback" not in err and ".part" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file() and not p.is_symlink()}


# --- 1. an output never replaces an input -------------------------------------------------------

def test_no_output_option_writes_stem_format_ext_never_the_input(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copy(SPEECH, "call.wav")
    before = Path("call.wav").read_bytes()
    assert main(["convert", "call.wav", "--to", "pcm16", "-q"]) == 0
    assert Path("call.wav").read_bytes() == before
    assert soundfile.info("call.pcm16.wav").samplerate == 24000
    assert main(["convert", "call.wav", "--to", "g711_ulaw", "--container", "raw", "-q"]) == 0
    assert Path("call.g711_ulaw.ulaw").stat().st_size == audiofmt.output_length(soundfile.info("call.wav").frames, 16000, 8000)


@pytest.mark.parametrize("how", ["same", "dot-slash", "symlink", "hardlink", "own-folder", "rerun-over-outputs"])
def test_an_output_never_replaces_an_input(how, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copy(SPEECH, "a.wav")
    shutil.copy(FIXTURES / "speech_8k.wav", "b.wav")
    argv = {
        "same": ["a.wav", "-o", "a.wav"],
        "dot-slash": ["a.wav", "-o", "./a.wav"],
        "symlink": ["a.wav", "-o", "link.wav"],
        "hardlink": ["a.wav", "-o", "hard.wav"],
        "own-folder": ["a.wav", "b.wav", "-d", "."],
        "rerun-over-outputs": ["out/a.wav", "out/b.wav", "-d", "out"],
    }[how]
    if how == "symlink":
        os.symlink("a.wav", "link.wav")
    if how == "hardlink":
        os.link("a.wav", "hard.wav")
    if how == "rerun-over-outputs":
        assert main(["convert", "a.wav", "b.wav", "-d", "out", "--to", "pcm16", "-q", "-j", "1"]) == 0
    before = _tree(tmp_path)
    assert main(["convert", *argv, "--to", "pcm16", "-y"]) == 2  # not even -y replaces an input
    _one_error_line(capsys.readouterr().err, "would replace the input")
    assert _tree(tmp_path) == before


def test_library_refuses_to_write_over_its_input(tmp_path):
    src = tmp_path / "x.wav"
    shutil.copy(SPEECH, src)
    with pytest.raises(OutputError, match="would replace the input"):
        convert_file(src, tmp_path / "." / "x.wav", "pcm16")
    with pytest.raises(OutputError, match="would replace the input"):
        audiofmt.decode_file(src, src, "pcm16")
    assert src.read_bytes() == SPEECH.read_bytes()


@pytest.mark.parametrize("names", [("a/call.wav", "b/call.wav"), ("speech.flac", "speech.wav")])
def test_two_jobs_never_share_an_output(names, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name, fixture in zip(names, ("speech_16k.wav", "noise_44k.flac")):
        Path(name).parent.mkdir(exist_ok=True)
        shutil.copy(FIXTURES / fixture, name)
    assert main(["convert", *names, "-d", "out", "--to", "pcm16"]) == 2
    _one_error_line(capsys.readouterr().err, names[0], names[1], "both")
    assert not Path("out").exists()  # detected before any work; the directory it made is gone too


def test_existing_outputs_need_y_and_n_skips_them(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("out").mkdir()
    Path("out/speech_16k.wav").write_bytes(b"precious")
    common = [str(SPEECH), str(FIXTURES / "speech_8k.wav"), "-d", "out", "--to", "pcm16", "-j", "1"]
    assert main(["convert", *common]) == 2
    _one_error_line(capsys.readouterr().err, "out/speech_16k.wav exists", "-y")
    assert sorted(os.listdir("out")) == ["speech_16k.wav"]
    assert main(["convert", *common, "-n"]) == 0  # the existing one is skipped, the other converted
    err = capsys.readouterr().err
    assert "skipped" in err and "converted 1 of 2 files, skipped 1 existing" in err
    assert Path("out/speech_16k.wav").read_bytes() == b"precious" and soundfile.info("out/speech_8k.wav").frames > 0
    assert main(["convert", *common, "-y", "-q"]) == 0
    assert soundfile.info("out/speech_16k.wav").samplerate == 24000
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", *common, "-y", "-n"])
    assert exit_info.value.code == 2


def test_no_overwrite_holds_even_against_a_file_created_meanwhile(tmp_path):
    out = tmp_path / "x.pcm"
    with pytest.raises(OutputExistsError), atomic_output(out, overwrite=False) as f:
        f.write(b"new")
        out.write_bytes(b"someone else's")
    assert out.read_bytes() == b"someone else's" and os.listdir(tmp_path) == ["x.pcm"]
    with pytest.raises(OutputExistsError):
        convert_file(SPEECH, out, "pcm16", overwrite=False)
    assert plan_outputs([(str(SPEECH), str(out))], "skip") == [False]


def test_a_symlinked_output_replaces_the_file_it_points_to_and_keeps_the_link(tmp_path):
    (tmp_path / "real.pcm").write_bytes(b"old")
    os.symlink("real.pcm", tmp_path / "link.pcm")
    convert_file(SPEECH, tmp_path / "link.pcm", "pcm16")
    assert (tmp_path / "link.pcm").is_symlink() and (tmp_path / "real.pcm").stat().st_size == 2 * audiofmt.output_length(soundfile.info(SPEECH).frames, 16000, 24000)


# --- 2. devices and FIFOs are written to, never replaced ---------------------------------------

def test_dev_null_and_a_symlink_to_it_stay_devices(tmp_path, capsys):
    assert main(["convert", str(SPEECH), "-o", "/dev/null", "--container", "raw", "--to", "pcm16", "-q"]) == 0
    os.symlink("/dev/null", tmp_path / "sink.wav")
    assert main(["convert", str(SPEECH), "-o", str(tmp_path / "sink.wav"), "--to", "pcm16", "-q"]) == 0
    assert Path("/dev/null").is_char_device() and (tmp_path / "sink.wav").is_symlink()
    assert os.listdir(tmp_path) == ["sink.wav"]


def test_a_fifo_is_written_straight(tmp_path):
    fifo = tmp_path / "pipe.pcm"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    assert main(["convert", str(SPEECH), "-o", str(fifo), "--to", "pcm16", "-q"]) == 0
    reader.join(30)
    convert_file(SPEECH, tmp_path / "file.pcm", "pcm16")
    assert received == [(tmp_path / "file.pcm").read_bytes()]
    assert fifo.is_fifo() and sorted(os.listdir(tmp_path)) == ["file.pcm", "pipe.pcm"]


def test_dev_stdout_is_written_through():
    result = _run("convert", str(SPEECH), "-o", "/dev/stdout", "--container", "raw", "--to", "g711_ulaw")
    assert result.returncode == 0
    x, _ = soundfile.read(SPEECH)
    assert result.stdout == audiofmt.encode(audiofmt.resample(x, 16000, 8000), "g711_ulaw", clip="ignore")


# --- 3. signals end the command, its workers and their temporary files -------------------------

def _parts(path: Path) -> list[str]:
    return [n for n in os.listdir(path) if n.endswith(".part")]


def _children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found += [int(c) for c in f.read().split()]
    return found


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" in f.read()
    except FileNotFoundError:
        return True


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# A shell's background job (`pytest ... &`) starts with SIGINT ignored, which Python then keeps:
# the command under test is given Python's usual Ctrl-C handler back, as in a terminal.
_WITH_SIGINT = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'audiofmt'; runpy.run_module('audiofmt', run_name='__main__')"
)
AUDIOFMT_WITH_SIGINT = [sys.executable, "-c", _WITH_SIGINT]


@pytest.fixture
def stalled_inputs(tmp_path):
    """FIFOs holding 1 s of audio each and then nothing, never ending: a conversion reads the
    second, writes its output's first blocks, and waits, so a signal always finds it running."""
    fds: list[int] = []

    def make(n: int) -> list[str]:
        names = []
        for i in range(n):
            name = tmp_path / f"in{i}.raw"
            os.mkfifo(name)
            fds.append(os.open(name, os.O_RDWR))  # a writer that never closes (O_RDWR: no wait for a reader)
            os.write(fds[-1], bytes(32000))
            names.append(str(name))
        return names

    yield make
    for fd in fds:
        os.close(fd)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_removes_the_temporary_file(sig, tmp_path, stalled_inputs):
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([*AUDIOFMT_WITH_SIGINT, "convert", *stalled_inputs(1), "-o", str(out / "x.ulaw"),
                             "--raw-format", "s16le", "--raw-rate", "16000", "--to", "g711_ulaw"],
                            cwd=REPO, stderr=subprocess.PIPE)
    _wait_for(lambda: _parts(out))
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + sig
    assert os.listdir(out) == [] and b"Traceback" not in err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_a_signal_to_the_batch_parent_alone_ends_every_worker(sig, tmp_path, stalled_inputs):
    out = tmp_path / "out"
    proc = subprocess.Popen([*AUDIOFMT_WITH_SIGINT, "convert", *stalled_inputs(3), "-d", str(out), "-j", "2",
                             "--raw-format", "s16le", "--raw-rate", "16000", "--to", "g711_ulaw"],
                            cwd=REPO, stderr=subprocess.PIPE)
    _wait_for(lambda: out.exists() and len(_parts(out)) == 2)
    workers = _children(proc.pid)
    assert len(workers) >= 2
    proc.send_signal(sig)  # to the parent only, not its process group
    proc.communicate(timeout=30)
    assert proc.returncode == (128 + sig if sig != signal.SIGKILL else -sig)
    _wait_for(lambda: all(_gone(w) for w in workers), 30)  # SIGKILL: the workers follow by PR_SET_PDEATHSIG
    _wait_for(lambda: _parts(out) == [], 30)
    assert os.listdir(out) == []


@pytest.mark.parametrize("raise_on_signal", ["worker", "command"])
def test_the_first_terminating_signal_decides(raise_on_signal, monkeypatch):
    """The pool's terminate() when a sibling worker ends, the parent's SIGTERM and the
    parent-death signal can all reach one worker: a second signal landing in the job's cleanup
    (seen in CI) must not cut it short, so the first one sets the rest to be ignored."""
    from audiofmt.files import batch, outputs

    previous = {sig: signal.getsignal(sig) for sig in outputs.TERMINATING_SIGNALS}
    handler = batch._worker_signal if raise_on_signal == "worker" else outputs._raise_terminated
    monkeypatch.setattr(batch, "_in_job", True)
    try:
        for sig in outputs.TERMINATING_SIGNALS:
            signal.signal(sig, handler)
        with pytest.raises(outputs.Terminated):
            handler(signal.SIGTERM, None)
        assert all(signal.getsignal(sig) == signal.SIG_IGN for sig in outputs.TERMINATING_SIGNALS)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def test_the_last_sweep_removes_a_temporary_file_whose_cleanup_was_cut_short(tmp_path, monkeypatch):
    out = tmp_path / "x.wav"
    real_unlink = os.unlink

    def second_ctrl_c(path, *args, **kwargs):  # a KeyboardInterrupt lands inside the block's own cleanup
        monkeypatch.setattr(os, "unlink", real_unlink)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), atomic_output(out) as f:
        f.write(b"partial")
        monkeypatch.setattr(os, "unlink", second_ctrl_c)
        raise KeyboardInterrupt
    assert len(_parts(tmp_path)) == 1
    remove_unfinished_outputs()
    assert os.listdir(tmp_path) == []


# --- 4. duration limits and the free-space guard -------------------------------------------------

def test_max_duration_cuts_an_endless_input_exactly(tmp_path, capsys):
    out = tmp_path / "one_second.wav"
    assert main(["convert", "/dev/zero", "--raw-format", "s16le", "--raw-rate", "16000", "-t", "1", "--to", "pcm16",
                 "-o", str(out), "-q"]) == 0
    info = soundfile.info(out)
    assert (info.samplerate, info.frames) == (24000, 24000)
    assert max_frames_for("0.5", 11025) == 5512 and max_frames_for(0.1, 10) == 1 and max_frames_for(0.3, 10) == 3
    result = convert_file(FIXTURES / "noise_44k.flac", tmp_path / "cut.ulaw", "g711_ulaw", max_duration_s="0.25")
    assert result.frames_in == 11025 and result.samples_out == audiofmt.output_length(11025, 44100, 8000)
    assert main(["convert", str(SPEECH), "-t", "1:00:00", "-o", str(tmp_path / "all.pcm"), "--to", "pcm16", "-q"]) == 0
    assert (tmp_path / "all.pcm").stat().st_size == 2 * audiofmt.output_length(soundfile.info(SPEECH).frames, 16000, 24000)
    with pytest.raises(SystemExit):
        main(["convert", str(SPEECH), "-t", "-1", "-o", str(tmp_path / "no.pcm"), "--to", "pcm16"])


@pytest.fixture
def small_fs(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True, check=False).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_the_disk_never_fills(small_fs, capsys):
    # length known up front (-t): refused before writing
    assert main(["convert", "/dev/zero", "--raw-format", "s16le", "--raw-rate", "16000", "-t", "60", "--to", "pcm16",
                 "-o", str(small_fs / "a.pcm")]) == 1
    _one_error_line(capsys.readouterr().err, str(small_fs / "a.pcm"), "before the disk fills")
    # length unknown (an endless pipe): stopped while writing, the reserve still free
    with open("/dev/zero", "rb") as zeros:
        proc = subprocess.run([sys.executable, "-m", "audiofmt", "convert", "-", "--raw-format", "s16le", "--raw-rate", "16000",
                               "--to", "pcm16", "-o", str(small_fs / "b.pcm")], cwd=REPO, capture_output=True, timeout=60,
                              stdin=zeros, check=False)
    assert proc.returncode == 1
    _one_error_line(proc.stderr.decode(), str(small_fs / "b.pcm"), "before the disk fills")
    assert os.listdir(small_fs) == []
    vfs = os.statvfs(small_fs)
    assert vfs.f_bavail == vfs.f_blocks  # the temporary file is gone


# --- 6. one-line errors ---------------------------------------------------------------------------

def test_one_line_errors_for_missing_files_and_directories(tmp_path, capsys):
    cases = [
        (["decode", str(tmp_path / "missing.ulaw"), "--from", "g711_ulaw", "-o", str(tmp_path / "x.wav")], 1, "no such file"),
        (["decode", str(FIXTURES / "speech_8k.ulaw"), "--from", "g711_ulaw", "-o", str(tmp_path / "no" / "x.wav")], 2, "does not exist"),
        (["roundtrip", str(SPEECH), "-o", str(tmp_path / "no" / "x.wav")], 2, "does not exist"),
        (["roundtrip", str(tmp_path / "missing.wav")], 1, "no such file"),
        (["convert", str(SPEECH), "-o", str(tmp_path / "no" / "x.wav"), "--to", "pcm16"], 2, "does not exist"),
        (["convert", str(tmp_path / "missing.wav"), "-o", str(tmp_path / "x.wav"), "--to", "pcm16"], 1, "no such file"),
        (["info", str(tmp_path / "missing.wav")], 1, "no such file"),
    ]
    for argv, code, needle in cases:
        assert main(argv) == code, argv
        _one_error_line(capsys.readouterr().err, needle)
    assert os.listdir(tmp_path) == []


def test_dask_unreachable_scheduler_is_one_line_within_the_timeout(tmp_path, capsys):
    start = time.monotonic()
    argv = ["convert", str(SPEECH), "-o", str(tmp_path / "x.wav"), "--to", "pcm16", "--dask", "tcp://127.0.0.1:9", "--dask-timeout", "1"]
    assert main(argv) == 1 and time.monotonic() - start < 20
    _one_error_line(capsys.readouterr().err, "--dask tcp://127.0.0.1:9", "1 s")


def test_dask_jobs_use_absolute_paths(tmp_path, monkeypatch):
    from audiofmt.cli import _jobs, build_parser

    monkeypatch.chdir(tmp_path)
    shutil.copy(SPEECH, "a.wav")
    args = build_parser().parse_args(["convert", "a.wav", "-d", "out", "--to", "pcm16", "--dask", "tcp://127.0.0.1:9"])
    (job,), _ = _jobs(args)
    assert job.source == str(tmp_path / "a.wav") and job.destination == str(tmp_path / "out" / "a.wav")
    assert "absolute" in build_parser()._subparsers._group_actions[0].choices["convert"].format_help()


# --- 7. what users expect of a converter -----------------------------------------------------------

def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"audiofmt {audiofmt.__version__}"


def test_stdout_output_takes_its_container_from_to(tmp_path, capsysbinary):
    assert main(["convert", str(SPEECH), "-o", "-", "--to", "g711_alaw"]) == 0
    convert_file(SPEECH, tmp_path / "x.alaw", "g711_alaw")
    assert capsysbinary.readouterr().out == (tmp_path / "x.alaw").read_bytes()


def test_stdin_needs_an_output(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["convert", "-", "--raw-format", "s16le", "--raw-rate", "16000", "--to", "pcm16"]) == 2
    _one_error_line(capsys.readouterr().err, "-o")
    assert os.listdir(tmp_path) == []


def test_decode_to_stdout(tmp_path, capsysbinary):
    ulaw = FIXTURES / "speech_8k.ulaw"
    assert main(["decode", str(ulaw), "--from", "g711_ulaw", "-o", "-"]) == 0
    assert capsysbinary.readouterr().out == audiofmt.decode(ulaw.read_bytes(), "g711_ulaw").astype("<i2").tobytes()
    # a WAV to a pipe: the streamed header (sizes unknown), read back to the same samples
    wav = _run("decode", str(ulaw), "--from", "g711_ulaw", "-o", "-", "--container", "wav", "--rate", "16000")
    (tmp_path / "streamed.wav").write_bytes(wav.stdout)
    assert wav.returncode == 0 and wav.stdout[:4] == b"RIFF"
    audiofmt.decode_file(ulaw, tmp_path / "file.wav", "g711_ulaw", rate_hz=16000)
    streamed, rate = soundfile.read(tmp_path / "streamed.wav", dtype="int16")
    assert rate == 16000 and np.array_equal(streamed, soundfile.read(tmp_path / "file.wav", dtype="int16")[0])


def test_info_reads_raw_outputs_by_extension(tmp_path, capsys):
    for fmt, ext, rate in (("g711_ulaw", ".ulaw", 8000), ("g711_alaw", ".alaw", 8000), ("pcm16", ".pcm", 24000)):
        out = tmp_path / f"x{ext}"
        result = convert_file(SPEECH, out, fmt)
        assert main(["info", str(out)]) == 0
        assert f"RAW {fmt}, {rate} Hz, 1 ch, {result.samples_out} frames" in capsys.readouterr().out


# --- 8. channels, gain, normalize, clipping ---------------------------------------------------------

def _reference(path: Path, fmt: str, channel: int | None = None, gain: float = 1.0) -> bytes:
    x, rate = soundfile.read(path, always_2d=True)
    mono = x.mean(axis=1) if channel is None else x[:, channel]
    rate_out = audiofmt.get_format(fmt).rate_hz
    y = audiofmt.resample(np.ascontiguousarray(mono), rate, rate_out) if rate != rate_out else mono
    return audiofmt.encode(y * gain if gain != 1.0 else y, fmt, clip="ignore")


def test_channel_choice_and_gain(tmp_path, capsys):
    stereo = FIXTURES / "speech_16k_stereo_pcm16.wav"
    for channel in (0, 1):
        assert main(["convert", str(stereo), "--channel", str(channel), "-o", str(tmp_path / f"c{channel}.pcm"), "--to", "pcm16", "-q"]) == 0
        assert (tmp_path / f"c{channel}.pcm").read_bytes() == _reference(stereo, "pcm16", channel)
    assert (tmp_path / "c0.pcm").read_bytes() != (tmp_path / "c1.pcm").read_bytes()
    assert main(["convert", str(stereo), "--channel", "2", "-o", str(tmp_path / "c2.pcm"), "--to", "pcm16"]) == 1
    _one_error_line(capsys.readouterr().err, "channel 2", "2 channel(s)")
    assert main(["convert", str(SPEECH), "--gain", "-6", "-o", str(tmp_path / "g.ulaw"), "--to", "g711_ulaw", "-q"]) == 0
    assert (tmp_path / "g.ulaw").read_bytes() == _reference(SPEECH, "g711_ulaw", gain=10 ** (-6 / 20))


def test_normalize_puts_the_peak_at_minus_one_dbfs(tmp_path, capsys):
    assert main(["convert", str(SPEECH), "--normalize", "-o", str(tmp_path / "n.pcm"), "--to", "pcm16", "-v"]) == 0
    peak = np.abs(np.frombuffer((tmp_path / "n.pcm").read_bytes(), dtype="<i2").astype(np.int32)).max()
    assert abs(peak - 32768 * 10 ** (-1 / 20)) <= 1
    assert "gain +" in capsys.readouterr().err


def test_clipping_is_always_reported_unless_quiet(tmp_path, capsys):
    assert main(["convert", str(SPEECH), "--gain", "20", "-o", str(tmp_path / "loud.pcm"), "--to", "pcm16"]) == 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("audiofmt: warning: ") and "samples clipped" in err and len(err.splitlines()) == 1
    assert main(["convert", str(SPEECH), "--gain", "20", "-o", str(tmp_path / "loud.pcm"), "--to", "pcm16", "-q", "-y"]) == 0
    assert capsys.readouterr().err == ""


# --- 9. progress by samples; the compiling note ----------------------------------------------------

def test_one_long_file_shows_a_moving_bar_with_an_eta():
    """On a terminal, a 3 h conversion's bar moves within the one file. Once it has shown three
    percentages the run is ended by SIGTERM (exit 143): the rest would only take time."""
    import pty

    def percents(text: str) -> set[str]:
        frames = [f for f in text.split("\r")[:-1] if "eta" in f]  # the last piece may be cut short
        return {f.split("]")[1].split("%")[0].strip() for f in frames}

    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "audiofmt", "convert", "/dev/zero", "--raw-format", "s16le", "--raw-rate", "48000",
                             "-t", "3:00:00", "--to", "g711_ulaw", "-o", "/dev/null", "--container", "raw"],
                            cwd=REPO, stderr=follower, stdout=subprocess.DEVNULL)
    os.close(follower)
    output = b""
    try:
        while len(percents(output.decode(errors="replace"))) < 3:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
    finally:
        proc.terminate()
        code = proc.wait(60)
        os.close(leader)
    assert len(percents(output.decode())) >= 3, output  # the bar moves within the one file
    assert code == 143, output  # it was still converting when the bar had moved: 128 + SIGTERM


def test_compiling_note_on_a_tty_with_a_cold_cache(tmp_path, monkeypatch, capsys):
    from audiofmt import cli

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "empty"))
    assert cli.kernel_cache_cold()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["convert", str(SPEECH), "-o", str(tmp_path / "x.pcm"), "--to", "pcm16"]) == 0
    assert "compiling kernels, once" in capsys.readouterr().err
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    assert not cli.kernel_cache_cold()  # this repository's cache is warm once the tests have run a conversion


# --- 10. usage errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize("jobs", ["0", "-1", "x"])
def test_jobs_must_be_positive(jobs, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", str(SPEECH), "-d", str(tmp_path), "--to", "pcm16", "-j", jobs])
    assert exit_info.value.code == 2


def test_a_closed_stdout_ends_quietly():
    """`audiofmt convert x -o - | head -c 10`: no error, no traceback, exit 141 like a SIGPIPE."""
    proc = subprocess.Popen([sys.executable, "-m", "audiofmt", "convert", str(SPEECH), "-o", "-", "--to", "pcm16"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and len(proc.stdout.read(10)) == 10
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 141 and err == b""
