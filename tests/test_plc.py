"""G.711 Appendix I packet loss concealment: the 30-sample delay, pitch search, the fade law,
silence after 60 ms, the recovery overlap-add, bad input, and fuzzed good/lost sequences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from audiofmt.bridge.plc import Concealer
from audiofmt.errors import AudioFormatError, InvalidRateError, InvalidSamplesError
from audiofmt.kernels import plc as kernels

RATE = 8000
DELAY = 30


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
    """Feed x frame by frame (frames in `lost_frames` lost); the output aligned to input time."""
    c = Concealer(frame)
    out = [c.lost() if i in lost_frames else c.good(f) for i, f in enumerate(x.reshape(-1, frame))]
    y = np.concatenate(out)
    return y[DELAY:], c  # y[t] is input time t


def snr_db(x: np.ndarray, y: np.ndarray) -> float:
    x = x.astype(np.float64)
    e = np.sum((x - y.astype(np.float64)) ** 2)
    return float("inf") if e == 0 else float(10 * np.log10(np.sum(x**2) / e))


# -- no loss -----------------------------------------------------------------------------------


def test_delay_is_thirty_samples():
    assert Concealer.delay_samples == 30
    c = Concealer()
    assert c.delay_samples == 30 and c.frame_samples == 160 and c.rate_hz == 8000


@pytest.mark.parametrize("frame", [80, 160, 240, 480])
def test_no_loss_is_input_delayed_bit_exact(frame):
    rng = np.random.default_rng(frame)
    x = rng.integers(-32768, 32768, size=frame * 23).astype(np.int16)
    x[:5] = [-32768, 32767, 0, -1, 1]
    c = Concealer(frame)
    y = np.concatenate([c.good(f) for f in x.reshape(-1, frame)])
    assert y.dtype == np.int16 and len(y) == len(x)
    np.testing.assert_array_equal(y, np.concatenate([np.zeros(DELAY, np.int16), x[:-DELAY]]))
    assert c.stats.good_frames == 23 and c.stats.lost_frames == 0 and c.pitch is None


def test_accepts_any_int16_layout():
    x = np.arange(320, dtype=np.int16) * 50
    c = Concealer()
    a = c.good(x[::2].copy())
    c2 = Concealer()
    b = c2.good(x[::2])  # strided view
    np.testing.assert_array_equal(a, b)
    c3 = Concealer()
    np.testing.assert_array_equal(c3.good(np.frombuffer(x[::2].astype(">i2").tobytes(), dtype=">i2")), a)
    ro = np.frombuffer(x[::2].tobytes(), dtype=np.int16)  # read-only
    np.testing.assert_array_equal(Concealer().good(ro), a)


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
    np.testing.assert_array_equal(y[21 * 160 + 80 :], x[21 * 160 + 80 : len(y)])


def test_find_pitch_kernel_on_exact_periods():
    for p in (40, 42, 61, 64, 90, 117, 119, 120):
        h = tiled(harmonic(8000 / p, p), 390).astype(np.float64)
        assert kernels.find_pitch(h, 160, 40, 120, 2, 250.0) == p
    # An odd period below 60 has an even multiple in range that matches exactly, which the
    # coarse pass (even lags only) prefers: Appendix I then repeats two periods, still in phase.
    for p in (41, 53, 57, 59):
        h = tiled(harmonic(8000 / p, p), 390).astype(np.float64)
        assert kernels.find_pitch(h, 160, 40, 120, 2, 250.0) == 2 * p
    # silence: nothing beats the floor, the shortest lag wins the tie
    assert kernels.find_pitch(np.zeros(390), 160, 40, 120, 2, 250.0) == 40


def test_overlap_add_and_rounding_kernels():
    out = np.empty(4)
    kernels.overlap_add(np.full(4, 100.0), np.full(4, 200.0), 1.0, out)
    np.testing.assert_allclose(out, [125.0, 150.0, 175.0, 200.0])
    kernels.overlap_add(np.full(4, 100.0), np.zeros(4), 0.5, out)
    np.testing.assert_allclose(out, [37.5, 25.0, 12.5, 0.0])
    r = np.empty(6, np.int16)
    kernels.to_int16(np.array([0.5, 1.5, -2.5, 40000.0, -40000.0, -0.4]), r)
    np.testing.assert_array_equal(r, [0, 2, -2, 32767, -32768, 0])
    seg = np.arange(10.0)
    o = np.empty(7)
    assert kernels.synthesize(seg, 6, 3, 1, 2.0, 0.5, o) == 2
    np.testing.assert_allclose(o, np.array([7, 8, 6, 7, 8, 6, 7]) * (2.0 - 0.5 * np.arange(7)))


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
    # an exactly periodic signal is continued exactly, so out = gain * in to within rounding
    assert np.max(np.abs(conc - expected_gain(span) * x[start : start + n_lost * frame])) <= 1.0
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
    y, c = run(x, set(range(first, first + n_lost)))
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
    # the overlap-add's last weight on the received signal is exactly 1
    np.testing.assert_array_equal(y[back + olen - 1 : back + 400], x[back + olen - 1 : back + 400])
    assert np.all(y[back + olen - 3 : back + olen - 1] != x[back + olen - 3 : back + olen - 1])


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
    assert issubclass(InvalidRateError, AudioFormatError)


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


def test_frame_size_only_groups_10ms_units():
    """A 20 ms frame is two 10 ms units: the same stream in 80- or 160-sample frames is equal."""
    x = gliding_tone(160 * 60)
    lost = {5, 6, 9, 20, 21, 22, 23, 40}
    y160, c160 = run(x, lost, 160)
    y80, c80 = run(x, {u for f in lost for u in (2 * f, 2 * f + 1)}, 80)
    np.testing.assert_array_equal(y160, y80)
    assert c160.stats.concealed_ms == c80.stats.concealed_ms == 160
    assert c160.stats.bursts == c80.stats.bursts == 4
