"""encode / decode / transcode: input shapes, byte orders, float rule and error messages."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import audiofmt
from audiofmt import (
    ClippingError,
    ClippingWarning,
    InvalidDataError,
    InvalidSamplesError,
    UnknownFormatError,
)

FORMATS = ["pcm16", "g711_ulaw", "g711_alaw"]


def test_import_does_not_load_numba_or_kernels():
    code = "import sys, audiofmt; print(sorted(m for m in sys.modules if m.startswith(('numba', 'audiofmt.kernels', 'audiofmt.codecs'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_registry_is_data():
    assert {f.name: (f.rate_hz, f.bytes_per_sample) for f in audiofmt.FORMATS.values()} == {
        "pcm16": (24000, 2),
        "g711_ulaw": (8000, 1),
        "g711_alaw": (8000, 1),
    }
    pcm = audiofmt.get_format("pcm16")
    assert (pcm.samples_per_ms, pcm.bytes_per_ms, pcm.samples_to_ms(47), pcm.ms_to_samples(20)) == (24, 48, 1, 480)
    assert audiofmt.get_format("g711_ulaw").bytes_per_ms == 8


@given(hnp.arrays(np.int16, st.integers(0, 500)))
def test_pcm16_round_trip(x):
    data = audiofmt.encode(x, "pcm16")
    assert data == x.astype("<i2").tobytes()
    assert np.array_equal(audiofmt.decode(data, "pcm16"), x)


@pytest.mark.parametrize("fmt", FORMATS)
def test_big_endian_and_strided_input(fmt):
    x = (np.arange(-3000, 3000, 7) * 5).astype(np.int16)
    expected = audiofmt.encode(x, fmt)
    assert audiofmt.encode(x.astype(">i2"), fmt) == expected
    doubled = np.repeat(x, 2)
    assert audiofmt.encode(doubled[::2], fmt) == expected


@pytest.mark.parametrize("fmt", FORMATS)
def test_decode_accepts_every_buffer_type(fmt):
    data = audiofmt.encode((np.arange(400) * 50).astype(np.int16), fmt)
    expected = audiofmt.decode(data, fmt)
    assert expected.dtype == np.int16 and expected.flags.writeable
    for buf in (bytearray(data), memoryview(data), np.frombuffer(data, np.uint8)):
        assert np.array_equal(audiofmt.decode(buf, fmt), expected)
    strided = memoryview(bytes(b for b in data for _ in (0, 1)))[::2]
    assert np.array_equal(audiofmt.decode(strided, fmt), expected)


def test_decoded_pcm16_is_native_endian():
    out = audiofmt.decode(b"\x01\x00\xff\x7f", "pcm16")
    assert out.dtype == np.dtype(np.int16) and out.tolist() == [1, 32767]


def test_float_rule_rounds_to_nearest_even_and_clips():
    x = np.array([0.0, 0.5, -1.0, 1.0, 1.5 / 32768, 2.5 / 32768, -0.5 / 32768, 2.0, -2.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = audiofmt.encode(x, "pcm16")
    assert audiofmt.decode(data, "pcm16").tolist() == [0, 16384, -32768, 32767, 2, 2, 0, 32767, -32768]
    assert [type(w.message) for w in caught] == [ClippingWarning]
    assert "3 of 9" in str(caught[0].message)
    assert audiofmt.float_to_int16(x, clip="ignore")[1] == 3
    with pytest.raises(ClippingError, match="3 of 9"):
        audiofmt.encode(x, "g711_ulaw", clip="raise")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_input_matches_int16_input(dtype):
    ints = np.arange(-32768, 32768, 3).astype(np.int16)
    floats = (ints / 32768.0).astype(dtype)
    for fmt in FORMATS:
        assert audiofmt.encode(floats, fmt) == audiofmt.encode(ints, fmt)


@pytest.mark.parametrize(
    "value,match",
    [
        (np.array([0.1, np.nan, 0.2]), r"finite.*index 1"),
        (np.array([np.inf], dtype=np.float32), r"finite.*index 0"),
        (np.zeros(4, dtype=np.int32), r"dtype must be one of int16, float32, float64; got int32"),
        (np.zeros(4, dtype=np.uint8), r"got uint8"),
        (np.zeros((4, 2), dtype=np.int16), r"1-D \(mono\); got an array of shape \(4, 2\); downmix"),
        (np.int16(3), r"must be a numpy.ndarray"),
        ([1, 2, 3], r"got list"),
    ],
)
def test_bad_samples_are_named(value, match):
    with pytest.raises(InvalidSamplesError, match=match):
        audiofmt.encode(value, "g711_ulaw")


def test_bad_format_lists_valid_ones():
    with pytest.raises(UnknownFormatError, match="'opus'; expected one of 'pcm16', 'g711_ulaw', 'g711_alaw'"):
        audiofmt.decode(b"", "opus")
    with pytest.raises(UnknownFormatError):
        audiofmt.transcode(b"", "pcm16", None)  # type: ignore[arg-type]


def test_bad_data_is_named():
    with pytest.raises(InvalidDataError, match="pcm16 data must be a whole number of 2-byte samples; got 7 bytes"):
        audiofmt.decode(b"\0" * 7, "pcm16")
    with pytest.raises(InvalidDataError, match="got 3 bytes"):
        audiofmt.transcode(b"\0" * 3, "pcm16", "pcm16")
    with pytest.raises(InvalidDataError, match="got str"):
        audiofmt.decode("abc", "g711_ulaw")  # type: ignore[arg-type]
    with pytest.raises(InvalidDataError, match="got a 1-D int16 ndarray"):
        audiofmt.decode(np.zeros(3, dtype=np.int16), "g711_ulaw")
    with pytest.raises(UnknownFormatError):
        audiofmt.encode(np.zeros(3, dtype=np.int16), ["g711_ulaw"])  # type: ignore[arg-type]


def test_empty_input():
    for fmt in FORMATS:
        assert audiofmt.encode(np.zeros(0, np.int16), fmt) == b""
        assert audiofmt.decode(b"", fmt).shape == (0,)
        assert audiofmt.transcode(b"", fmt, fmt) == b""


def test_read_only_unaligned_and_strided_int16_input():
    x = (np.arange(-2000, 2000) * 16).astype(np.int16)
    expected = audiofmt.encode(x, "g711_alaw")
    raw = b"\0" + x.tobytes()
    unaligned = np.frombuffer(raw, dtype=np.int16, offset=1)  # read-only, misaligned
    assert not unaligned.flags.aligned and not unaligned.flags.writeable
    assert audiofmt.encode(unaligned, "g711_alaw") == expected
    strided = np.frombuffer(np.repeat(x, 2).tobytes(), dtype=np.int16)[::2]  # read-only, strided
    assert audiofmt.encode(strided, "g711_alaw") == expected


@pytest.mark.parametrize("dtype", ["float32", "float64", np.float32])
def test_int16_to_float_is_the_exact_inverse_of_float_to_int16(dtype):
    x = np.arange(-32768, 32768, dtype=np.int16)
    f = audiofmt.int16_to_float(x, dtype)
    assert f.dtype == np.dtype(dtype)
    assert np.array_equal(f, x.astype(dtype) / np.float64(32768))
    assert np.array_equal(audiofmt.float_to_int16(f)[0], x)
