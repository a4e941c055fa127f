"""Resampler: length rule, zero delay, streaming == one-shot for any chunking, dtypes, errors."""

from __future__ import annotations

import numpy as np
import pytest
from audiofmt.filters import QUALITIES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import audiofmt
from audiofmt import InvalidRateError, InvalidSamplesError, Resampler, StreamStateError

RATIOS = [(8000, 24000), (16000, 24000), (22050, 24000), (44100, 24000), (48000, 24000), (96000, 24000), (24000, 8000)]
AWKWARD = [(11025, 24000), (7999, 24000), (32000, 24000), (88200, 24000), (192000, 24000), (24000, 44100), (1000, 384000)]
QUALITY_NAMES = list(QUALITIES)


def _signal(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n) * 0.1


def _stream(resampler: Resampler, x: np.ndarray, sizes: list[int]) -> np.ndarray:
    parts, i = [], 0
    for size in sizes:
        parts.append(resampler.process(x[i : i + size]))
        i += size
    parts.append(resampler.process(x[i:]))
    parts.append(resampler.flush())
    return np.concatenate(parts)


@pytest.mark.parametrize("in_rate,out_rate", RATIOS + AWKWARD)
@pytest.mark.parametrize("n", [1, 2, 3, 147, 1001])
def test_length_rule(in_rate, out_rate, n):
    y = audiofmt.resample(_signal(n), in_rate, out_rate, "hq")
    assert y.shape == ((2 * n * out_rate + in_rate) // (2 * in_rate),)
    assert audiofmt.output_length(n, in_rate, out_rate) == y.shape[0]


def test_length_rule_rounds_half_up():
    assert audiofmt.output_length(1, 2000, 1000) == 1  # 0.5 -> 1
    assert audiofmt.output_length(3, 2000, 1000) == 2  # 1.5 -> 2
    assert audiofmt.output_length(1, 3000, 1000) == 0  # 0.33 -> 0
    assert audiofmt.output_length(10 * 3600 * 44100, 44100, 24000) == 10 * 3600 * 24000  # no drift in 10 h


@pytest.mark.parametrize("quality", QUALITY_NAMES)
@pytest.mark.parametrize("in_rate,out_rate", RATIOS)
def test_zero_delay_tone(quality, in_rate, out_rate):
    """A passband tone comes out at the same time and phase it went in."""
    f0 = 997.0
    x = 0.5 * np.sin(2 * np.pi * f0 * np.arange(in_rate // 2) / in_rate)
    y = audiofmt.resample(x, in_rate, out_rate, quality)
    ideal = 0.5 * np.sin(2 * np.pi * f0 * np.arange(y.shape[0]) / out_rate)
    middle = slice(y.shape[0] // 4, 3 * y.shape[0] // 4)
    limit = {"hq": 10 ** (-140 / 20), "vhq": 10 ** (-190 / 20), "low_latency": 10 ** (-110 / 20)}[quality]
    assert np.max(np.abs(y[middle] - ideal[middle])) < limit


def _as(x: np.ndarray, dtype: type) -> np.ndarray:
    return (x * 32767).astype(np.int16) if dtype == np.int16 else x.astype(dtype)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ratio=st.sampled_from(RATIOS + AWKWARD[:4]),
    quality=st.sampled_from(QUALITY_NAMES),
    dtype=st.sampled_from([np.float64, np.float32, np.int16]),
    n=st.integers(0, 30000),
    sizes=st.lists(st.one_of(st.just(0), st.integers(1, 7), st.integers(8, 9000)), max_size=25),
    seed=st.integers(0, 2**16),
)
def test_streaming_equals_one_shot_for_any_chunking(ratio, quality, dtype, n, sizes, seed):
    """Chunks of 4096 samples and more are read in place, shorter ones through the history:
    sizes up to 9000 mix both paths."""
    in_rate, out_rate = ratio
    x = _as(_signal(n, seed), dtype)
    streamed = _stream(Resampler(in_rate, out_rate, quality), x, sizes)
    assert streamed.shape[0] == audiofmt.output_length(n, in_rate, out_rate)
    if n:
        assert streamed.dtype == dtype
        assert np.array_equal(streamed, audiofmt.resample(x, in_rate, out_rate, quality))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int16])
@pytest.mark.parametrize("in_rate,out_rate", RATIOS + AWKWARD)
def test_long_chunks_equal_short_ones(in_rate, out_rate, dtype):
    """Long chunks (read in place, straddling outputs on a joined copy) and 1000-sample
    chunks (through the history) give the same samples, for every chain shape."""
    # 1000 -> 384000 Hz makes 384 outputs per input: 40001 inputs take the same paths there (20000
    # is still over its 16384-sample piece, read in pieces, and spans FFT blocks of 3830) in a
    # quarter of the time of 150001 (11 s -> 3 s, 460 MB -> 120 MB per float64 output)
    n, long_sizes = (40001, [4095, 4096, 20000, 5]) if out_rate > 100 * in_rate else (150001, [4095, 4096, 70000, 5])
    x = _as(_signal(n, 7), dtype)
    long = _stream(Resampler(in_rate, out_rate), x, long_sizes)
    short = _stream(Resampler(in_rate, out_rate), x, [1000] * (n // 1000))
    assert np.array_equal(long, short)
    assert np.array_equal(long, audiofmt.resample(x, in_rate, out_rate))


def test_strided_and_read_only_input():
    x = _signal(100000, 3).astype(np.float32)
    expected = audiofmt.resample(np.ascontiguousarray(x[::2]), 48000, 24000)
    assert np.array_equal(audiofmt.resample(x[::2], 48000, 24000), expected)
    frozen = np.frombuffer(np.ascontiguousarray(x[::2]).tobytes(), dtype=np.float32)
    assert np.array_equal(audiofmt.resample(frozen, 48000, 24000), expected)
    r = Resampler(48000, 24000)
    assert np.array_equal(np.concatenate([r.process(frozen), r.flush()]), expected)


# What each preset must reject, dB re the input tone, for every tone whose alias (down) or
# image (up) lands at >= 1.01 x the lower Nyquist N (issue 11).
REJECTION_DB = {"hq": -132.0, "vhq": -180.0, "low_latency": -110.0}


def _worst_spur_db(y: np.ndarray, out_rate: int, exclude_hz: float | None, above_hz: float = 0.0) -> float:
    """Largest spectral peak of y (dB re a tone of amplitude 0.5), Kaiser β = 36 window (its
    sidelobes sit far below -250 dB), ignoring the main lobe around `exclude_hz` (the passed
    tone) and everything below `above_hz`."""
    window = np.kaiser(y.shape[0], 36.0)
    level = np.abs(np.fft.rfft(y * window, 2 * y.shape[0])) * 2 / (window.sum() * 0.5)
    freqs = np.fft.rfftfreq(2 * y.shape[0], 1 / out_rate)
    keep = freqs >= above_hz
    if exclude_hz is not None:
        lobe_hz = 14 * out_rate / y.shape[0]  # main lobe half-width (11.5 bins) and a margin
        keep &= np.abs(freqs - exclude_hz) > lobe_hz
    return float(20 * np.log10(level[keep].max() + 1e-300))


def _tone_spur_db(quality: str, in_rate: int, out_rate: int, f_hz: float, dtype: type) -> float:
    """Worst alias/image of a tone at f_hz: down, the largest output peak of a tone above the
    output's Nyquist; up, the largest peak at or above 1.01 N other than the tone."""
    nyquist = min(in_rate, out_rate) / 2
    n_out = 8192
    skip = out_rate // 10  # past the switch-on transient (and the vhq block edge effects)
    n_in = (n_out + 2 * skip) * in_rate // out_rate + 2
    x = (0.5 * np.sin(2 * np.pi * f_hz * np.arange(n_in) / in_rate)).astype(dtype)
    y = audiofmt.resample(x, in_rate, out_rate, quality).astype(np.float64)[skip : skip + n_out]
    if in_rate > out_rate:
        return _worst_spur_db(y, out_rate, None)
    return _worst_spur_db(y, out_rate, f_hz, above_hz=1.01 * nyquist)


def _rejection_tones(in_rate: int, out_rate: int) -> list[float]:
    """A coarse grid: tones whose alias/image lands at 1.01, 1.02, 1.04, 1.07, 1.1 N (where the
    transition band ends and the filters' worst sidelobes are), and a few far beyond."""
    nyquist = min(in_rate, out_rate) / 2
    near = [1.01, 1.02, 1.04, 1.07, 1.1]
    if in_rate > out_rate:
        far = np.linspace(1.2 * nyquist, 0.995 * in_rate / 2, 3)
        return [k * nyquist for k in near if k * nyquist < 0.995 * in_rate / 2] + list(far)
    return [in_rate - k * nyquist for k in near] + [0.3 * nyquist, 0.7 * nyquist]


@pytest.mark.parametrize(
    "quality,dtype", [(q, d) for q in QUALITY_NAMES for d in (np.float64, np.float32) if (q, d) != ("vhq", np.float32)]
)
@pytest.mark.parametrize("in_rate,out_rate", RATIOS)
def test_rejection_from_just_beyond_nyquist(in_rate, out_rate, quality, dtype):
    """Every preset's stopband starts at N: a tone whose alias (down) or image (up) lands at
    1.01 N or beyond comes out at most REJECTION_DB re the tone (float32 samples run the float32
    kernels; vhq computes in float64 whatever it is given, and a tone rounded to float32 carries
    spurs near -160 dB of its own, so vhq is checked with float64 tones only)."""
    worst = max(_tone_spur_db(quality, in_rate, out_rate, f, dtype) for f in _rejection_tones(in_rate, out_rate))
    assert worst < REJECTION_DB[quality]


@pytest.mark.parametrize("quality", QUALITY_NAMES)
def test_passband_and_bandwidth(quality):
    """hq: flat ±0.007 dB to 0.9 N and -3 dB at >= 0.95 N; low_latency: flat ±0.01 dB to 0.85 N."""
    in_rate, out_rate = 24000, 8000
    nyquist = 4000.0
    n = 24000
    flat_to, tolerance = (0.85, 0.01) if quality == "low_latency" else (0.9, 0.007)
    t = np.arange(n) / in_rate

    def gain_db(f_hz: float) -> float:
        y = audiofmt.resample(0.5 * np.sin(2 * np.pi * f_hz * t), in_rate, out_rate, quality)[1000:-1000]
        u = np.arange(1000, 1000 + y.shape[0]) / out_rate
        basis = np.stack([np.sin(2 * np.pi * f_hz * u), np.cos(2 * np.pi * f_hz * u)], axis=1)
        coef = np.linalg.lstsq(basis, y, rcond=None)[0]
        return float(20 * np.log10(np.hypot(*coef) / 0.5))

    for f in (100.0, 997.0, 2500.0, flat_to * nyquist):
        assert abs(gain_db(f)) < tolerance
    if quality == "hq":
        assert gain_db(0.95 * nyquist) > -3.0


def test_streaming_one_sample_at_a_time():
    x = _signal(3000)
    for quality in QUALITY_NAMES:
        r = Resampler(44100, 24000, quality)
        streamed = np.concatenate([r.process(x[i : i + 1]) for i in range(x.shape[0])] + [r.flush()])
        assert np.array_equal(streamed, audiofmt.resample(x, 44100, 24000, quality))


@pytest.mark.parametrize("in_rate,out_rate", [(8000, 24000), (24000, 8000), (48000, 24000), (16000, 24000)])
def test_low_latency_gives_regular_20ms_frames(in_rate, out_rate):
    r = Resampler(in_rate, out_rate, "low_latency")
    frame_in, frame_out = in_rate // 50, out_rate // 50
    sizes = [r.process(_signal(frame_in, i)).shape[0] for i in range(50)]
    assert 0 < sizes[0] < frame_out
    assert sizes[1:] == [frame_out] * 49
    assert r.latency_ms <= 6.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_dtypes_round_trip(dtype):
    """float32 runs float32 transforms with a 150 dB design, float64 a 160 dB one: in the passband,
    where both are flat, they agree to float32 precision."""
    t = np.arange(4800) / 48000
    x = sum(0.2 * np.sin(2 * np.pi * f * t + f) for f in (100.0, 997.0, 3000.0, 9000.0, 10700.0)).astype(dtype)
    y = audiofmt.resample(x, 48000, 24000)
    assert y.dtype == dtype
    middle = slice(200, -200)  # away from the switch-on and switch-off transients, which are broadband
    assert np.allclose(y[middle], audiofmt.resample(x.astype(np.float64), 48000, 24000)[middle], atol=1e-6)


def test_int16_uses_the_float_rule_and_counts_clipping():
    """int16 is computed in float32 as x / 32768, then rounded by the float rule."""
    x = (np.sin(np.arange(2400) * 0.3) * 32767).astype(np.int16)
    y = audiofmt.resample(x, 24000, 8000)
    as_float32 = x * np.float32(1 / 32768)
    expected, _ = audiofmt.float_to_int16(audiofmt.resample(as_float32, 24000, 8000), clip="ignore")
    assert y.dtype == np.int16 and np.array_equal(y, expected)
    square = np.where(np.arange(4800) % 48 < 24, 32767, -32768).astype(np.int16)
    r = Resampler(48000, 24000)
    np.concatenate([r.process(square), r.flush()])
    assert r.n_clipped > 0  # Gibbs overshoot of a full-scale square wave


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
@pytest.mark.parametrize("quality", ["hq", "low_latency"])
def test_mono_frames_take_the_fast_path_with_the_same_result(dtype, quality):
    """After the first chunk a mono stream skips most per-call checks; samples, clipping counts,
    read-only chunks and the errors for later bad chunks must be what the full path gives."""
    square = np.where(np.arange(24000) % 48 < 24, 0.99997, -1.0)  # overshoots: int16 clips
    x = (square * 32768).astype(np.int16) if dtype == np.int16 else square.astype(dtype)
    one_shot = Resampler(24000, 8000, quality)
    expected = np.concatenate([one_shot.process(x), one_shot.flush()])
    r = Resampler(24000, 8000, quality)
    frames = [x[i : i + 480] for i in range(0, x.shape[0], 480)]
    frames[7] = np.frombuffer(frames[7].tobytes(), dtype=dtype)  # read-only
    streamed = np.concatenate([r.process(f) for f in frames] + [r.flush()])
    assert streamed.dtype == dtype and np.array_equal(streamed, expected)
    assert (r.n_in, r.n_out, r.n_clipped) == (one_shot.n_in, one_shot.n_out, one_shot.n_clipped)
    if dtype == np.int16:
        assert r.n_clipped > 0
        return
    r = Resampler(24000, 8000, quality)
    r.process(frames[0])
    bad = frames[1].copy()
    bad[5] = np.nan
    with pytest.raises(InvalidSamplesError, match="flat index 485"):
        r.process(bad)
    with pytest.raises(StreamStateError, match="to int16"):
        r.process(frames[1].astype(np.int16))


def test_multichannel_and_downmix():
    left, right = _signal(5000, 1), _signal(5000, 2)
    stereo = np.stack([left, right], axis=1)
    y = audiofmt.resample(stereo, 44100, 24000)
    assert y.shape == (audiofmt.output_length(5000, 44100, 24000), 2)
    assert np.array_equal(y[:, 0], audiofmt.resample(left, 44100, 24000))
    mono = audiofmt.resample(stereo, 44100, 24000, downmix=True)
    assert np.allclose(mono, audiofmt.resample((left + right) / 2, 44100, 24000), atol=1e-15)
    r = Resampler(44100, 24000, channels=2)
    streamed = np.concatenate([r.process(stereo[:1234]), r.process(stereo[1234:]), r.flush()])
    assert np.array_equal(streamed, y)


def test_downmix():
    x = np.array([[1, 2], [-3, -4], [5, 6]], dtype=np.int16)
    assert audiofmt.downmix(x).tolist() == [2, -4, 6]  # ties to even
    assert audiofmt.downmix(x.astype(np.float32)).dtype == np.float32
    with pytest.raises(InvalidSamplesError):
        audiofmt.downmix(np.zeros((2, 2, 2)))


@pytest.mark.parametrize("rate", [0, -8000, 999, 384001, 44100.0, 44100.5, "44100", None, True])
def test_bad_rates(rate):
    with pytest.raises(InvalidRateError, match=r"in_rate"):
        audiofmt.resample(_signal(10), rate, 24000)
    with pytest.raises(InvalidRateError, match=r"out_rate"):
        Resampler(24000, rate)


def test_empty_input_gives_empty_output_after_the_same_checks():
    for x, shape in ((np.zeros(0, np.float32), (0,)), (np.zeros((0, 2), np.int16), (0, 2)), (np.zeros((0, 1)), (0,))):
        y = audiofmt.resample(x, 48000, 24000)
        assert y.shape == shape and y.dtype == x.dtype
    assert audiofmt.resample(np.zeros((0, 2)), 48000, 24000, downmix=True).shape == (0,)
    with pytest.raises(InvalidRateError):
        audiofmt.resample(np.zeros(0), 0, 24000)
    with pytest.raises(InvalidSamplesError, match="got int32"):
        audiofmt.resample(np.zeros(0, np.int32), 48000, 24000)


@pytest.mark.parametrize(
    "x,match",
    [
        (np.array([0.1, np.nan]), "NaN/inf at flat index 1"),
        (np.array([np.inf]), "NaN/inf"),
        (np.zeros(4, dtype=np.int32), "got int32"),
        (np.zeros((3, 2, 2)), "shape"),
        ([0.0, 0.1], "got list"),
    ],
)
def test_bad_input(x, match):
    with pytest.raises(InvalidSamplesError, match=match):
        audiofmt.resample(x, 48000, 24000)


def test_bad_stream_use():
    r = Resampler(48000, 24000)
    r.process(np.zeros(10, dtype=np.float32))
    with pytest.raises(StreamStateError, match="float32 to float64"):
        r.process(np.zeros(10))
    with pytest.raises(InvalidSamplesError, match=r"shape 1-D"):
        r.process(np.zeros((10, 2), dtype=np.float32))
    r.flush()
    with pytest.raises(StreamStateError, match="after flush"):
        r.process(np.zeros(10, dtype=np.float32))
    with pytest.raises(StreamStateError, match="twice"):
        r.flush()
    with pytest.raises(audiofmt.AudioFormatError, match="'best'"):
        Resampler(48000, 24000, "best")
    with pytest.raises(InvalidSamplesError, match="channels"):
        Resampler(48000, 24000, channels=0)


def test_transcode_now_resamples():
    x = (np.sin(2 * np.pi * 440 * np.arange(24000) / 24000) * 10000).astype(np.int16)
    ulaw = audiofmt.transcode(audiofmt.encode(x, "pcm16"), "pcm16", "g711_ulaw")
    assert len(ulaw) == 8000
    back = audiofmt.decode(audiofmt.transcode(ulaw, "g711_ulaw", "pcm16"), "pcm16")
    assert back.shape == (24000,)
    middle = slice(2000, 22000)
    error = back[middle].astype(float) - x[middle]
    assert 10 * np.log10(np.sum(x[middle].astype(float) ** 2) / np.sum(error**2)) > 30  # μ-law SNR


@pytest.mark.parametrize("quality", QUALITY_NAMES)
@pytest.mark.parametrize("in_rate,out_rate,dtype", [(44100, 24000, np.float32), (96000, 24000, np.float64), (8000, 24000, np.int16)])
def test_threads_give_the_same_samples(in_rate, out_rate, dtype, quality):
    """A long one-shot runs on every core (runs of consecutive outputs, or of whole FFT blocks,
    per thread); 2 and 3 threads, automatic and a streaming Resampler(threads=2) fed long
    chunks give the single-threaded samples exactly."""
    x = _as(_signal(11 * in_rate, 5), dtype)
    single = audiofmt.resample(x, in_rate, out_rate, quality, threads=1)
    for threads in (None, 2, 3):
        assert np.array_equal(audiofmt.resample(x, in_rate, out_rate, quality, threads=threads), single)
    stream = Resampler(in_rate, out_rate, quality, threads=2)
    assert np.array_equal(_stream(stream, x, [100003, 3 * in_rate, 5]), single)


def test_bad_threads():
    with pytest.raises(InvalidSamplesError, match="threads"):
        Resampler(48000, 24000, threads=-1)
    with pytest.raises(InvalidSamplesError, match="threads"):
        audiofmt.resample(_signal(10), 48000, 24000, threads=1.5)


def _resample_long(seed: int) -> float:
    x = _signal(11 * 44100, seed).astype(np.float32)
    return float(audiofmt.resample(x, 44100, 24000).astype(np.float64).sum())


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_threads_work_in_a_forked_child():
    """A process that forked after its thread pool started (a batch worker) gets a pool of its
    own instead of waiting forever on the parent's threads, which do not exist in the child."""
    import multiprocessing

    expected = _resample_long(1)  # starts this process's pool
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.map_async(_resample_long, [1]).get(timeout=120) == [expected]


def test_reset_starts_a_new_stream_even_after_flush():
    x = np.sin(np.arange(9000) / 5.0).astype(np.float32)
    expected = audiofmt.resample(x, 44100, 24000)
    r = Resampler(44100, 24000)
    r.process(np.ones(5000, dtype=np.float64))  # another dtype, held back, then dropped
    r.reset()
    assert (r.n_in, r.n_out, r.n_clipped) == (0, 0, 0)
    assert np.array_equal(np.concatenate([r.process(x), r.flush()]), expected)
    r.reset()  # after flush() too: the same stream again, the same samples
    assert np.array_equal(np.concatenate([r.process(x[:777]), r.process(x[777:]), r.flush()]), expected)


@pytest.mark.parametrize("dtype", [">f4", ">f8", ">i2"])
def test_byte_swapped_input_is_taken_like_native(dtype):
    """One rule with encode() and InputEncoder: any byte order, the same samples."""
    x = (np.sin(np.arange(4410) / 3.0) * 0.4 * (32767 if dtype == ">i2" else 1)).astype(dtype)
    native = x.astype(x.dtype.newbyteorder("="))
    assert np.array_equal(audiofmt.resample(x, 44100, 24000), audiofmt.resample(native, 44100, 24000))
    stream = Resampler(44100, 24000)
    assert np.array_equal(np.concatenate([stream.process(x), stream.flush()]), audiofmt.resample(native, 44100, 24000))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [4704, 2048, 1001])
def test_fft_engine_forward_transform_is_numpys_in_the_samples_dtype(dtype, n):
    """hq's forward transform calls numpy's pocketfft loop for the samples' own dtype (numpy.fft.rfft
    runs float32 through its float64 loop, 5-8x slower): the same bins to float32/float64 rounding,
    written into the given array; odd sizes go through numpy.fft.rfft itself."""
    from audiofmt.resampler.fft import _numpy_rfft

    x = np.random.default_rng(5).standard_normal((3, n)).astype(dtype)
    out = np.empty((3, n // 2 + 1), dtype=np.result_type(dtype, np.complex64))
    got = _numpy_rfft(x, -1, out)
    assert got is out
    ref = np.fft.rfft(x.astype(np.float64), axis=1)
    tolerance = 1e-6 if dtype == np.float32 else 1e-14
    assert np.abs(got - ref).max() <= tolerance * np.abs(ref).max()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("in_rate,out_rate", [(8000, 24000), (22050, 24000), (48000, 24000), (12000, 8000), (44100, 8000)])
def test_fft_engine_packed_transforms_match_the_real_ones(in_rate, out_rate, dtype):
    """The packed transforms (complex FFTs of half the size and kernels.spectrum's pass) give
    what rfft, the gain multiply and irfft give, to rounding (and to the bin at the lower
    Nyquist, which the packed path leaves out: the filter is below -150 dB there)."""
    from math import gcd

    from audiofmt.resampler.fft import FFTEngine
    from audiofmt.resampler.filters import get_quality

    common = gcd(in_rate, out_rate)
    l, m = out_rate // common, in_rate // common
    x = (np.random.default_rng(6).standard_normal(in_rate) * 0.3).astype(dtype)
    results = []
    for packed in (True, False):
        engine = FFTEngine(in_rate, out_rate, l, m, get_quality("hq"), np.dtype(dtype))
        assert engine._packed
        engine._packed = packed
        results.append(np.concatenate((engine.push(x), engine.finish(audiofmt.output_length(x.shape[0], in_rate, out_rate)))))
    tolerance = 2e-6 if dtype == np.float32 else 1e-8
    assert np.abs(results[0] - results[1]).max() <= tolerance
