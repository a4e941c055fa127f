"""Resampling: the public `resample()` and `Resampler`, their presets, filter design, plans and engines.

- core.py: `resample`, `Resampler`, `downmix`, argument checks and dtype handling;
- filters.py: Kaiser-windowed sinc design and the quality presets;
- plan.py: the chain of stages chosen per rate pair, and the output length rule;
- engines.py: the engine for a plan (`make_engine`, `Chain`); fir.py: the direct-form FIR
  engines (numba kernels); fft.py: the overlap-save FFT engine; threads.py: the thread pool.
"""

from .core import MAX_RATE_HZ, MIN_RATE_HZ, Resampler, channel_mean, downmix, output_length, resample
from .filters import QUALITIES, Quality, get_quality

__all__ = [
    "resample",
    "Resampler",
    "downmix",
    "channel_mean",
    "output_length",
    "MIN_RATE_HZ",
    "MAX_RATE_HZ",
    "Quality",
    "QUALITIES",
    "get_quality",
]
