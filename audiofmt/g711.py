"""ITU-T G.711 compression as code tables, bit-exact with the ITU-T G.191 STL g711 module.

The encoders follow G.191: negative input is coded through its one's complement (~x), and
μ-law encodes 0 as 0xFF. `encode_table(codec)` is the algorithm itself, evaluated once in numpy
for all 65536 int16 inputs (about 2 ms); every encoder (the numba `lut_encode` kernel, the
fused bridge kernels, and the numpy path of conversions that load no numba) looks codes up in
it. The tests compare it with the G.191 reference for every input. Expansion (decoding) is
arithmetic in `kernels/g711.py`.
"""

from __future__ import annotations

from functools import cache

import numpy as np

__all__ = ["encode_table"]


@cache
def encode_table(codec: str) -> np.ndarray:
    """The 65536-entry G.711 code table of `codec` ("ulaw" or "alaw"), indexed by the int16 bits
    (as uint16), per G.191: negative input coded through its one's complement."""
    v = np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)
    sign = v >> 15  # 0 for v >= 0, -1 for v < 0
    if codec == "ulaw":
        biased = np.minimum(((v ^ sign) >> 2) + 33, 0x1FFF)
        rest = biased >> 6  # 0 .. 127: the segment is 1 + its bit length
        segment = 1 + sum((rest >= (1 << k)).astype(np.int32) for k in range(7))
        code = ((8 - segment) << 4) | (15 - ((biased >> segment) & 15))
        table = code | (~sign & 0x80)
    elif codec == "alaw":
        mag = (v ^ sign) >> 4  # 0 .. 2047
        exponent = sum((mag >= (16 << k)).astype(np.int32) for k in range(7))  # 0 for mag <= 15
        shifted = (mag >> np.maximum(exponent - 1, 0)) - 16 + (exponent << 4)
        table = (np.where(exponent > 0, shifted, mag) | (~sign & 0x80)) ^ 0x55
    else:
        raise ValueError(f"no G.711 table for codec {codec!r}")
    out = table.astype(np.uint8)
    out.setflags(write=False)
    return out
