"""The one place that validates what callers pass in: integers, rates, channel counts, sample
dtypes and shapes. Each check returns the value normalized (a Python int, a native-endian
contiguous array) or raises an AudioFormatError subclass whose message names the argument, the
value and what was allowed.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import numpy as np

from .errors import AudioFormatError, InvalidRateError, InvalidSamplesError, _show

__all__ = [
    "MIN_RATE_HZ",
    "MAX_RATE_HZ",
    "MAX_CHANNELS",
    "SAMPLE_DTYPES",
    "check_int",
    "check_rate",
    "check_channels",
    "check_dtype",
    "check_samples",
    "QualityName",
    "QUALITY_NAMES",
]

MIN_RATE_HZ = 1000
MAX_RATE_HZ = 384000
MAX_CHANNELS = 256
SAMPLE_DTYPES: tuple[np.dtype[Any], ...] = (np.dtype(np.int16), np.dtype(np.float32), np.dtype(np.float64))
_DTYPE_NAMES = ", ".join(str(d) for d in SAMPLE_DTYPES)
QualityName = Literal["hq", "vhq", "low_latency"]  # the resampling presets (resampler/filters.py)
QUALITY_NAMES: tuple[str, ...] = get_args(QualityName)


def check_int(
    name: str,
    value: object,
    lo: int | None = None,
    hi: int | None = None,
    *,
    unit: str = "",
    error: type[AudioFormatError] = AudioFormatError,
) -> int:
    """`value` as a Python int: int or numpy integer (never bool), within [lo, hi] where given."""
    unit_text = f" {unit}" if unit else ""
    bounds = (
        f" from {lo} to {hi}" if lo is not None and hi is not None
        else f" >= {lo}" if lo is not None
        else f" <= {hi}" if hi is not None
        else ""
    )
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise error(f"{name} must be an integer{unit_text}{bounds}; got {_show(value)}")
    number = int(value)
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise error(f"{name} must be{bounds}{unit_text}; got {_show(number)}")
    return number


def check_rate(name: str, value: object) -> int:
    """A sample rate in Hz: an integer from MIN_RATE_HZ to MAX_RATE_HZ."""
    return check_int(name, value, MIN_RATE_HZ, MAX_RATE_HZ, unit="Hz", error=InvalidRateError)


def check_channels(name: str, value: object) -> int:
    """A channel count: an integer from 1 to MAX_CHANNELS."""
    return check_int(name, value, 1, MAX_CHANNELS, error=InvalidSamplesError)


def check_dtype(name: str, value: object, allowed: tuple[np.dtype[Any], ...] = SAMPLE_DTYPES) -> np.dtype[Any]:
    """A sample dtype given as a name ("float32"), a numpy type (np.float32) or a dtype; native byte order."""
    dtype = None
    if value is not None:  # np.dtype(None) is float64: no default here
        try:
            dtype = np.dtype(value)  # type: ignore[call-overload]
        except TypeError:
            pass
    if dtype is not None and dtype.newbyteorder("=") in allowed:
        return np.dtype(dtype.type)  # numpy's shared instance: hot paths compare dtypes with `is`
    names = ", ".join(str(d) for d in allowed)
    raise InvalidSamplesError(f"{name} must be one of {names}; got {_show(value)}")


def check_samples(name: str, samples: object, *, ndim: tuple[int, ...] = (1,)) -> np.ndarray:
    """`samples` as a C-contiguous native-endian array of int16, float32 or float64 whose number of
    dimensions is in `ndim` (1: mono samples; 2: (frames, channels)). Big-endian input is accepted
    and converted; anything else raises InvalidSamplesError."""
    if not isinstance(samples, np.ndarray):
        raise InvalidSamplesError(f"{name} must be a numpy.ndarray of {_DTYPE_NAMES}; got {type(samples).__name__}")
    if samples.ndim not in ndim:
        expected = " or ".join({1: "1-D (mono)", 2: "2-D (frames, channels)"}.get(n, f"{n}-D") for n in ndim)
        hint = "; downmix first (audiofmt.downmix)" if samples.ndim == 2 else ""
        raise InvalidSamplesError(f"{name} must be {expected}; got an array of shape {samples.shape}{hint}")
    if samples.dtype.newbyteorder("=") not in SAMPLE_DTYPES:
        raise InvalidSamplesError(f"{name} dtype must be one of {_DTYPE_NAMES}; got {samples.dtype}")
    return np.ascontiguousarray(samples, dtype=samples.dtype.type)  # native byte order, numpy's shared dtype
