"""G.711 kernels and codecs against the ITU-T G.191 reference vectors: every input, every code."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import audiofmt
from audiofmt.kernels import g711

from .conftest import read_reference

LAWS = [("g711_ulaw", "u"), ("g711_alaw", "a")]


@pytest.fixture(scope="module")
def sweep() -> np.ndarray:
    src = read_reference("sweep.src")
    assert np.array_equal(src, np.arange(-32768, 32768).astype(np.int16))
    return src


@pytest.mark.parametrize("fmt,law", LAWS)
def test_encode_matches_reference_for_all_65536_inputs(sweep, fmt, law):
    expected = read_reference(f"sweep-r.{law}").astype(np.uint8)
    got = np.frombuffer(audiofmt.encode(sweep, fmt), dtype=np.uint8)
    mismatches = np.flatnonzero(got != expected)
    assert mismatches.size == 0, f"{mismatches.size} inputs differ, first {sweep[mismatches[:5]]}"


@pytest.mark.parametrize("fmt,law", LAWS)
def test_the_encode_table_is_the_reference_for_every_input(sweep, fmt, law):
    """The one G.711 compression (a table every encoder looks codes up in) is exact on its own,
    for every int16 input, read-only and cached."""
    from audiofmt.g711 import encode_table

    expected = read_reference(f"sweep-r.{law}").astype(np.uint8)
    table = encode_table("ulaw" if law == "u" else "alaw")
    assert np.array_equal(table[sweep.view(np.uint16)], expected)
    assert not table.flags.writeable and table is encode_table("ulaw" if law == "u" else "alaw")


@pytest.mark.parametrize("fmt,law", LAWS)
def test_decode_matches_reference_for_all_codes(fmt, law):
    codes = read_reference(f"sweep-r.{law}").astype(np.uint8)
    expected = read_reference(f"sweep-r.{law}-{law}")
    assert np.array_equal(audiofmt.decode(codes.tobytes(), fmt), expected)
    assert np.array_equal(np.unique(codes), np.arange(256))  # every code was exercised


@pytest.mark.parametrize("fmt,law", LAWS)
def test_encode_then_decode_matches_reference(sweep, fmt, law):
    expected = read_reference(f"sweep-r.re{law}")
    assert np.array_equal(audiofmt.decode(audiofmt.encode(sweep, fmt), fmt), expected)


def test_largest_quantisation_error(sweep):
    for fmt, bound in (("g711_ulaw", 644), ("g711_alaw", 512)):
        err = np.abs(audiofmt.decode(audiofmt.encode(sweep, fmt), fmt).astype(np.int32) - sweep)
        assert err.max() == bound


@pytest.mark.parametrize(
    "src,dst,table",
    [("g711_ulaw", "g711_alaw", "ulaw_to_alaw.u8"), ("g711_alaw", "g711_ulaw", "alaw_to_ulaw.u8")],
)
def test_law_conversion_uses_g711_tables(src, dst, table):
    expected = read_reference(table)
    every_code = bytes(range(256))
    assert audiofmt.transcode(every_code, src, dst) == expected.tobytes()
    kernel_table = g711.ULAW_TO_ALAW if src == "g711_ulaw" else g711.ALAW_TO_ULAW
    assert np.array_equal(kernel_table, expected)  # the tables the codecs translate with


def test_law_conversion_differs_from_linear_round_trip():
    """The reason the tables exist: decode-then-encode differs on 46 μ-law and 34 A-law codes."""
    codes = bytes(range(256))
    for src, dst, n_diff in (("g711_ulaw", "g711_alaw", 46), ("g711_alaw", "g711_ulaw", 34)):
        via_linear = audiofmt.encode(audiofmt.decode(codes, src), dst)
        direct = audiofmt.transcode(codes, src, dst)
        assert sum(a != b for a, b in zip(via_linear, direct)) == n_diff


@pytest.mark.parametrize("fmt", ["g711_ulaw", "g711_alaw"])
def test_decode_then_encode_is_identity_except_ulaw_negative_zero(fmt):
    codes = bytes(range(256))
    again = audiofmt.encode(audiofmt.decode(codes, fmt), fmt)
    changed = [c for c, d in zip(codes, again) if c != d]
    assert changed == ([0x7F] if fmt == "g711_ulaw" else [])


@given(st.binary(max_size=2000), st.sampled_from(["g711_ulaw", "g711_alaw"]))
def test_decode_encode_round_trip_property(data, fmt):
    again = audiofmt.encode(audiofmt.decode(data, fmt), fmt)
    expected = data.replace(b"\x7f", b"\xff") if fmt == "g711_ulaw" else data
    assert again == expected


def test_kernel_variants_are_found_by_what_the_arrays_are():
    from audiofmt.kernels import pcm

    x = np.array([0.5, -2.0, np.nan], dtype=np.float32)
    for dtype in (np.float32, np.float64):
        for readonly in (False, True):
            data = x.astype(dtype)
            data.flags.writeable = not readonly
            out = np.empty(3, dtype=np.int16)
            assert pcm.float_to_int16.variant(dtype, readonly=readonly)(data, out) == (1, 1)
            assert out.tolist() == [16384, -32768, 0]
            assert pcm.any_nonfinite.variant(dtype, readonly=readonly)(data)
    codes = np.frombuffer(bytes([0, 255]), dtype=np.uint8)  # read-only, as from bytes
    out = np.empty(2, dtype=np.int16)
    g711.ulaw_expand.variant(np.uint8, readonly=True)(codes, out)
    assert out.tolist() == audiofmt.decode(bytes([0, 255]), "g711_ulaw").tolist()
    with pytest.raises(TypeError, match="float_to_int16 has no variant for"):
        pcm.float_to_int16.variant(np.int32)


def test_a_kernel_called_directly_still_gives_its_variants():
    """Calling a kernel itself loads every signature and disables compiling; looking up one
    variant afterwards must still work (it once raised numba's "compilation disabled")."""
    import subprocess
    import sys

    code = (
        "import numpy as np, audiofmt\n"
        "from audiofmt.kernels import pcm\n"
        "pcm.float_to_int16(np.zeros(4, np.float32), np.empty(4, np.int16))\n"
        "print(audiofmt.float_to_int16(np.full(4, 0.5))[0].tolist())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[16384, 16384, 16384, 16384]"
