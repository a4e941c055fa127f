"""Sample-rate conversion: `resample()` one-shot and `Resampler` streaming, identical sample for sample.

- Rates are integers from 1000 to 384000 Hz; the ratio is kept as an exact fraction L/M.
- Length rule: n input samples give round-half-up(n * out_rate / in_rate) output samples
  (`output_length`). Output sample j lies at input time j * in_rate / out_rate: zero delay.
- Streaming: the concatenation of every `process()` result and `flush()` equals the one-shot
  result exactly, for any chunking.
- dtypes: float32 and float64 come back in the same dtype (computed in float64); int16 comes
  back as int16 by audiofmt's one rule (x * 32768 rounded to nearest, ties to even, clipped),
  with the number of clipped samples in `Resampler.n_clipped`.
- Quality presets (`filters.QUALITIES`): "hq" (default), "vhq", "low_latency".
"""

from __future__ import annotations

from math import gcd
from typing import Callable, Union

import numpy as np

from ._engines import Chain, FFTEngine, PolyphaseEngine, make_engine, output_length
from .errors import InvalidRateError, InvalidSamplesError, StreamStateError
from .filters import Quality, get_quality
from .kernels.pcm import count_nonfinite

__all__ = ["resample", "Resampler", "downmix", "channel_mean", "output_length", "MIN_RATE_HZ", "MAX_RATE_HZ"]

MIN_RATE_HZ = 1000
MAX_RATE_HZ = 384000
_FLOAT64 = np.dtype(np.float64)
_PIECE = 1 << 16  # samples per engine push when a chunk is large
_DTYPES = (np.dtype(np.float32), _FLOAT64, np.dtype(np.int16))
Engine = Union[FFTEngine, PolyphaseEngine, Chain]


def _check_rate(name: str, rate: object) -> int:
    if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, (int, np.integer)):
        raise InvalidRateError(
            f"{name} must be an integer number of Hz from {MIN_RATE_HZ} to {MAX_RATE_HZ}; got {rate!r}"
        )
    if not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:
        raise InvalidRateError(f"{name} must be from {MIN_RATE_HZ} to {MAX_RATE_HZ} Hz; got {rate}")
    return int(rate)


def _push_in_pieces(engine: Engine, x: np.ndarray) -> np.ndarray:
    """engine.push(x), fed at most _PIECE samples at a time.

    Streaming is chunk-invariant, so this changes no sample; it keeps every working array
    small enough to stay in cache and be reused, instead of faulting in fresh pages for a
    multi-megabyte one-shot input.
    """
    if x.shape[0] <= _PIECE:
        return engine.push(x)
    parts = [engine.push(x[i : i + _PIECE]) for i in range(0, x.shape[0], _PIECE)]
    return np.concatenate(parts)


def _all_finite(x: np.ndarray) -> bool:
    """True if no sample of x (float32 or float64, any shape) is NaN or ±inf."""
    if x.ndim != 1 or not x.flags.c_contiguous:
        x = np.ascontiguousarray(x).reshape(-1)
    return count_nonfinite(x) == 0


def channel_mean(x: np.ndarray) -> np.ndarray:
    """float64 mean of the channels of a (frames, channels) array: audiofmt's downmix rule.

    The channels are added in order, then divided by their count once (for up to 7 channels
    that is bit for bit what x.mean(axis=1) gives; numpy sums 8 or more in blocks). Much faster
    than a reduction along the contiguous axis.
    """
    total = x[:, 0].astype(np.float64)
    for c in range(1, x.shape[1]):
        total += x[:, c]
    total /= x.shape[1]
    return total


def downmix(x: np.ndarray) -> np.ndarray:
    """Mono from (frames, channels): the mean of the channels, in x's dtype.

    int16 means are rounded to nearest (ties to even); a 1-D array is returned unchanged.
    """
    if not isinstance(x, np.ndarray) or x.ndim not in (1, 2):
        shape = getattr(x, "shape", type(x).__name__)
        raise InvalidSamplesError(f"downmix expects a 1-D or (frames, channels) array; got {shape}")
    if x.ndim == 1:
        return x
    if x.dtype not in _DTYPES:
        raise InvalidSamplesError(f"samples dtype must be one of int16, float32, float64; got {x.dtype}")
    mean = channel_mean(x)
    return np.rint(mean).astype(np.int16) if x.dtype == np.int16 else mean.astype(x.dtype)


class Resampler:
    """Streaming sample-rate converter: `process(chunk) -> out` any number of times, then `flush()`.

    `channels` > 1 takes (frames, channels) chunks; `downmix=True` averages them to mono first
    (the cheap order when the target is mono). Attributes `n_in` / `n_out` count frames so far.
    """

    def __init__(
        self,
        in_rate: int,
        out_rate: int,
        quality: str | Quality = "hq",
        channels: int = 1,
        *,
        downmix: bool = False,
    ) -> None:
        self.in_rate = _check_rate("in_rate", in_rate)
        self.out_rate = _check_rate("out_rate", out_rate)
        self.quality = get_quality(quality)
        if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or not 1 <= channels <= 256:
            raise InvalidSamplesError(f"channels must be an integer from 1 to 256; got {channels!r}")
        self.channels = int(channels)
        self.downmix = bool(downmix)
        common = gcd(self.in_rate, self.out_rate)
        self.l, self.m = self.out_rate // common, self.in_rate // common
        n_engines = 1 if self.downmix else self.channels
        self._engines: list[Engine] = [
            make_engine(self.in_rate, self.out_rate, self.quality) for _ in range(n_engines)
        ]
        self._dtype: np.dtype | None = None
        self._mono_ready = False  # _prepare_mono fills the four below once the dtype is known
        self._int16 = self._single = False
        self._to_int16: Callable[..., tuple[int, int]] | None = None
        self._nonfinite: tuple[Callable[[np.ndarray], int], ...] = ()
        self._flushed = False
        self.n_in = 0
        self.n_out = 0
        self.n_clipped = 0

    @property
    def latency_ms(self) -> float:
        """Worst-case input that must arrive after an output's time before it is emitted, in ms."""
        return self._engines[0].latency_samples * 1000 / self.in_rate

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Resample the next chunk; returns every output sample that is now complete (maybe none)."""
        if self._flushed:
            raise StreamStateError("process() called after flush(); create a new Resampler for a new stream")
        if (  # the hot path of a mono stream in frames: same checks, fewer Python steps
            self._mono_ready
            and type(chunk) is np.ndarray
            and chunk.dtype is self._dtype
            and chunk.ndim == 1
            and chunk.shape[0] <= _PIECE
            and chunk.flags.c_contiguous
        ):
            return self._process_mono(chunk)
        planar = self._check_chunk(chunk)
        out = self._collect([_push_in_pieces(engine, x) for engine, x in zip(self._engines, planar)])
        if not self._mono_ready and len(self._engines) == 1 and self.channels == 1:
            self._prepare_mono()
        return out

    def _prepare_mono(self) -> None:
        """Look up once what _process_mono needs for the stream's dtype (known after one chunk)."""
        from .kernels import compiled_entry
        from .kernels.pcm import count_nonfinite, float_to_int16

        self._int16 = self._dtype == np.int16
        self._single = self._dtype == np.float32
        self._to_int16 = compiled_entry(float_to_int16, 2)  # signature: float64, writable
        first = 0 if self._single else 2  # count_nonfinite signatures: f32, f32 read-only, f64, f64 read-only
        self._nonfinite = (compiled_entry(count_nonfinite, first), compiled_entry(count_nonfinite, first + 1))
        self._mono_ready = True

    def _process_mono(self, chunk: np.ndarray) -> np.ndarray:
        """process() of a 1-D C-contiguous chunk in the stream's dtype: what _check_chunk and
        _collect do, with nothing looked up per call."""
        if self._int16:
            x = chunk * (1 / 32768)
        elif self._nonfinite[not chunk.flags.writeable](chunk):
            self._check_chunk(chunk)  # raises, naming the first bad sample
            raise AssertionError("unreachable")
        else:
            x = chunk.astype(np.float64) if self._single else chunk
        self.n_in += chunk.shape[0]
        y = self._engines[0].push(x)
        self.n_out += y.shape[0]
        if self._single:
            return y.astype(np.float32)
        if self._int16:
            out = np.empty(y.shape[0], dtype=np.int16)
            assert self._to_int16 is not None
            self.n_clipped += self._to_int16(y, out)[0]
            return out
        return y

    def process_decoded(self, samples: np.ndarray) -> np.ndarray:
        """process() for a mono float64 C-contiguous chunk that is finite by construction (decoded
        from PCM or G.711 codes): skips the checks, for 20 ms streaming paths inside audiofmt."""
        if self._flushed or len(self._engines) != 1 or samples.shape[0] > _PIECE:
            return self.process(samples)
        self._dtype = _FLOAT64 if self._dtype is None else self._dtype
        if self._dtype is not _FLOAT64:
            return self.process(samples)  # raises the dtype-change error
        self.n_in += samples.shape[0]
        out = self._engines[0].push(samples)
        self.n_out += out.shape[0]
        return out

    def flush(self) -> np.ndarray:
        """End of input: returns the remaining output (the stream then holds output_length(n_in))."""
        if self._flushed:
            raise StreamStateError("flush() called twice; create a new Resampler for a new stream")
        self._flushed = True
        total = output_length(self.n_in, self.in_rate, self.out_rate)
        return self._collect([engine.finish(total) for engine in self._engines])

    def _check_chunk(self, chunk: object) -> list[np.ndarray]:
        """Validate one chunk and return it as float64 planes, one per engine."""
        if not isinstance(chunk, np.ndarray):
            raise InvalidSamplesError(f"chunk must be a numpy.ndarray; got {type(chunk).__name__}")
        if chunk.dtype not in _DTYPES:
            raise InvalidSamplesError(f"chunk dtype must be one of float32, float64, int16; got {chunk.dtype}")
        if self._dtype is None:
            self._dtype = chunk.dtype
        elif chunk.dtype != self._dtype:
            raise StreamStateError(f"chunk dtype changed from {self._dtype} to {chunk.dtype} mid-stream")
        expected = (None,) if self.channels == 1 else (None, self.channels)
        if chunk.ndim != len(expected) or (chunk.ndim == 2 and chunk.shape[1] != self.channels):
            want = "1-D (frames,)" if self.channels == 1 else f"(frames, {self.channels})"
            raise InvalidSamplesError(f"chunk must have shape {want}; got {chunk.shape}")
        if chunk.dtype != np.int16 and not _all_finite(chunk):
            first = int(np.flatnonzero(~np.isfinite(chunk.reshape(-1)))[0])
            raise InvalidSamplesError(
                f"samples must be finite; got NaN/inf at flat index {self.n_in * self.channels + first}"
            )
        self.n_in += chunk.shape[0]
        if chunk.dtype == np.int16:
            x = chunk * (1 / 32768)
        else:
            x = np.asarray(chunk, dtype=np.float64)  # no copy for float64: engines never write to it
        if chunk.ndim == 1:
            return [x]
        if self.downmix:
            return [channel_mean(x)]
        return [np.ascontiguousarray(x[:, c]) for c in range(self.channels)]

    def _collect(self, planes: list[np.ndarray]) -> np.ndarray:
        n = planes[0].shape[0]
        self.n_out += n
        y = planes[0] if len(planes) == 1 else np.stack(planes, axis=1)
        if self._dtype is None or self._dtype == np.float64:
            return y
        if self._dtype == np.float32:
            return y.astype(np.float32)
        from .codecs import float_to_int16

        flat, n_clipped = float_to_int16(np.ascontiguousarray(y).reshape(-1), clip="ignore")
        self.n_clipped += n_clipped
        return flat.reshape(y.shape)


def resample(
    x: np.ndarray,
    in_rate: int,
    out_rate: int,
    quality: str | Quality = "hq",
    *,
    downmix: bool = False,
) -> np.ndarray:
    """Resample all of `x` (1-D mono, or (frames, channels)) from in_rate to out_rate Hz.

    Returns output_length(len(x), in_rate, out_rate) frames, time-aligned with the input,
    in x's dtype (see the module doc for int16). Same result as streaming through Resampler.
    """
    if not isinstance(x, np.ndarray):
        raise InvalidSamplesError(f"x must be a numpy.ndarray; got {type(x).__name__}")
    if x.ndim not in (1, 2):
        raise InvalidSamplesError(f"x must be 1-D mono or (frames, channels); got shape {x.shape}")
    if x.shape[0] == 0:
        raise InvalidSamplesError("x is empty: there is nothing to resample")
    channels = 1 if x.ndim == 1 else x.shape[1]
    if x.ndim == 2 and channels == 1:
        x = x[:, 0]
    stream = Resampler(in_rate, out_rate, quality, channels, downmix=downmix)
    head = stream.process(x)
    tail = stream.flush()
    return np.concatenate((head, tail)) if head.shape[0] else tail
