"""The two resampling engines behind audiofmt.resample: mono, float64, streaming, exact positions.

Both engines see the input as one signal x[0 .. n) that is zero outside, and compute output
sample j at input time j * M / L (L / M = out_rate / in_rate in lowest terms) from exact
integer positions. An engine emits an output only when every input it depends on has arrived,
and computes it the same way whatever the chunking, so streaming equals one-shot bit for bit.
At `finish()` it emits the rest, up to `output_length(n)` samples in all.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .filters import Quality, kaiser_beta, kaiser_length, windowed_sinc

__all__ = ["output_length", "FFTEngine", "PolyphaseEngine"]

_MAX_FFT = 1 << 21
_BATCH_SAMPLES = 1 << 18  # input samples transformed per numpy call (about 2 MB of float64)


def output_length(n_in: int, in_rate: int, out_rate: int) -> int:
    """Output samples for `n_in` input samples: round-half-up(n_in * out_rate / in_rate)."""
    return (2 * n_in * out_rate + in_rate) // (2 * in_rate)


def _fft_cost(n: int) -> float:
    """Relative time of a real FFT of size n on this class of machine (measured, rough)."""
    per_point = 1.0 if n <= 8192 else 1.3 if n <= 32768 else 1.7
    return per_point * n * math.log2(max(n, 2))


@lru_cache(maxsize=64)
def _fft_design(l: int, m: int, quality: Quality) -> tuple[int, int, int, np.ndarray]:
    """(P, Ni, No, H) for the overlap-save engine: pad, FFT sizes in and out, bin gains."""
    lower, higher = min(l, m), max(l, m)
    ratio = lower / higher  # lower Nyquist as a fraction of the higher one
    transition = (quality.stopband_begin - quality.passband_end) * ratio / 2  # × the higher rate
    cutoff = (quality.stopband_begin + quality.passband_end) * ratio / 4
    half = kaiser_length(quality.attenuation_db, transition) // 2
    taps = windowed_sinc(half, cutoff, kaiser_beta(quality.attenuation_db))
    half_in = half if m >= l else -(-half * m // l)  # filter half-length in input samples
    pad = -(-half_in // m) * m
    best: tuple[float, int] | None = None
    for k in sorted({base << shift for base in (1, 3) for shift in range(40) if (base << shift) <= _MAX_FFT}):
        n_in, n_out = m * k, l * k
        if n_in < 2 * pad + m:
            continue
        if max(n_in, n_out) > _MAX_FFT and best is not None:
            break
        cost = (_fft_cost(n_in) + _fft_cost(n_out)) / (n_in - 2 * pad)
        if best is None or cost < best[0]:
            best = (cost, k)
    assert best is not None
    n_in, n_out = m * best[1], l * best[1]
    n_high = max(n_in, n_out)
    circular = np.zeros(n_high)
    circular[: half + 1] = taps[half:]
    circular[n_high - half :] = taps[:half]
    n_bins = min(n_in, n_out) // 2 + 1
    gains = np.fft.rfft(circular)[:n_bins].real * (n_out / n_in)
    gains.setflags(write=False)
    return pad, n_in, n_out, gains


class FFTEngine:
    """Overlap-save resampling in the frequency domain (the hq and vhq presets).

    Block b turns input [b*Bi - P, b*Bi - P + Ni) into output [b*Bo, (b+1)*Bo): rfft of size Ni,
    multiply the bins below the lower Nyquist by the filter's gains, irfft of size No = Ni*L/M,
    keep the Bo samples the filter fully covers. Block positions are absolute sample indices.
    """

    def __init__(self, in_rate: int, out_rate: int, l: int, m: int, quality: Quality) -> None:
        self.in_rate, self.out_rate, self.l, self.m = in_rate, out_rate, l, m
        self.pad, self.n_fft_in, self.n_fft_out, self.gains = _fft_design(l, m, quality)
        self.hop_in = self.n_fft_in - 2 * self.pad
        self.hop_out = self.hop_in * l // m
        self.out_offset = self.pad * l // m
        self._buffer = np.zeros(self.pad)  # holds input from absolute index self._start
        self._start = -self.pad
        self._next_block = 0
        self._n_out = 0

    @property
    def latency_samples(self) -> int:
        """Input samples that may arrive after an output's time before that output is emitted."""
        return self.hop_in + self.pad

    def push(self, x: np.ndarray) -> np.ndarray:
        if x.shape[0]:
            self._buffer = np.concatenate((self._buffer, x))
        n_avail = self._start + self._buffer.shape[0]
        last_ready = (n_avail + self.pad - self.n_fft_in) // self.hop_in
        return self._run_blocks(last_ready + 1 - self._next_block)

    def finish(self) -> np.ndarray:
        n_in = self._start + self._buffer.shape[0]
        total = output_length(n_in, self.in_rate, self.out_rate)
        n_blocks = -(-(total - self._n_out) // self.hop_out)
        needed = (self._next_block + n_blocks - 1) * self.hop_in - self.pad + self.n_fft_in
        if needed > n_in:
            self._buffer = np.concatenate((self._buffer, np.zeros(needed - n_in)))
        out = self._run_blocks(n_blocks)
        return out[: out.shape[0] - (self._n_out - total)]

    def _run_blocks(self, n_blocks: int) -> np.ndarray:
        if n_blocks <= 0:
            return np.zeros(0)
        first = self._next_block * self.hop_in - self.pad - self._start
        span = (n_blocks - 1) * self.hop_in + self.n_fft_in
        frames = sliding_window_view(self._buffer[first : first + span], self.n_fft_in)[:: self.hop_in]
        n_bins = self.gains.shape[0]
        per_batch = max(1, _BATCH_SAMPLES // self.n_fft_in)
        out = np.empty((n_blocks, self.hop_out))
        for b in range(0, n_blocks, per_batch):
            spectrum = np.fft.rfft(frames[b : b + per_batch], axis=1)[:, :n_bins]
            spectrum *= self.gains
            blocks = np.fft.irfft(spectrum, n=self.n_fft_out, axis=1)
            out[b : b + per_batch] = blocks[:, self.out_offset : self.out_offset + self.hop_out]
        self._next_block += n_blocks
        self._n_out += n_blocks * self.hop_out
        keep_from = self._next_block * self.hop_in - self.pad
        self._buffer = self._buffer[keep_from - self._start :]
        self._start = keep_from
        return out.reshape(-1)


@lru_cache(maxsize=64)
def _polyphase_design(in_rate: int, l: int, m: int, quality: Quality) -> tuple[int, np.ndarray, np.ndarray]:
    """(T, coefs[L, K], last_tap[L]) for the polyphase engine on the grid of rate in_rate * L."""
    grid_rate = in_rate * l
    assert quality.max_latency_ms is not None
    half = int(grid_rate * quality.max_latency_ms // 1000)
    lower_nyquist = min(in_rate, in_rate * l // m) / 2
    transition = (quality.attenuation_db - 7.95) / (2.285 * 2 * math.pi * 2 * half) * grid_rate
    if transition > 0.5 * lower_nyquist:  # too short for a usable passband: allow more latency
        transition = 0.5 * lower_nyquist
        half = kaiser_length(quality.attenuation_db, transition / grid_rate) // 2
    cutoff = (quality.stopband_begin * lower_nyquist - transition / 2) / grid_rate
    taps = windowed_sinc(half, cutoff, kaiser_beta(quality.attenuation_db)) * l
    phases = np.arange(l)
    last_tap = (phases + half) // l
    first_tap = -((half - phases) // l)
    n_taps = int((last_tap - first_tap).max()) + 1
    offsets = phases[:, None] - (last_tap[:, None] - n_taps + 1 + np.arange(n_taps)[None, :]) * l
    inside = np.abs(offsets) <= half
    coefs = np.where(inside, taps[np.clip(offsets + half, 0, 2 * half)], 0.0)
    coefs = np.ascontiguousarray(coefs)
    coefs.setflags(write=False)
    last_tap = last_tap.astype(np.int64)
    last_tap.setflags(write=False)
    return half, coefs, last_tap


class PolyphaseEngine:
    """Direct-form polyphase FIR (the low_latency preset): each output as soon as it can be."""

    def __init__(self, in_rate: int, out_rate: int, l: int, m: int, quality: Quality) -> None:
        from .kernels.polyphase import polyphase

        self._kernel = polyphase
        self.in_rate, self.out_rate, self.l, self.m = in_rate, out_rate, l, m
        self.half, coefs, last_tap = _polyphase_design(in_rate, l, m, quality)
        self._coefs, self._last_tap = coefs, last_tap
        self.n_taps = coefs.shape[1]
        self._buffer = np.zeros(self.n_taps)
        self._start = -self.n_taps
        self._n_out = 0

    @property
    def latency_samples(self) -> int:
        """Input samples that must follow an output's time before that output is emitted."""
        return -(-self.half // self.l)

    def push(self, x: np.ndarray) -> np.ndarray:
        if x.shape[0]:
            self._buffer = np.concatenate((self._buffer, x))
        n_avail = self._start + self._buffer.shape[0]
        ready = -((self.half - n_avail * self.l) // self.m)  # outputs j with floor((jM+T)/L) < n_avail
        return self._run(ready)

    def finish(self) -> np.ndarray:
        n_in = self._start + self._buffer.shape[0]
        total = output_length(n_in, self.in_rate, self.out_rate)
        if total > self._n_out:
            needed = ((total - 1) * self.m + self.half) // self.l + 1
            if needed > n_in:
                self._buffer = np.concatenate((self._buffer, np.zeros(needed - n_in)))
        return self._run(total)

    def _run(self, end: int) -> np.ndarray:
        count = end - self._n_out
        if count <= 0:
            return np.zeros(0)
        out = np.empty(count)
        self._kernel(self._buffer, self._start, self._coefs, self._last_tap, self.m, self.l, self._n_out, out)
        self._n_out = end
        keep_from = (end * self.m + self.half) // self.l - self.n_taps + 1
        if keep_from > self._start:
            self._buffer = self._buffer[keep_from - self._start :]
            self._start = keep_from
        return out
