"""Tests for audiofmt._checks: one rule for integers, rates, channels, dtypes and sample arrays."""

import numpy as np
import pytest

from audiofmt import AudioFormatError, InvalidRateError, InvalidSamplesError
from audiofmt._checks import check_channels, check_dtype, check_int, check_rate, check_samples


@pytest.mark.parametrize("value", [3, np.int64(3), np.uint8(3), np.int16(3)])
def test_int_accepts_python_and_numpy_integers(value):
    out = check_int("n", value, 1, 5)
    assert out == 3 and type(out) is int


@pytest.mark.parametrize("value", [True, np.bool_(True), 3.0, "3", None, [3], np.float64(3)])
def test_int_refuses_non_integers_naming_the_argument(value):
    with pytest.raises(AudioFormatError, match=r"^n must be an integer from 1 to 5; got "):
        check_int("n", value, 1, 5)


def test_int_bounds_and_huge_values_stay_short():
    with pytest.raises(AudioFormatError, match=r"got 0$"):
        check_int("n", 0, 1)
    with pytest.raises(AudioFormatError) as info:
        check_int("n", 10**5000, 1, 5)
    assert len(str(info.value)) < 120


def test_rate_and_channels_raise_their_own_classes():
    assert check_rate("rate_hz", np.int32(24000)) == 24000
    with pytest.raises(InvalidRateError, match="rate_hz must be from 1000 to 384000 Hz; got 999"):
        check_rate("rate_hz", 999)
    assert check_channels("channels", np.int64(2)) == 2
    with pytest.raises(InvalidSamplesError, match="channels must be from 1 to 256; got 257"):
        check_channels("channels", 257)


@pytest.mark.parametrize("value", ["float32", np.float32, np.dtype(np.float32), np.dtype(">f4")])
def test_dtype_accepts_names_types_and_dtypes(value):
    assert check_dtype("dtype", value) is np.dtype(np.float32)


@pytest.mark.parametrize("value", ["float16", "int32", np.uint8, None, 3])
def test_dtype_refuses_others_listing_what_is_allowed(value):
    with pytest.raises(InvalidSamplesError, match="dtype must be one of int16, float32, float64; got"):
        check_dtype("dtype", value)


def test_samples_big_endian_is_converted_not_refused():
    x = np.array([0.25, -0.5], dtype=">f4")
    out = check_samples("samples", x)
    assert out.dtype is np.dtype(np.float32) and out.tolist() == [0.25, -0.5]


def test_samples_strided_becomes_contiguous():
    x = np.arange(10, dtype=np.int16)[::2]
    out = check_samples("samples", x)
    assert out.flags.c_contiguous and out.tolist() == [0, 2, 4, 6, 8]


def test_samples_shape_and_dtype_errors():
    with pytest.raises(InvalidSamplesError, match=r"must be 1-D \(mono\); got an array of shape \(4, 2\); downmix"):
        check_samples("samples", np.zeros((4, 2), np.float32))
    assert check_samples("x", np.zeros((4, 2), np.float32), ndim=(1, 2)).shape == (4, 2)
    with pytest.raises(InvalidSamplesError, match="dtype must be one of int16, float32, float64; got int32"):
        check_samples("samples", np.zeros(4, np.int32))
    with pytest.raises(InvalidSamplesError, match=r"must be a numpy\.ndarray"):
        check_samples("samples", [0.0, 1.0])


def test_quality_names_are_the_presets():
    from audiofmt._checks import QUALITY_NAMES
    from audiofmt.resampler.filters import QUALITIES

    assert tuple(QUALITIES) == QUALITY_NAMES  # the Literal (QUALITY_NAMES is its get_args) names the presets


@pytest.mark.parametrize("make", [
    lambda: __import__("audiofmt").InputEncoder({}, 24000, quality="bogus"),
    lambda: __import__("audiofmt").OutputDecoder({}, quality="bogus"),
    lambda: __import__("audiofmt").transcode(b"\0" * 4, "pcm16", "pcm16", quality="bogus"),
])
def test_an_unknown_quality_fails_even_when_no_rate_changes(make):
    with pytest.raises(AudioFormatError, match="unknown resampling quality 'bogus'"):
        make()
