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

from .filters import Quality, kaiser_beta, kaiser_length, windowed_sinc, windowed_sinc_at

__all__ = ["output_length", "FFTEngine", "PolyphaseEngine", "HalfbandDecimator", "Chain", "make_engine"]

_MAX_FFT = 1 << 21
_BATCH_SAMPLES = 1 << 18  # input samples transformed per numpy call (about 2 MB of float64)


def output_length(n_in: int, in_rate: int, out_rate: int) -> int:
    """Output samples for `n_in` input samples: round-half-up(n_in * out_rate / in_rate)."""
    return (2 * n_in * out_rate + in_rate) // (2 * in_rate)


def _fft_cost(n: int) -> float:
    """Relative time of a real FFT of size n on this class of machine (measured, rough)."""
    per_point = 1.0 if n <= 8192 else 1.3 if n <= 32768 else 1.7
    return per_point * n * math.log2(max(n, 2))


class History:
    """The input samples from absolute index `start` on, kept in one reusable array.

    Appending copies only the new samples; dropping old ones moves an offset and compacts
    only when the array is full, so a stream of small chunks costs no reallocation.
    """

    def __init__(self, n_zeros: int) -> None:
        self._data = np.zeros(max(4096, 4 * n_zeros))
        self._offset = 0
        self._length = n_zeros
        self.start = -n_zeros

    @property
    def end(self) -> int:
        """Absolute index one past the newest sample."""
        return self.start + self._length

    def samples(self) -> np.ndarray:
        """A view of every kept sample (valid until the next append)."""
        return self._data[self._offset : self._offset + self._length]

    def append(self, x: np.ndarray) -> None:
        n = x.shape[0]
        if self._offset + self._length + n > self._data.shape[0]:
            kept = self.samples()
            if self._length + n > self._data.shape[0] // 2:
                data = np.empty(2 * (self._length + n))
                data[: self._length] = kept
                self._data = data
            else:
                self._data[: self._length] = kept.copy()
            self._offset = 0
        self._data[self._offset + self._length : self._offset + self._length + n] = x
        self._length += n

    def drop_before(self, index: int) -> None:
        """Forget samples before absolute `index`."""
        n = index - self.start
        if n > 0:
            self._offset += n
            self._length -= n
            self.start = index


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

    @property
    def latency_samples(self) -> int:
        """Input samples that may arrive after an output's time before that output is emitted."""
        return self.hop_in + self.pad

    def push(self, x: np.ndarray) -> np.ndarray:
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

    def finish(self, total: int) -> np.ndarray:
        """Emit the rest: `total` outputs in all, the input being zero after what was pushed."""
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
    phases = np.arange(l)
    last_tap = (phases + half) // l
    first_tap = -((half - phases) // l)
    n_taps = int((last_tap - first_tap).max()) + 1
    # Grid offset of tap k of phase φ; every offset in [-T, T] occurs exactly once in the table.
    # Filled a band of phases at a time so that awkward ratios need no giant temporaries.
    coefs = np.empty((l, n_taps))
    beta = kaiser_beta(quality.attenuation_db)
    band = max(1, (1 << 20) // n_taps)
    for p0 in range(0, l, band):
        rows = slice(p0, p0 + band)
        offsets = phases[rows, None] - (last_tap[rows, None] - n_taps + 1 + np.arange(n_taps)[None, :]) * l
        coefs[rows] = windowed_sinc_at(offsets, half, cutoff, beta)
    coefs *= l / coefs.sum()  # each phase then sums to ~1: unity gain
    coefs.setflags(write=False)
    last_tap = last_tap.astype(np.int64)
    last_tap.setflags(write=False)
    return half, coefs, last_tap


class PolyphaseEngine:
    """Direct-form polyphase FIR (the low_latency preset): each output as soon as it can be."""

    def __init__(self, in_rate: int, out_rate: int, l: int, m: int, quality: Quality) -> None:
        from .kernels import compiled_entry
        from .kernels.polyphase import polyphase

        self._kernel = compiled_entry(polyphase, 0)
        self.in_rate, self.out_rate, self.l, self.m = in_rate, out_rate, l, m
        self.half, coefs, last_tap = _polyphase_design(in_rate, l, m, quality)
        self._coefs, self._last_tap = coefs, last_tap
        self.n_taps = coefs.shape[1]
        self._history = History(self.n_taps)
        self._n_out = 0

    @property
    def latency_samples(self) -> int:
        """Input samples that must follow an output's time before that output is emitted."""
        return -(-self.half // self.l)

    def push(self, x: np.ndarray) -> np.ndarray:
        self._history.append(x)
        ready = -((self.half - self._history.end * self.l) // self.m)  # j with floor((jM+T)/L) < end
        return self._run(ready)

    def finish(self, total: int) -> np.ndarray:
        """Emit the rest: `total` outputs in all, the input being zero after what was pushed."""
        if total > self._n_out:
            needed = ((total - 1) * self.m + self.half) // self.l + 1
            if needed > self._history.end:
                self._history.append(np.zeros(needed - self._history.end))
        return self._run(total)

    def _run(self, end: int) -> np.ndarray:
        count = end - self._n_out
        if count <= 0:
            return np.zeros(0)
        out = np.empty(count)
        history = self._history
        self._kernel(history.samples(), history.start, self._coefs, self._last_tap, self.m, self.l, self._n_out, out)
        self._n_out = end
        history.drop_before((end * self.m + self.half) // self.l - self.n_taps + 1)
        return out


@lru_cache(maxsize=64)
def _halfband_design(in_rate: int, out_rate: int, attenuation_db: float) -> np.ndarray:
    """Odd taps of a half-band low-pass at in_rate that keeps 0 .. out_rate/2 free of aliases.

    After 2:1 decimation, content at f aliases to in_rate/2 - f; the stopband starts at
    in_rate/2 - out_rate/2, so nothing lands below out_rate/2, where the next stage cuts.
    """
    transition = (in_rate / 2 - out_rate) / in_rate
    half = kaiser_length(attenuation_db, transition) // 2
    half += 1 - half % 2  # odd, so the outermost tap is a non-zero one
    taps = windowed_sinc(half, 0.25, kaiser_beta(attenuation_db))
    odd = np.ascontiguousarray(taps[half + 1 :: 2]) / (2 * taps[half])  # centre tap exactly 1/2
    odd.setflags(write=False)
    return odd


class HalfbandDecimator:
    """Streaming 2:1 half-band decimation: output j sits at input 2j (zero delay)."""

    def __init__(self, in_rate: int, out_rate: int, quality: Quality) -> None:
        from .kernels.polyphase import halfband_decimate

        self._kernel = halfband_decimate
        self._odd_taps = _halfband_design(in_rate, out_rate, quality.attenuation_db)
        self.reach = 2 * self._odd_taps.shape[0] - 1  # farthest input offset from 2j
        self._history = History(self.reach)
        self._n_out = 0

    def push(self, x: np.ndarray) -> np.ndarray:
        self._history.append(x)
        return self._run((self._history.end - 1 - self.reach) // 2 + 1)

    def finish(self) -> np.ndarray:
        """Every remaining output that is not identically zero (the input being zero after its end)."""
        n_in = self._history.end
        end = (n_in - 1 + self.reach) // 2 + 1
        self._history.append(np.zeros(max(0, 2 * (end - 1) + self.reach + 1 - n_in)))
        return self._run(end)

    def _run(self, end: int) -> np.ndarray:
        count = end - self._n_out
        if count <= 0:
            return np.zeros(0)
        out = np.empty(count)
        self._kernel(self._history.samples(), self._history.start, self._odd_taps, self._n_out, out)
        self._n_out = end
        self._history.drop_before(2 * end - self.reach)
        return out


class Chain:
    """Half-band 2:1 stages feeding a final engine; behaves like one engine."""

    def __init__(self, stages: list[HalfbandDecimator], final: FFTEngine | PolyphaseEngine) -> None:
        self.stages, self.final = stages, final

    @property
    def latency_samples(self) -> int:
        reach = sum(stage.reach << i for i, stage in enumerate(self.stages))
        return reach + (self.final.latency_samples << len(self.stages))

    def push(self, x: np.ndarray) -> np.ndarray:
        for stage in self.stages:
            x = stage.push(x)
        return self.final.push(x)

    def finish(self, total: int) -> np.ndarray:
        x = np.zeros(0)
        for stage in self.stages:
            x = np.concatenate((stage.push(x), stage.finish()))
        return np.concatenate((self.final.push(x), self.final.finish(total)))


def make_engine(in_rate: int, out_rate: int, quality: Quality) -> FFTEngine | PolyphaseEngine | Chain:
    """The engine for one channel: FFT or polyphase, behind half-band 2:1 stages while the rate
    stays at least three times the output rate (each stage then needs only a short filter)."""
    from math import gcd

    stages: list[HalfbandDecimator] = []
    rate = in_rate
    if quality.engine == "fft":
        while rate % 2 == 0 and rate >= 3 * out_rate:
            stages.append(HalfbandDecimator(rate, out_rate, quality))
            rate //= 2
    common = gcd(rate, out_rate)
    engine_class = FFTEngine if quality.engine == "fft" else PolyphaseEngine
    final = engine_class(rate, out_rate, out_rate // common, rate // common, quality)
    return Chain(stages, final) if stages else final
