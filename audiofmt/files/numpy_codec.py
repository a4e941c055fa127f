"""numpy twins of the two kernels a conversion needs when it needs no resampler.

A file whose rate is already the format's (8 kHz telephony audio to G.711, 24 kHz audio to
pcm16) is converted without loading numba: importing and initialising it takes most of a
short conversion's time (about 0.5-0.8 s of CPU here, against ~0.25 s for the rest). The
results are the kernels' bit for bit: `round_to_int16` is codecs.float_to_int16's rule (x ×
32768, rounded to nearest, ties to even, clipped) in the same IEEE operations, and the G.711
tables are the G.191 algorithm of kernels/g711.py evaluated for all 65536 int16 inputs; the
tests compare both with the kernels over every input.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from ..errors import InvalidSamplesError
from ..formats import AudioFormat

__all__ = ["round_to_int16", "encode", "encode_table"]


def round_to_int16(x: np.ndarray) -> tuple[np.ndarray, int]:
    """float64 samples (full scale ±1.0) → (int16 samples, number clipped); NaN/inf raises
    InvalidSamplesError with codecs.float_to_int16's message."""
    scaled = np.multiply(x, 32768.0, dtype=np.float64)
    finite = np.isfinite(scaled)
    if not finite.all():
        bad = ~finite
        first = int(np.flatnonzero(bad)[0])
        raise InvalidSamplesError(
            f"float samples must be finite; got {int(np.count_nonzero(bad))} NaN/inf value(s), "
            f"the first at index {first} ({x[first]})"
        )
    np.rint(scaled, out=scaled)
    n_clipped = int(np.count_nonzero(scaled > 32767.0)) + int(np.count_nonzero(scaled < -32768.0))
    np.clip(scaled, -32768.0, 32767.0, out=scaled)
    return scaled.astype(np.int16), n_clipped


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


def encode(samples: np.ndarray, fmt: AudioFormat) -> bytes:
    """int16 mono samples → `fmt`'s bytes (codecs.encode for int16 input, in numpy)."""
    if fmt.codec == "pcm_s16le":
        return samples.astype("<i2", copy=False).tobytes()
    return encode_table(fmt.codec)[samples.view(np.uint16)].tobytes()
