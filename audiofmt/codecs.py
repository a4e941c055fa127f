"""encode / decode / transcode between int16 samples and the session formats' bytes.

Float samples become int16 by one documented rule (`float_to_int16`): multiply by 32768, round
to nearest (ties to even), clip to [-32768, 32767]. Clipping is reported: a ClippingWarning by
default, a ClippingError with clip="raise", nothing with clip="ignore".
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
from numpy.typing import DTypeLike

from . import g711 as g711_tables
from ._checks import QUALITY_NAMES, QualityName, check_samples
from .errors import ClippingError, ClippingWarning, InvalidDataError, InvalidSamplesError
from .formats import FORMATS, AudioFormat, get_format
from .kernels import g711
from .kernels.pcm import float_entry
from .kernels.pcm import float_to_int16 as _float_to_int16_kernel

__all__ = ["encode", "decode", "transcode", "float_to_int16", "int16_to_float", "as_samples", "Buffer", "ClipPolicy"]

Buffer = bytes | bytearray | memoryview | np.ndarray
ClipPolicy = Literal["warn", "raise", "ignore"]
_CLIP_POLICIES = ("warn", "raise", "ignore")
_INT16 = np.dtype(np.int16)
_SAMPLE_DTYPES = (np.dtype(np.int16), np.dtype(np.float32), np.dtype(np.float64))
# 1/32768 is a power of two: multiplying by it is exact, and faster than dividing by 32768
_INV_32768 = {np.dtype(np.float32): np.float32(1 / 32768), np.dtype(np.float64): np.float64(1 / 32768)}

# Per codec: how int16 samples become code bytes and back. pcm_s16le has no kernel.
_EXPANDERS = {"ulaw": g711.ulaw_expand, "alaw": g711.alaw_expand}
# Compiled entry points for the hot paths (signature 0: writable input, 1: read-only), each
# looked up (loaded from numba's cache) on first use, not at import.
_ENCODE_TABLES: dict[str, np.ndarray] = {}
_LUT_ENCODE: dict[bool, Any] = {}
_EXPAND_FROM_BYTES: dict[str, Any] = {}


def _lut_encoder(read_only: bool) -> Any:
    _LUT_ENCODE[read_only] = kernel = g711.lut_encode.variant(np.int16, readonly=read_only)
    return kernel


def _encode_table(codec: str) -> np.ndarray:
    _ENCODE_TABLES[codec] = table = g711_tables.encode_table(codec)
    return table


def _expander_from_bytes(codec: str) -> Any:
    _EXPAND_FROM_BYTES[codec] = kernel = _EXPANDERS[codec].variant(np.uint8, readonly=True)
    return kernel
_CODE_TABLES = {
    ("ulaw", "alaw"): g711.ULAW_TO_ALAW.tobytes(),
    ("alaw", "ulaw"): g711.ALAW_TO_ULAW.tobytes(),
}


def _format(name: object) -> AudioFormat:
    """get_format with fast paths for the common cases: a registered name, or a format."""
    if type(name) is AudioFormat:
        return name
    try:
        return FORMATS[name]  # type: ignore[index]
    except (KeyError, TypeError):
        return get_format(name)  # type: ignore[arg-type]


def as_samples(samples: object, *, what: str = "samples") -> np.ndarray:
    """`samples` as a 1-D contiguous native-endian array of int16, float32 or float64."""
    return check_samples(what, samples)


def float_to_int16(samples: np.ndarray, *, clip: ClipPolicy = "warn") -> tuple[np.ndarray, int]:
    """Float samples (full scale ±1.0) to int16; returns (int16 array, number of clipped samples).

    Rule: round(x * 32768) to nearest, ties to even, then clip to [-32768, 32767].
    NaN or inf raises InvalidSamplesError; clipping is reported per `clip`.
    """
    if clip not in _CLIP_POLICIES:
        raise InvalidSamplesError(f"clip must be one of {_CLIP_POLICIES}; got {clip!r}")
    out = np.empty(samples.shape[0], dtype=np.int16)
    n_clipped, n_nonfinite = float_entry(_float_to_int16_kernel, samples)(samples, out)
    if n_nonfinite:
        first = int(np.flatnonzero(~np.isfinite(samples))[0])
        raise InvalidSamplesError(
            f"float samples must be finite; got {n_nonfinite} NaN/inf value(s), "
            f"the first at index {first} ({samples[first]})"
        )
    if n_clipped:
        message = (
            f"{n_clipped} of {samples.shape[0]} float samples were outside [-1.0, 32767/32768] "
            "and were clipped to the int16 range"
        )
        if clip == "raise":
            raise ClippingError(message)
        if clip == "warn":
            warnings.warn(message, ClippingWarning, stacklevel=3)
    return out, int(n_clipped)


def int16_to_float(samples: np.ndarray, dtype: DTypeLike = np.float64) -> np.ndarray:
    """int16 samples to floats at full scale ±1.0: x / 32768, exact in float32 and float64.

    The inverse of float_to_int16 for every int16 value (float_to_int16(int16_to_float(x)) == x).
    """
    return np.multiply(samples, _INV_32768[np.dtype(dtype)], dtype=dtype)


def round_to_int16(x: np.ndarray) -> tuple[np.ndarray, int]:
    """The float rule on float64 samples known to be finite: (int16 samples, number clipped).

    No validation and no warning: for audiofmt's own streaming paths, which count clipping.
    """
    out = np.empty(x.shape[0], dtype=np.int16)
    n_clipped, _ = float_entry(_float_to_int16_kernel, x)(x, out)
    return out, int(n_clipped)


def _to_int16(samples: object, clip: ClipPolicy) -> np.ndarray:
    x = as_samples(samples)
    if x.dtype == np.int16:
        return x
    return float_to_int16(x, clip=clip)[0]


def _as_code_bytes(data: object, what: str = "data") -> np.ndarray:
    """Encoded audio as a 1-D uint8 array view (bytes, bytearray, memoryview or uint8 ndarray)."""
    if isinstance(data, (bytes, bytearray)):
        return np.frombuffer(data, dtype=np.uint8)
    if isinstance(data, memoryview):
        if not data.c_contiguous:
            data = data.tobytes()
        return np.frombuffer(data, dtype=np.uint8)
    if isinstance(data, np.ndarray):
        if data.dtype == np.uint8 and data.ndim == 1:
            return np.ascontiguousarray(data)
        got = f"a {data.ndim}-D {data.dtype} ndarray"
    else:
        got = type(data).__name__
    raise InvalidDataError(f"{what} must be bytes, bytearray, memoryview or a 1-D uint8 ndarray; got {got}")


def encode(samples: np.ndarray, format: str | AudioFormat, *, clip: ClipPolicy = "warn") -> bytes:
    """int16 (or float, see module doc) mono samples to `format`'s bytes, one byte or two per sample.

    No rate change happens here: the samples are taken to be at the format's rate already.
    """
    fmt = _format(format)
    if type(samples) is np.ndarray and samples.dtype == _INT16 and samples.ndim == 1:
        flags = samples.flags
        if flags.c_contiguous and flags.aligned:
            x, read_only = samples, not flags.writeable
        else:
            x, read_only = np.array(samples, order="C"), False
    else:
        x, read_only = _to_int16(samples, clip), False
    if fmt.codec == "pcm_s16le":
        return x.astype("<i2", copy=False).tobytes()
    out = np.empty(x.shape[0], dtype=np.uint8)
    table = _ENCODE_TABLES.get(fmt.codec)
    if table is None:
        table = _encode_table(fmt.codec)
    (_LUT_ENCODE.get(read_only) or _lut_encoder(read_only))(x, table, out)
    return out.tobytes()


def decode(data: Buffer, format: str | AudioFormat) -> np.ndarray:
    """`format`'s bytes to a new int16 sample array (native byte order) at the format's rate."""
    fmt = _format(format)
    from_bytes = type(data) is bytes
    codes = np.frombuffer(data, dtype=np.uint8) if from_bytes else _as_code_bytes(data)
    if fmt.codec == "pcm_s16le":
        fmt.n_samples(codes.shape[0])  # raises on an odd byte count
        return codes.view("<i2").astype(np.int16)
    out = np.empty(codes.shape[0], dtype=np.int16)
    if from_bytes:
        (_EXPAND_FROM_BYTES.get(fmt.codec) or _expander_from_bytes(fmt.codec))(codes, out)
    else:
        _EXPANDERS[fmt.codec](codes, out)
    return out


def transcode(
    data: Buffer,
    from_format: str | AudioFormat,
    to_format: str | AudioFormat,
    *,
    quality: QualityName = "hq",
    clip: ClipPolicy = "warn",
) -> bytes:
    """Bytes of one session format to bytes of another.

    μ-law ↔ A-law goes through G.711's code conversion tables. Where the rates differ
    (pcm16 at 24000 Hz ↔ G.711 at 8000 Hz) the audio is resampled at `quality` in float64 and
    rounded once to int16 on the way out (clipping reported per `clip`); the output length
    follows the resampler's rule, round-half-up(n * to_rate / from_rate).
    """
    if quality not in QUALITY_NAMES:  # checked even when no rate changes (without loading the resampler)
        from .resampler.filters import get_quality

        get_quality(quality)
    src, dst = _format(from_format), _format(to_format)
    table = _CODE_TABLES.get((src.codec, dst.codec))
    if table is not None:
        return (data if type(data) is bytes else _as_code_bytes(data).tobytes()).translate(table)
    if src.codec == dst.codec:
        codes = _as_code_bytes(data)
        src.n_samples(codes.shape[0])
        return codes.tobytes()
    samples = decode(data, src)
    if src.rate_hz != dst.rate_hz:
        from .resampler.core import resample

        resampled = resample(int16_to_float(samples), src.rate_hz, dst.rate_hz, quality=quality)
        return encode(resampled, dst, clip=clip)
    return encode(samples, dst)
