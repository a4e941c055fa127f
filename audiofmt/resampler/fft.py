"""The overlap-save FFT resampling engine (the vhq preset): float64, blocks at absolute positions.

Block b turns input [b*Bi - P, b*Bi - P + Ni) into output [b*Bo, (b+1)*Bo); every block is
positioned on absolute sample indices, so streaming equals one-shot bit for bit.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .filters import Quality, kaiser_beta, kaiser_length, windowed_sinc

__all__ = ["FFTEngine"]

_MAX_FFT = 1 << 21
_BATCH_SAMPLES = 1 << 18  # input samples transformed per numpy call (about 2 MB of float64)


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

    def reuse_outputs(self) -> None:
        """Accepted for the engine interface; this engine's outputs are always fresh arrays."""

    @property
    def lookahead(self) -> int:
        """Input samples that may arrive after an output's time before that output is emitted."""
        return self.hop_in + self.pad

    def push(self, x: np.ndarray, into: np.ndarray | None = None) -> np.ndarray:
        """As the FIR engines' push; `into` is ignored (the outputs are a new array)."""
        n_buffered = self._start + self._buffer.shape[0]  # absolute index where x begins
        n_avail = n_buffered + x.shape[0]
        n_blocks = (n_avail + self.pad - self.n_fft_in) // self.hop_in + 1 - self._next_block
        if n_blocks <= 0:
            if x.shape[0]:
                self._buffer = np.concatenate((self._buffer, x))
            return np.zeros(0)
        # Blocks whose window starts inside x read x itself; only the first few, which straddle
        # the buffered tail and x, need a (short) joined copy.
        first_start = self._next_block * self.hop_in - self.pad
        n_straddling = min(n_blocks, max(0, -((first_start - n_buffered) // self.hop_in)))
        parts = []
        if n_straddling:
            span = (n_straddling - 1) * self.hop_in + self.n_fft_in
            joined = np.concatenate((self._buffer, x[: first_start + span - n_buffered]))
            parts.append(self._transform(joined[first_start - self._start :], n_straddling))
        if n_blocks > n_straddling:
            inside_start = first_start + n_straddling * self.hop_in - n_buffered
            parts.append(self._transform(x[inside_start:], n_blocks - n_straddling))
        self._next_block += n_blocks
        keep_from = self._next_block * self.hop_in - self.pad
        if keep_from >= n_buffered:
            self._buffer = x[keep_from - n_buffered :].copy()
        else:
            self._buffer = np.concatenate((self._buffer[keep_from - self._start :], x))
        self._start = keep_from
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def finish(self, total: int | None) -> np.ndarray:
        """Emit the rest: `total` outputs in all, the input being zero after what was pushed.

        This engine is only ever a chain's last stage, so `total` is always given."""
        if total is None:
            raise ValueError("FFTEngine.finish needs the total output length")
        n_in = self._start + self._buffer.shape[0]
        n_blocks = -(-(total - self._next_block * self.hop_out) // self.hop_out)
        if n_blocks <= 0:
            return np.zeros(0)
        needed = (self._next_block + n_blocks - 1) * self.hop_in - self.pad + self.n_fft_in
        out = self.push(np.zeros(max(0, needed - n_in)))
        return out[: out.shape[0] - ((self._next_block * self.hop_out) - total)]

    def _transform(self, signal: np.ndarray, n_blocks: int) -> np.ndarray:
        """Outputs of `n_blocks` consecutive blocks whose first window starts at signal[0]."""
        span = (n_blocks - 1) * self.hop_in + self.n_fft_in
        frames = sliding_window_view(signal[:span], self.n_fft_in)[:: self.hop_in]
        n_bins = self.gains.shape[0]
        per_batch = min(n_blocks, max(1, _BATCH_SAMPLES // self.n_fft_in))
        # The product goes into a contiguous buffer that already holds the zero bins above
        # the lower Nyquist, so irfft neither copies a strided view nor pads.
        spectrum = np.zeros((per_batch, self.n_fft_out // 2 + 1), dtype=np.complex128)
        out = np.empty((n_blocks, self.hop_out))
        for b in range(0, n_blocks, per_batch):
            rows = min(per_batch, n_blocks - b)
            forward = np.fft.rfft(frames[b : b + rows], axis=1)
            np.multiply(forward[:, :n_bins], self.gains, out=spectrum[:rows, :n_bins])
            blocks = np.fft.irfft(spectrum[:rows], n=self.n_fft_out, axis=1)
            out[b : b + rows] = blocks[:, self.out_offset : self.out_offset + self.hop_out]
        return out.reshape(-1)
