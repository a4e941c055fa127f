"""ITU-T G.711 kernels (numba), bit-exact with the ITU-T G.191 STL g711 module.

Encoding looks codes up in the 65536-entry table of `audiofmt.g711.encode_table` (the G.191
algorithm, evaluated once); decoders are branch-free arithmetic that vectorizes. μ-law ↔ A-law conversion uses G.711's own code
conversion tables (not a round trip through linear PCM, which differs on 46/34 codes).

Every kernel writes into an output array the caller allocated; no validation happens here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import lazy_njit

_I16 = "int16"
_U8 = "uint8"


def _sigs(*dtypes: str) -> Callable[[], list[Any]]:
    """The kernel signature (1-D C arrays of these dtypes, the last one the output) with inputs
    writable, and with them read-only (from bytes); built on first use, so that importing this
    module does not import numba."""

    def build() -> list[Any]:
        from numba import types

        *inputs, out = (types.Array(getattr(types, name), 1, "C") for name in dtypes)
        read_only = [types.Array(t.dtype, 1, "C", readonly=True) for t in inputs]
        return [types.void(*inputs, out), types.void(*read_only, out)]

    return build

__all__ = [
    "lut_encode",
    "ulaw_expand",
    "alaw_expand",
    "ULAW_TO_ALAW",
    "ALAW_TO_ULAW",
]

# G.711 (11/88) code conversion tables, indexed by the transmitted code byte.
ULAW_TO_ALAW = np.frombuffer(
    bytes.fromhex(
        "2a2b28292e2f2c2d22232021262724253a3b38393e3f3c3d3233303136373435"
        "0a0b08090e0f0c0d02030001060704051b18191e1f1c1d12131011161714156a"
        "68696e6f6c6d62636061666764657a787e7f7c7d72737071767774754b494f4d"
        "42434041464744455a5b58595e5f5c5d52525353505051515656575754545555"
        "aaaba8a9aeafacada2a3a0a1a6a7a4a5babbb8b9bebfbcbdb2b3b0b1b6b7b4b5"
        "8a8b88898e8f8c8d82838081868784859b98999e9f9c9d9293909196979495ea"
        "e8e9eeefecede2e3e0e1e6e7e4e5faf8fefffcfdf2f3f0f1f6f7f4f5cbc9cfcd"
        "c2c3c0c1c6c7c4c5dadbd8d9dedfdcddd2d2d3d3d0d0d1d1d6d6d7d7d4d4d5d5"
    ),
    dtype=np.uint8,
)
ALAW_TO_ULAW = np.frombuffer(
    bytes.fromhex(
        "2a2b28292e2f2c2d2223202126272425393a37383d3e3b3c3132303035363334"
        "0a0b08090e0f0c0d02030001060704051a1b18191e1f1c1d1213101116171415"
        "62636061666764655d5d5c5c5f5f5e5e747670727c7e787a6a6b68696e6f6c6d"
        "484946474c4d4a4b40413f3f44454243565754555a5b58594f4f4e4e52535051"
        "aaaba8a9aeafacada2a3a0a1a6a7a4a5b9bab7b8bdbebbbcb1b2b0b0b5b6b3b4"
        "8a8b88898e8f8c8d82838081868784859a9b98999e9f9c9d9293909196979495"
        "e2e3e0e1e6e7e4e5dddddcdcdfdfdedef4f6f0f2fcfef8faeaebe8e9eeefeced"
        "c8c9c6c7cccdcacbc0c1bfbfc4c5c2c3d6d7d4d5dadbd8d9cfcfceced2d3d0d1"
    ),
    dtype=np.uint8,
)


@lazy_njit(_sigs(_I16, _U8, _U8), nogil=True, boundscheck=False)
def lut_encode(x, table, out):
    """out[i] = table[x[i] as uint16]: encode int16 samples through a 65536-entry code table."""
    for i in range(x.shape[0]):
        out[i] = table[np.uint16(x[i])]


@lazy_njit(_sigs(_U8, _I16), nogil=True, boundscheck=False)
def ulaw_expand(codes, out):
    """μ-law decode per G.191: ((2*mantissa + 33) << exponent) - 33, times 4, signed."""
    for i in range(codes.shape[0]):
        c = np.int32(codes[i])
        inv = ~c & 0xFF
        exponent = (inv >> 4) & 7
        mag = (((inv & 15) << 3) + 0x84 << exponent) - 0x84
        out[i] = np.int16(mag if c >= 0x80 else -mag)


@lazy_njit(_sigs(_U8, _I16), nogil=True, boundscheck=False)
def alaw_expand(codes, out):
    """A-law decode per G.191: mid-tread reconstruction of the 13-bit value, times 8, signed.

    Branch-free so it vectorizes: segment 0 is (m << 4) + 8; segment e >= 1 is
    ((m << 4) + 0x108) << (e - 1). The shift is masked to 3 bits, which changes nothing
    (e - 1 <= 6) but lets LLVM prove it in range and use vector shifts.
    """
    for i in range(codes.shape[0]):
        c = np.int32(codes[i])
        ix = (c ^ 0x55) & 0x7F
        exponent = ix >> 4
        nonzero = (exponent + 15) >> 4  # 1 if exponent > 0 else 0
        mag = (((ix & 15) << 4) + 8 + (nonzero << 8)) << ((exponent - nonzero) & 7)
        negate = (c >> 7) - 1  # 0 for codes >= 0x80 (positive), -1 otherwise
        out[i] = np.int16((mag ^ negate) - negate)
