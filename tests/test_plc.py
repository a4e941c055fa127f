"""G.711 Appendix I packet loss concealment: sample-exact against the ITU-T reference.

The reference vectors (../shared/g711iplc, or $AUDIOFMT_G711IPLC_REFERENCE) come from the ITU-T
STL (G.191) program `g711iplc` (`lowcfe.c`, built with USEDOUBLES). What the files are, found by
reading them and the program:

- `f2.le`: 22960 samples (2.87 s, 287 frames of 10 ms) of 8 kHz speech, raw int16 little-endian.
- `fe10.g192`, `fe10_2.g192`: ITU-T G.192 frame-erasure patterns, one 16-bit little-endian word
  per 10 ms (80-sample) frame, 0x6B21 received, 0x6B20 lost; 10 and 20 words, read cyclically
  over the file (the program rewinds at the end of the pattern). fe10: frame 9 of every 10 lost
  (single 10 ms losses, 10 %); fe10_2: frames 18 and 19 of every 20 (20 ms bursts, 10 %).
- `f2_10.raw`, `f2_10_2.raw`: the program's output for f2.le with each pattern, raw int16 LE,
  as long as the input; `f2_10m.raw`: fe10 with `-noplc` (lost frames replaced by zeros, which
  then pass through the concealer as received frames).
- Framing: the concealer delays by 30 samples (3.75 ms); the program writes 50 samples for its
  first frame and 80 for every later one, then feeds one zero frame and writes the first 30
  samples of its output (the held-back tail). So: output of every frame + `flush()`, minus the
  first 30 samples, is the reference file. With 20 ms frames the same holds when a 20 ms frame
  is lost exactly when both of its 10 ms halves are (fe10_2; fe10's single 10 ms losses cannot
  be expressed in 20 ms frames). f2.le is 143.5 frames of 20 ms: the last one is padded with
  zeros, which never reach the output.

Every sample of every reference file is compared. The vectors cover losses of 10 and 20 ms only;
the longer-loss branches (the 3-period segment, the fade over 60 ms, silence, recovery after long
losses, losses before any good frame) are pinned against the reference program's own output on
stretches of our speech fixture (tests/data/g711iplc, made by the program; its README says how),
against the compiled program on random patterns when AUDIOFMT_G711IPLC_PROGRAM points at it
(skipped otherwise), and against `ReferenceModel` below, a plain-Python per-10-ms model of the
reference's arithmetic, on other speech with random loss patterns.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiofmt.bridge.g711iplc import main as g711iplc
from audiofmt.bridge.plc import Concealer, conceal, read_g192
from audiofmt.errors import (
    InvalidDataError,
    InvalidRateError,
    InvalidSamplesError,
)
from audiofmt.kernels import plc as kernels

RATE = 8000
DELAY = 30
REPO = Path(__file__).resolve().parent.parent
IPLC_REFERENCE = Path(os.environ.get("AUDIOFMT_G711IPLC_REFERENCE", REPO.parent / "shared" / "g711iplc"))


def reference_file(name: str) -> Path:
    path = IPLC_REFERENCE / name
    if not path.exists():
        pytest.fail(f"G.711 Appendix I reference file {path} is missing; "
                    "set AUDIOFMT_G711IPLC_REFERENCE to shared/g711iplc")
    return path


def reference_samples(name: str) -> np.ndarray:
    return np.fromfile(reference_file(name), dtype="<i2").astype(np.int16)


def reference_pattern(name: str) -> np.ndarray:
    return read_g192(reference_file(name).read_bytes())


# -- a plain-Python model of the reference's arithmetic (slow; for the branches the vectors miss) --


class ReferenceModel:
    """The reference concealer, one 10 ms frame at a time, in Python scalars: floats are IEEE
    doubles like the reference's `Float`, int() truncates like its `(short)` casts, and every
    weight and gain is stepped by repeated addition as the reference steps it."""

    def __init__(self) -> None:
        self.history = [0] * 390
        self.buf = [0.0] * 390
        self.lastq = [0.0] * 30
        self.erased = 0
        self.pitch = self.quarter = self.offset = self.blen = 0

    def _save(self, s: list[int]) -> list[int]:
        self.history = self.history[80:] + s
        return self.history[280:360]

    def _read(self, n: int) -> list[int]:
        out = []
        for _ in range(n):
            out.append(int(self.buf[390 - self.blen + self.offset]))
            self.offset = (self.offset + 1) % self.blen
        return out

    def _blend(self) -> None:
        q = self.quarter
        start = 390 - self.blen - q
        incr = 1.0 / q
        lw, rw = 1.0 - incr, incr
        for i in range(q):
            t = min(max(lw * self.lastq[i] + rw * self.buf[start + i], -32768.0), 32767.0)
            self.buf[390 - q + i] = t
            lw -= incr
            rw += incr

    @staticmethod
    def _ola(left: list[int], right: list[int], gain: float) -> list[int]:
        n = len(left)
        incr = 1.0 / n
        incr_gain = incr * gain
        lw, rw = (1.0 - incr) * gain, incr
        out = []
        for a, b in zip(left, right):
            out.append(int(min(max(lw * a + rw * b, -32768.0), 32767.0)))
            lw -= incr_gain
            rw += incr
        return out

    def _scale(self, s: list[int]) -> list[int]:
        g = 1.0 - (self.erased - 1) * 0.2
        out = []
        for v in s:
            out.append(int(v * g))
            g -= 0.2 / 80
        return out

    def _find_pitch(self) -> int:
        b = self.buf
        target = b[230:390]

        def score(lag: int, step: int) -> float:
            cand = b[230 - lag : 390 - lag]
            energy = sum(cand[i] * cand[i] for i in range(0, 160, step))
            corr = sum(cand[i] * target[i] for i in range(0, 160, step))
            return corr / math.sqrt(max(energy, 250.0))

        best, best_score = 120, score(120, 2)
        for lag in range(118, 39, -2):
            sc = score(lag, 2)
            if sc >= best_score:
                best, best_score = lag, sc
        hi, lo = min(best + 1, 120), max(best - 1, 40)
        best, best_score = hi, score(hi, 1)
        for lag in range(hi - 1, lo - 1, -1):
            sc = score(lag, 1)
            if sc > best_score:
                best, best_score = lag, sc
        return best

    def good(self, s: list[int]) -> list[int]:
        if self.erased:
            n = min(self.quarter + (self.erased - 1) * 32, 80)
            gain = max(1.0 - (self.erased - 1) * 0.2, 0.0)
            s = self._ola(self._read(n), s[:n], gain) + s[n:]
            self.erased = 0
        return self._save(s)

    def lost(self) -> list[int]:
        if self.erased == 0:
            self.buf = [float(v) for v in self.history]
            self.pitch = self._find_pitch()
            self.quarter = q = self.pitch // 4
            self.lastq = self.buf[390 - q :]
            self.offset, self.blen = 0, self.pitch
            self._blend()
            self.history[390 - q :] = [int(v) for v in self.buf[390 - q :]]
            s = self._read(80)
        elif self.erased <= 2:
            saved = self.offset
            old = self._read(self.quarter)
            self.offset = saved
            while self.offset > self.pitch:
                self.offset -= self.pitch
            self.blen += self.pitch
            self._blend()
            s = self._read(80)
            s = self._scale(self._ola(old, s[: self.quarter], 1.0) + s[self.quarter :])
        elif self.erased <= 5:
            s = self._scale(self._read(80))
        else:
            s = [0] * 80
        self.erased += 1
        return self._save(s)


def model_output(x: np.ndarray, lost_units: np.ndarray) -> np.ndarray:
    """The model run over x (a whole number of 10 ms units), aligned and as long as x."""
    m = ReferenceModel()
    out: list[int] = []
    for u, miss in enumerate(lost_units):
        out += m.lost() if miss else m.good([int(v) for v in x[80 * u : 80 * u + 80]])
    out += m.good([0] * 80)[:30]
    return np.array(out[30:], dtype=np.int16)


def speech_8k() -> np.ndarray:
    x, rate = sf.read(REPO / "fixtures" / "speech_8k.wav", dtype="int16")
    assert rate == RATE and x.ndim == 1
    return x[: len(x) // 160 * 160]


def random_units(rng: np.random.Generator, n_units: int, frame_units: int, max_burst: int) -> np.ndarray:
    """A loss pattern per 10 ms unit: bursts of 1..max_burst frames of `frame_units` units."""
    lost = np.zeros(n_units, dtype=bool)
    u = int(rng.integers(0, 8)) * frame_units
    while u < n_units:
        burst = int(rng.integers(1, max_burst + 1)) * frame_units
        lost[u : u + burst] = True
        u += burst + int(rng.integers(1, 12)) * frame_units
    return lost


def harmonic(f0: float, n: int, amplitude: float = 12000.0, phase: float = 0.0) -> np.ndarray:
    """A vowel-like tone: harmonics of f0 up to 3.4 kHz with a falling 1/h envelope, int16."""
    t = np.arange(n) / RATE
    x = np.zeros(n)
    for h in range(1, int(3400 // f0) + 1):
        x += np.cos(2 * np.pi * f0 * h * t + phase * h + 0.7 * h * h) / h
    return np.rint(x / np.abs(x).max() * amplitude).astype(np.int16)


def tiled(period: np.ndarray, n: int) -> np.ndarray:
    """An exactly periodic int16 signal: one period repeated."""
    return np.tile(period, n // len(period) + 1)[:n].astype(np.int16)


def sawtooth_period(p: int, amplitude: int = 12000) -> np.ndarray:
    return np.rint((np.arange(p) / p * 2 - 1) * amplitude).astype(np.int16)


def run(x: np.ndarray, lost_frames: set[int], frame: int = 160) -> tuple[np.ndarray, Concealer]:
    """Feed x frame by frame (frames in `lost_frames` lost), then flush; aligned to input time."""
    c = Concealer(frame)
    out = [c.lost() if i in lost_frames else c.good(f) for i, f in enumerate(x.reshape(-1, frame))]
    y = np.concatenate(out + [c.flush()])
    assert len(y) == len(x) + DELAY
    return y[DELAY:], c  # y[t] is input time t


def snr_db(x: np.ndarray, y: np.ndarray) -> float:
    x = x.astype(np.float64)
    e = np.sum((x - y.astype(np.float64)) ** 2)
    return float("inf") if e == 0 else float(10 * np.log10(np.sum(x**2) / e))


# -- the ITU-T reference vectors -----------------------------------------------------------------


def test_reference_files_are_what_the_docstring_says():
    x = reference_samples("f2.le")
    assert len(x) == 22960 == 287 * 80
    for name in ("f2_10.raw", "f2_10_2.raw", "f2_10m.raw"):
        assert len(reference_samples(name)) == len(x)
    fe10, fe10_2 = reference_pattern("fe10.g192"), reference_pattern("fe10_2.g192")
    np.testing.assert_array_equal(fe10, [False] * 9 + [True])
    np.testing.assert_array_equal(fe10_2, [False] * 18 + [True, True])
    # -noplc: the input with its lost 10 ms frames zeroed, delayed by 30 and aligned back
    muted = x.copy().reshape(-1, 80)
    muted[np.resize(fe10, 287)] = 0
    np.testing.assert_array_equal(reference_samples("f2_10m.raw"), muted.reshape(-1))


REFERENCE_CASES = [
    ("f2_10.raw", "fe10.g192", 80, True),
    ("f2_10_2.raw", "fe10_2.g192", 80, True),
    ("f2_10_2.raw", "fe10_2.g192", 160, True),
    ("f2_10m.raw", "fe10.g192", 80, False),
]


@pytest.mark.parametrize("expected, pattern, frame, plc", REFERENCE_CASES)
def test_reference_vectors_sample_exact(expected, pattern, frame, plc):
    """Frame by frame through the Concealer; every sample equals the reference's."""
    x = reference_samples("f2.le")
    k = frame // 80
    n_frames = -(-len(x) // frame)  # f2.le is 143.5 frames of 20 ms: the last one is padded
    padded = np.zeros(n_frames * frame, np.int16)
    padded[: len(x)] = x
    lost = np.resize(reference_pattern(pattern), n_frames * k).reshape(n_frames, k)
    assert (lost.all(axis=1) == lost.any(axis=1)).all()  # a frame is lost whole or not at all
    c = Concealer(frame)
    silence = np.zeros(frame, np.int16)
    out = []
    for f, miss in zip(padded.reshape(-1, frame), lost[:, 0]):
        out.append(c.lost() if miss and plc else c.good(silence if miss else f))
    out.append(c.flush())
    y = np.concatenate(out)[DELAY : DELAY + len(x)]
    ref = reference_samples(expected)
    assert y.dtype == np.int16 and len(y) == len(ref)
    bad = np.flatnonzero(y != ref)
    assert bad.size == 0, f"{bad.size} samples differ, first at {bad[:5]}: {y[bad[:5]]} vs {ref[bad[:5]]}"
    if plc:
        assert c.stats.lost_frames == int(lost[:, 0].sum()) > 0


@pytest.mark.parametrize("expected, pattern, frame, plc", REFERENCE_CASES)
def test_conceal_function_reproduces_reference(expected, pattern, frame, plc):
    x = reference_samples("f2.le")
    units = reference_pattern(pattern)
    per_frame = units[:: frame // 80] if frame > 80 else units
    y = conceal(x, np.resize(per_frame, -(-len(x) // frame)), frame, plc=plc)
    np.testing.assert_array_equal(y, reference_samples(expected))


@pytest.mark.parametrize("frame_ms", [10, 20])
def test_command_line_reproduces_reference_files(tmp_path, frame_ms):
    """A G.192 pattern has one word per frame of the program: fe10_2 in 10 ms frames is the same
    loss as fe10 in 20 ms frames (the 10th of every ten 20 ms frames lost)."""
    out = tmp_path / "out.raw"
    pattern = "fe10_2.g192" if frame_ms == 10 else "fe10.g192"
    args = ["--frame-ms", str(frame_ms), str(reference_file(pattern)), str(reference_file("f2.le")), str(out)]
    assert g711iplc(args) == 0
    assert out.read_bytes() == reference_file("f2_10_2.raw").read_bytes()
    if frame_ms == 10:
        assert g711iplc([str(reference_file("fe10.g192")), str(reference_file("f2.le")), str(out)]) == 0
        assert out.read_bytes() == reference_file("f2_10.raw").read_bytes()
        assert g711iplc(["-noplc", str(reference_file("fe10.g192")), str(reference_file("f2.le")), str(out)]) == 0
        assert out.read_bytes() == reference_file("f2_10m.raw").read_bytes()


def test_command_line_bad_files(tmp_path, capsys):
    out = tmp_path / "out.raw"
    assert g711iplc([str(reference_file("f2.le")), str(reference_file("f2.le")), str(out)]) == 1
    assert "G.192 pattern word 0 is 0x0000" in capsys.readouterr().err
    odd = tmp_path / "odd.raw"
    odd.write_bytes(b"\x00" * 161)
    assert g711iplc([str(reference_file("fe10.g192")), str(odd), str(out)]) == 1
    assert "161 bytes" in capsys.readouterr().err
    assert g711iplc([str(reference_file("fe10.g192")), str(tmp_path / "missing.raw"), str(out)]) == 1
    assert not out.exists()  # nothing written on failure
    with pytest.raises(SystemExit):
        g711iplc(["--frame-ms", "15", str(reference_file("fe10.g192")), str(odd), str(out)])


def test_model_reproduces_reference_vectors():
    """The plain-Python model is itself checked against the reference before it checks anything."""
    x = reference_samples("f2.le")
    for expected, pattern in (("f2_10.raw", "fe10.g192"), ("f2_10_2.raw", "fe10_2.g192")):
        lost = np.resize(reference_pattern(pattern), len(x) // 80)
        np.testing.assert_array_equal(model_output(x, lost), reference_samples(expected))


def test_a_one_sample_change_is_caught():
    """The comparison is sharp: one input sample changed by 1 LSB changes the output."""
    x = reference_samples("f2.le").copy()
    lost = np.resize(reference_pattern("fe10.g192"), len(x) // 80)
    ref = reference_samples("f2_10.raw")
    x[8 * 80 + 40] += 1  # received audio just before a loss: copied straight through
    assert (conceal(x, lost) != ref).sum() >= 1


# -- other speech, long losses: against the model; 10 ms vs 20 ms framings -----------------------


@pytest.mark.parametrize("seed", range(3))
def test_long_losses_on_other_speech_match_the_model(seed):
    """fixtures/speech_8k.wav (espeak-ng, 8 s) with bursts of 10–150 ms: every branch of the
    algorithm (3-period segment, the fade, silence after 60 ms, recovery after long losses)."""
    x = speech_8k()
    rng = np.random.default_rng(seed)
    lost = random_units(rng, len(x) // 80, 1, 15)
    assert lost.sum() > 100
    expected = model_output(x, lost)
    np.testing.assert_array_equal(conceal(x, lost, 80), expected)
    # the same stream in 20/30/40 ms frames, wherever every frame is lost whole
    for frame_units in (2, 3, 4):
        lost_f = random_units(rng, len(x) // 80 // frame_units * frame_units, frame_units, 8)
        xf = x[: len(lost_f) * 80]
        expected = model_output(xf, lost_f)
        y = conceal(xf, lost_f[::frame_units], 80 * frame_units)
        np.testing.assert_array_equal(y, expected)
        np.testing.assert_array_equal(conceal(xf, lost_f, 80), expected)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), loss=st.sampled_from([0.05, 0.2, 0.5]))
def test_random_losses_10ms_and_20ms_framings_agree(seed, loss):
    """Random 20 ms losses on other speech (the 8 kHz fixture reversed in time): 20 ms frames
    give the same samples as 10 ms frames with both halves lost, as the reference says."""
    x = speech_8k()[::-1].copy()  # reversed speech: still speech-like, not the model's test input
    rng = np.random.default_rng(seed)
    lost20 = rng.random(len(x) // 160) < loss
    y20 = conceal(x, lost20, 160)
    y10 = conceal(x, np.repeat(lost20, 2), 80)
    np.testing.assert_array_equal(y20, y10)
    # and frame by frame, lost() per 20 ms == two lost() per 10 ms
    c20, c10 = Concealer(160), Concealer(80)
    for f, miss in zip(x.reshape(-1, 160)[:60], lost20[:60]):
        a = c20.lost() if miss else c20.good(f)
        b = np.concatenate([c10.lost(), c10.lost()] if miss else [c10.good(f[:80]), c10.good(f[80:])])
        np.testing.assert_array_equal(a, b)


# -- the long-loss branches against the reference program itself ------------------------------
#
# tests/data/g711iplc: stretches of fixtures/speech_8k.wav with loss patterns the shared vectors
# never reach (loss before any good frame, 30/60/100 ms, silence after 60 ms, recovery after long
# losses, back-to-back losses one good 10 ms apart, loss in near-silence and across an onset), and
# the ITU-T program's output for each (make_reference.py there; README.md says how). With
# AUDIOFMT_G711IPLC_PROGRAM set to a compiled g711iplc, random patterns are compared live too.

REF_DATA = REPO / "tests" / "data" / "g711iplc"
SPEECH_8K_SHA256 = "d03cfea73251d2bf788c20776eb14a61f1517a215f88210f4722bd3c82b634db"
IPLC_PROGRAM = os.environ.get("AUDIOFMT_G711IPLC_PROGRAM")


def _load_reference_cases():
    spec = importlib.util.spec_from_file_location("g711iplc_make_reference", REF_DATA / "make_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REF_CASES = _load_reference_cases()


def speech_8k_stretch(first_unit: int, n_units: int) -> np.ndarray:
    path = REPO / "fixtures" / "speech_8k.wav"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SPEECH_8K_SHA256, (
        "fixtures/speech_8k.wav changed: regenerate tests/data/g711iplc with its make_reference.py "
        "and update SPEECH_8K_SHA256"
    )
    return REF_CASES.stretch(speech_8k(), first_unit, n_units)


def frames_fed(x: np.ndarray, lost_units: np.ndarray, frame_units: int) -> np.ndarray:
    """x through a Concealer frame by frame (good/lost/flush), aligned: frames of frame_units
    10 ms units, a frame lost when its units are."""
    c = Concealer(80 * frame_units)
    per_frame = lost_units.reshape(-1, frame_units)
    assert (per_frame.all(axis=1) | ~per_frame.any(axis=1)).all()
    out = [c.lost() if miss else c.good(f) for f, miss in zip(x.reshape(-1, 80 * frame_units), per_frame[:, 0])]
    return np.concatenate([*out, c.flush()])[DELAY : DELAY + len(x)]


@pytest.mark.parametrize("name", sorted(REF_CASES.CASES))
def test_long_losses_match_the_reference_program_outputs(name):
    first, lost = REF_CASES.CASES[name]
    np.testing.assert_array_equal(read_g192((REF_DATA / f"{name}.g192").read_bytes()), lost)
    x = speech_8k_stretch(first, len(lost))
    expected = np.fromfile(REF_DATA / f"{name}.raw", dtype="<i2").astype(np.int16)
    assert len(expected) == len(x)
    np.testing.assert_array_equal(conceal(x, lost, 80), expected)
    np.testing.assert_array_equal(frames_fed(x, lost, 1), expected)
    pairs = lost.reshape(-1, 2)
    if (pairs.all(axis=1) | ~pairs.any(axis=1)).all():  # whole 20 ms frames lost: 20 ms framing too
        np.testing.assert_array_equal(conceal(x, pairs[:, 0], 160), expected)
        np.testing.assert_array_equal(frames_fed(x, lost, 2), expected)
    np.testing.assert_array_equal(model_output(x, lost), expected)  # the model, on the real program


def test_reference_program_cases_reach_the_long_loss_branches():
    """The cases exist for these branches: check they are taken (and not e.g. all silence)."""
    taken = {"no good frame yet": False, "3 periods": False, "faded": False, "muted": False,
             "gain 0 recovery": False, "one good 10 ms between losses": False,
             "read position exactly one period in": False}
    for first, lost in REF_CASES.CASES.values():
        x = speech_8k_stretch(first, len(lost))
        c = Concealer(80)
        run_len = 0
        for u, (f, miss) in enumerate(zip(x.reshape(-1, 80), lost)):
            if miss:
                taken["no good frame yet"] |= c.stats.good_frames == 0
                taken["read position exactly one period in"] |= run_len == 2 and c._offset == c._pitch
                y = c.lost()
                run_len += 1
                taken["3 periods"] |= run_len == 3 and c._seg_len == 3 * c._pitch and np.abs(y).max() > 1000
                taken["faded"] |= run_len == 6 and np.abs(y[DELAY:]).max() > 0  # gain 0.2 down to 0
                taken["muted"] |= run_len == 7 and not y[DELAY:].any()  # the first 30: the 6th, delayed
            else:
                taken["gain 0 recovery"] |= run_len >= 6
                taken["one good 10 ms between losses"] |= 0 < u < len(lost) - 1 and lost[u - 1] and lost[u + 1]
                run_len = 0
                c.good(f)
    assert all(taken.values()), taken


def reference_program(x: np.ndarray, lost_units: np.ndarray) -> np.ndarray:
    assert IPLC_PROGRAM is not None
    return REF_CASES.run_reference(IPLC_PROGRAM, x, lost_units)


@pytest.mark.skipif(not IPLC_PROGRAM, reason="AUDIOFMT_G711IPLC_PROGRAM (a compiled ITU-T STL g711iplc) not set")
@pytest.mark.parametrize("seed", range(4))
def test_random_losses_against_the_reference_program(seed):
    """Opt-in: the compiled reference on random patterns (bursts of 10-250 ms, a loss at the
    start, 50 % loss, back-to-back losses) over speech, reversed speech and clipped speech, in
    10, 20, 30 and 40 ms frames; every sample compared."""
    x = reference_samples("f2.le")
    assert np.array_equal(reference_program(x, np.resize([False] * 18 + [True, True], len(x) // 80)),
                          reference_samples("f2_10_2.raw")), "the program does not reproduce f2_10_2.raw"
    rng = np.random.default_rng(seed)
    speech = speech_8k()[: len(speech_8k()) // 960 * 960]
    loud = np.clip(speech.astype(np.int32) * 4, -32768, 32767).astype(np.int16)
    n = len(speech) // 80
    for signal in (speech, speech[::-1].copy(), loud):
        for frame_units in (1, 2, 3, 4):
            bursts = random_units(rng, n, frame_units, 25 // frame_units)
            bursts[: frame_units * int(rng.integers(1, 4))] = True  # lost before any good frame
            half = np.repeat(rng.random(n // frame_units) < 0.5, frame_units)
            b2b = np.zeros(n, dtype=bool)
            for u in range(0, n - 20 * frame_units, 20 * frame_units):  # two losses, one good frame apart
                a, b = int(rng.integers(1, 9)), int(rng.integers(1, 9))
                b2b[u : u + a * frame_units] = True
                b2b[u + (a + 1) * frame_units : u + (a + 1 + b) * frame_units] = True
            for lost in (bursts, half, b2b):
                per_frame = lost.reshape(-1, frame_units)
                assert (per_frame.all(axis=1) | ~per_frame.any(axis=1)).all()
                expected = reference_program(signal, lost)
                np.testing.assert_array_equal(conceal(signal, lost[::frame_units], 80 * frame_units), expected)
                if frame_units > 1:
                    np.testing.assert_array_equal(conceal(signal, lost, 80), expected)


# -- no loss -----------------------------------------------------------------------------------


@pytest.mark.parametrize("frame", [80, 160, 240, 480])
def test_no_loss_is_input_delayed_bit_exact(frame):
    rng = np.random.default_rng(frame)
    x = rng.integers(-32768, 32768, size=frame * 23).astype(np.int16)
    x[:5] = [-32768, 32767, 0, -1, 1]
    c = Concealer(frame)
    assert c.delay_samples == DELAY and c.delay_ms == 3.75  # the delay measured below, as the object reports it
    y = np.concatenate([c.good(f) for f in x.reshape(-1, frame)])
    assert y.dtype == np.int16 and len(y) == len(x)
    np.testing.assert_array_equal(y, np.concatenate([np.zeros(DELAY, np.int16), x[:-DELAY]]))
    tail = c.flush()
    assert tail.dtype == np.int16
    np.testing.assert_array_equal(tail, x[-DELAY:])
    assert c.stats.good_frames == 23 and c.stats.lost_frames == 0 and c.pitch is None


def test_flush_ends_the_stream_and_starts_afresh():
    x = speech_8k()[:160 * 30]
    lost = {7, 8, 15, 29}  # the last frame lost: its synthetic tail is what flush returns
    y, c = run(x, lost)
    expected = model_output(x, np.repeat([i in lost for i in range(30)], 2))
    np.testing.assert_array_equal(y, expected)
    # after flush: a new stream, as from a new Concealer (stats kept)
    fresh = Concealer()
    for i, f in enumerate(x.reshape(-1, 160)[:10]):
        np.testing.assert_array_equal(c.lost() if i in lost else c.good(f), fresh.lost() if i in lost else fresh.good(f))
    assert c.stats.good_frames == 26 + 8 and c.stats.lost_frames == 4 + 2
    np.testing.assert_array_equal(c.flush(), fresh.flush())


def test_accepts_any_int16_layout_and_never_modifies_the_input():
    x = np.arange(320, dtype=np.int16) * 50
    a = Concealer().good(x[::2].copy())
    np.testing.assert_array_equal(Concealer().good(x[::2]), a)  # strided view
    big = np.frombuffer(x[::2].astype(">i2").tobytes(), dtype=">i2")
    np.testing.assert_array_equal(Concealer().good(big), a)
    ro = np.frombuffer(x[::2].tobytes(), dtype=np.int16)  # read-only
    np.testing.assert_array_equal(Concealer().good(ro), a)
    c = Concealer()
    c.good(x[:160].copy())
    c.lost()
    frame = x[160:].copy()
    c.good(frame)  # recovery cross-fades into a copy, not into the caller's frame
    np.testing.assert_array_equal(frame, x[160:])
    c.lost()
    c.good(ro)  # read-only input after a loss works too


# -- the pitch search and the first lost frame -------------------------------------------------


@pytest.mark.parametrize(
    "x, period",
    [
        (tiled(sawtooth_period(40), 8000), 40.0),  # 200 Hz sawtooth; 80 and 120 tie, 40 wins
        (tiled(harmonic(8000 / 64, 64), 8000), 64.0),  # vowel-like, exactly periodic
        (harmonic(123.0, 8000), 8000 / 123.0),  # 65.04 samples: not an integer
        (harmonic(70.0, 8000), 8000 / 70.0),  # 114.3 samples
        (harmonic(100.0, 8000), 80.0),
    ],
    ids=["saw200", "vowel125", "vowel123", "vowel70", "vowel100"],
)
def test_one_lost_frame_of_a_periodic_signal(x, period):
    y, c = run(x, {20})
    assert abs(c.pitch - period) <= 1.0
    lost = slice(20 * 160, 21 * 160)
    first_10ms = slice(20 * 160, 20 * 160 + 80)
    # the first 10 ms repeat the last period (no fade yet); the second fades 1 -> 0.8
    assert snr_db(x[first_10ms], y[first_10ms]) > (40 if period == int(period) else 20)
    assert snr_db(x[lost], y[lost]) > 15
    # outside the lost frame and its joins, the signal is untouched
    np.testing.assert_array_equal(y[: 20 * 160 - DELAY], x[: 20 * 160 - DELAY])
    np.testing.assert_array_equal(y[21 * 160 + 80 :], x[21 * 160 + 80 :])


def test_find_pitch_kernel_on_exact_periods():
    for p in (40, 42, 61, 64, 90, 117, 119, 120):
        h = tiled(harmonic(8000 / p, p), 390).astype(np.float64)
        assert kernels.find_pitch(h, 160, 40, 120, 2, 250.0) == p
    # An odd period below 60 has an even multiple in range that matches exactly, which the
    # coarse pass (even lags only) prefers: Appendix I then repeats two periods, still in phase.
    for p in (41, 53, 57, 59):
        h = tiled(harmonic(8000 / p, p), 390).astype(np.float64)
        assert kernels.find_pitch(h, 160, 40, 120, 2, 250.0) == 2 * p
    # silence: every score is 0; the coarse pass keeps the last tie (lag 40), the fine pass,
    # which scans 41, 40 and needs a strictly better score, the first (41), as the reference does
    assert kernels.find_pitch(np.zeros(390), 160, 40, 120, 2, 250.0) == 41


def stepped(n: int, start: float, step: float) -> list[float]:
    g, out = start, []
    for _ in range(n):
        out.append(g)
        g -= step
    return out


def test_kernels_truncate_and_step_like_the_reference():
    out = np.empty(4)
    kernels.overlap_add(np.full(4, 100.0), np.full(4, 200.0), out)
    np.testing.assert_array_equal(out, [125.0, 150.0, 175.0, 200.0])  # float: not truncated
    kernels.overlap_add(np.full(4, 40000.0), np.full(4, -40000.0), out)
    np.testing.assert_array_equal(out, [20000.0, 0.0, -20000.0, -32768.0])  # saturated below
    kernels.overlap_add(np.full(4, 40000.0), np.full(4, 40000.0), out)
    np.testing.assert_array_equal(out, [32767.0] * 4)  # and above
    # int16 cross-fade: weights stepped by repeated addition, truncated toward zero
    a, b, o = np.full(3, 100, np.int16), np.zeros(3, np.int16), np.empty(3, np.int16)
    kernels.cross_fade(a, b, 1.0, o)
    np.testing.assert_array_equal(o, [66, 33, 0])
    kernels.cross_fade(-a, b, 1.0, o)
    np.testing.assert_array_equal(o, [-66, -33, 0])  # toward zero, not -67
    a4, o4 = np.full(4, 101, np.int16), np.empty(4, np.int16)
    kernels.cross_fade(a4, np.full(4, 7, np.int16), 0.5, o4)
    lw = stepped(4, 0.75 * 0.5, 0.25 * 0.5)
    rw = [0.25, 0.5, 0.75, 1.0]
    np.testing.assert_array_equal(o4, [int(w * 101 + r * 7) for w, r in zip(lw, rw)])
    # fade: the gain stepped down by repeated subtraction, each product truncated
    x = np.full(80, 1000, np.int16)
    kernels.fade(x, 1.0, 0.2 / 80)
    expected = [int(1000 * g) for g in stepped(80, 1.0, 0.2 / 80)]
    np.testing.assert_array_equal(x, expected)
    assert expected[1] == 997 and expected[3] == 992  # 997.5 and 992.50…01: truncated, not rounded
    # cyclic read-out truncates the float pitch buffer toward zero
    buf = np.array([0.0, 2.9, -2.9, 7.5, -7.5, 32767.0])
    r = np.empty(7, np.int16)
    assert kernels.read_cyclic(buf, 1, 4, 2, r) == 1
    np.testing.assert_array_equal(r, [7, -7, 2, -2, 7, -7, 2])


# -- long losses: the fade law and silence -----------------------------------------------------


def expected_gain(j: np.ndarray) -> np.ndarray:
    """Gain of concealed sample j (0 = first lost sample): 1 for 10 ms, then -0.2 per 10 ms
    (linear, per sample), 0 from 60 ms on."""
    k, i = j // 80, j % 80
    g = 1.0 - 0.2 * (k - 1) - 0.2 * i / 80
    return np.where(k == 0, 1.0, np.where(k >= 6, 0.0, g))


@pytest.mark.parametrize("frame", [80, 160, 240])
def test_fade_law_and_silence_after_60ms(frame):
    x = tiled(harmonic(8000 / 57, 57), frame * 60)
    start = 3840 // frame * frame  # a frame boundary near 480 ms
    n_lost = 720 // frame + 1  # > 90 ms
    lost = set(range(start // frame, start // frame + n_lost))
    y, c = run(x, lost, frame)
    span = np.arange(n_lost * frame)
    conc = y[start : start + n_lost * frame].astype(np.float64)
    # an exactly periodic signal is continued exactly, so out = gain * in, to within the
    # truncations (the blended joins may lose 1 LSB, the fade another)
    assert np.max(np.abs(conc - expected_gain(span) * x[start : start + n_lost * frame])) < 2.0
    assert np.all(conc[480:] == 0)  # silence after 60 ms
    # energy per 10 ms: the mean square of the gain ramp
    for k in range(n_lost * frame // 80):
        u = slice(start + 80 * k, start + 80 * k + 80)
        ratio = np.sqrt(np.mean(y[u].astype(float) ** 2) / np.mean(x[u].astype(float) ** 2))
        want = np.sqrt(np.mean(expected_gain(np.arange(80 * k, 80 * k + 80)) ** 2))
        assert abs(ratio - want) < 0.03, (k, ratio, want)
    assert c.stats.lost_frames == n_lost
    assert c.stats.concealed_ms == n_lost * frame // 8
    assert c.stats.muted_ms == (n_lost * frame // 80 - 6) * 10
    assert c.stats.bursts == 1 and c.stats.longest_burst_ms == n_lost * frame // 8


def test_lost_before_any_good_frame_is_silence():
    c = Concealer()
    for _ in range(5):
        out = c.lost()
        assert out.dtype == np.int16 and out.shape == (160,) and not out.any()
    x = harmonic(123.0, 160)
    y = c.good(x)
    assert np.all(y[:DELAY] == 0)  # fading in from the silent synthetic signal
    np.testing.assert_array_equal(c.good(x)[DELAY:], x[: 160 - DELAY])


# -- recovery ----------------------------------------------------------------------------------


def gliding_tone(n: int, f1: float = 100.0, f2: float = 200.0, harmonics: int = 3) -> np.ndarray:
    """Harmonic tone whose f0 glides f1 -> f2: the concealment drifts out of phase by recovery."""
    f0 = np.linspace(f1, f2, n)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    x = sum(np.cos(h * phase) / h for h in range(1, harmonics + 1))
    return np.rint(x / np.abs(x).max() * 12000).astype(np.int16)


@pytest.mark.parametrize("n_lost", [1, 2, 3, 5])
def test_recovery_overlap_add_has_no_discontinuity(n_lost):
    x = gliding_tone(8000)
    first = 17
    y, _c = run(x, set(range(first, first + n_lost)))
    back = (first + n_lost) * 160  # input time of the first good sample
    step = np.abs(np.diff(x.astype(np.int32))).max()  # the largest step of the signal itself
    jumps = np.abs(np.diff(y[back - 160 : back + 160].astype(np.int32)))
    assert jumps.max() <= 1.1 * step
    if n_lost in (2, 3):
        # here the concealment is far out of phase: a hard switch to the received frame would jump
        y_on, _ = run(x, set(range(first, first + n_lost + 1)))  # concealment continued
        assert abs(int(x[back]) - int(y_on[back - 1])) > 1.5 * step


@pytest.mark.parametrize("n_units_lost", [2, 4, 6, 8, 12])
def test_recovery_overlap_length(n_units_lost):
    """The received signal is untouched from 1/4 pitch + 4 ms per lost 10 ms beyond the first
    (at most 10 ms) into the first good 10 ms on."""
    x = gliding_tone(8000)
    first = 30
    y, c = run(x, set(range(first, first + n_units_lost)), frame=80)
    back = (first + n_units_lost) * 80
    olen = min(c.pitch // 4 + 32 * (n_units_lost - 1), 80)
    np.testing.assert_array_equal(y[back + olen : back + 400], x[back + olen : back + 400])
    # the last overlap-add weight on the received signal is 1 up to the stepping's rounding
    assert abs(int(y[back + olen - 1]) - int(x[back + olen - 1])) <= 1
    assert np.all(y[back + olen - 4 : back + olen - 2] != x[back + olen - 4 : back + olen - 2])


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        [0] * 160,
        b"\x00" * 320,
        np.zeros(160, np.float32),
        np.zeros(160, np.int32),
        np.zeros(160, np.uint16),
        np.zeros(159, np.int16),
        np.zeros(320, np.int16),
        np.zeros((160, 1), np.int16),
        np.zeros((2, 80), np.int16),
        np.int16(0),
    ],
    ids=["list", "bytes", "float32", "int32", "uint16", "short", "long", "column", "2d", "scalar"],
)
def test_bad_frames_raise(frame):
    c = Concealer()
    with pytest.raises(InvalidSamplesError):
        c.good(frame)
    assert c.stats.good_frames == 0
    np.testing.assert_array_equal(c.good(np.ones(160, np.int16))[DELAY:], 1)  # still usable


@pytest.mark.parametrize("frame_samples", [0, -80, 100, 159, 80.0, "160", True, None])
def test_bad_frame_size_raises(frame_samples):
    with pytest.raises(InvalidSamplesError):
        Concealer(frame_samples)


@pytest.mark.parametrize("rate", [16000, 24000, 8000.0, "8000", True])
def test_bad_rate_raises(rate):
    with pytest.raises(InvalidRateError):
        Concealer(160, rate)


@pytest.mark.parametrize(
    "data, match",
    [(b"", "non-empty"), (b"\x21\x6b\x20", "3 bytes"), (b"\x21\x6b\x00\x00", "word 1 is 0x0000"),
     (b"\x6b\x21", "word 0 is 0x216B"), ("216b", "expected bytes")],
    ids=["empty", "odd", "bad-word", "big-endian", "str"],
)
def test_bad_g192_raises(data, match):
    with pytest.raises(InvalidDataError, match=match):
        read_g192(data)


def test_every_good_frame_sync_word_of_g192_counts_as_received():
    words = np.array([0x6B20, 0x6B21, 0x6B22, 0x6B2F, 0x6B20], dtype="<u2")
    np.testing.assert_array_equal(read_g192(words.tobytes()), [True, False, False, False, True])
    with pytest.raises(InvalidDataError, match="word 0 is 0x6B30"):
        read_g192(np.array([0x6B30], dtype="<u2").tobytes())
    with pytest.raises(InvalidDataError, match="word 0 is 0x6B1F"):
        read_g192(np.array([0x6B1F], dtype="<u2").tobytes())


def test_conceal_checks_its_arguments():
    x = np.zeros(400, np.int16)
    np.testing.assert_array_equal(conceal(x, np.zeros(5, bool)), x)
    y = conceal(np.arange(250, dtype=np.int16), np.zeros(2, bool), 160)  # short last frame: padded
    np.testing.assert_array_equal(y, np.arange(250))
    with pytest.raises(InvalidSamplesError, match="expected 5 bools"):
        conceal(x, np.zeros(4, bool))
    with pytest.raises(InvalidSamplesError, match="expected 5 bools"):
        conceal(x, [0, 1, 0, 0, 0])
    with pytest.raises(InvalidSamplesError, match="int16"):
        conceal(x.astype(np.float32), np.zeros(5, bool))
    with pytest.raises(InvalidSamplesError, match="multiple of 80"):
        conceal(x, np.zeros(4, bool), 100)


# -- fuzz --------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    frame=st.sampled_from([80, 160, 240]),
    pattern=st.lists(st.booleans(), min_size=1, max_size=40),
    kind=st.sampled_from(["noise", "full_scale", "tone", "silence"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_good_lost_sequences(frame, pattern, kind, seed):
    rng = np.random.default_rng(seed)
    n = frame * len(pattern)
    if kind == "noise":
        x = rng.integers(-32768, 32768, n).astype(np.int16)
    elif kind == "full_scale":
        x = np.where(rng.random(n) < 0.5, -32768, 32767).astype(np.int16)
    elif kind == "tone":
        x = harmonic(float(rng.uniform(60, 400)), n, amplitude=32767)
    else:
        x = np.zeros(n, np.int16)
    c = Concealer(frame)
    out = []
    for f, lost in zip(x.reshape(-1, frame), pattern):
        y = c.lost() if lost else c.good(f)
        assert y.dtype == np.int16 and y.shape == (frame,)
        out.append(y)
    y = np.concatenate(out)
    # a 10 ms unit whose own and two previous units were received is output exactly, 30 late
    delayed = np.concatenate([np.zeros(DELAY, np.int16), x])[:n]
    unit_lost = np.repeat(pattern, frame // 80)
    for u in range(len(unit_lost)):
        if not unit_lost[max(u - 2, 0) : u + 1].any():
            np.testing.assert_array_equal(y[80 * u : 80 * u + 80], delayed[80 * u : 80 * u + 80])
    if kind == "silence":
        assert not y.any()
    assert c.stats.good_frames + c.stats.lost_frames == len(pattern)
    assert c.stats.concealed_ms == frame // 8 * sum(pattern)
    if kind != "silence" and len(pattern) <= 12:  # and against the model, full scale included
        y_all = np.concatenate([y, c.flush()])[DELAY:]
        np.testing.assert_array_equal(y_all, model_output(x, unit_lost))


def test_frame_size_only_groups_10ms_units():
    """A 20 ms frame is two 10 ms units: the same stream in 80- or 160-sample frames is equal."""
    x = gliding_tone(160 * 60)
    lost = {5, 6, 9, 20, 21, 22, 23, 40}
    y160, c160 = run(x, lost, 160)
    y80, c80 = run(x, {u for f in lost for u in (2 * f, 2 * f + 1)}, 80)
    np.testing.assert_array_equal(y160, y80)
    assert c160.stats.concealed_ms == c80.stats.concealed_ms == 160
    assert c160.stats.bursts == c80.stats.bursts == 4
