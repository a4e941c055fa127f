"""Sample-rate conversion: `resample()` one-shot and `Resampler` streaming, identical sample for sample.

- Rates are integers from 1000 to 384000 Hz; the ratio is kept as an exact fraction L/M.
- Length rule: n input samples give round-half-up(n * out_rate / in_rate) output samples
  (`output_length`). Output sample j lies at input time j * in_rate / out_rate: zero delay.
- Streaming: the concatenation of every `process()` result and `flush()` equals the one-shot
  result exactly, for any chunking.
- dtypes: float32 and float64 come back in the same dtype, computed in that dtype (the "vhq"
  preset always computes in float64); int16 is computed in float32 as x / 32768 and comes
  back as int16 by audiofmt's one rule (x * 32768 rounded to nearest, ties to even, clipped),
  with the number of clipped samples in `Resampler.n_clipped`.
- Quality presets (`filters.QUALITIES`): "hq" (default), "vhq", "low_latency".
- Threads: `resample()` of 10 s or more, and a `Resampler(threads=0)` fed long chunks, split
  the work into runs of consecutive outputs (FIR stages) or of whole FFT blocks on every core
  the process may use; each output is computed the same way in any run, so the samples are
  identical to a single thread's.
"""

from __future__ import annotations

from collections.abc import Callable
from math import gcd

import numpy as np

from .._checks import MAX_RATE_HZ, MIN_RATE_HZ, QualityName, check_channels, check_int, check_rate, check_samples
from ..codecs import int16_to_float
from ..errors import InvalidSamplesError, StreamStateError
from ..kernels.pcm import any_nonfinite, float_entry, float_to_int16
from .engines import Chain, Engine, make_engine, max_threads, output_length
from .filters import Quality, get_quality

__all__ = ["resample", "Resampler", "downmix", "channel_mean", "output_length", "MIN_RATE_HZ", "MAX_RATE_HZ"]

_FLOAT32 = np.dtype(np.float32)
_FLOAT64 = np.dtype(np.float64)
_PIECE_OUT = 1 << 16  # largest engine push of a long chunk, in samples at the higher rate
# One-shot FFT-engine work on several threads goes in pieces of this many input samples (16 MB of
# float32): each piece is one hand-over to the pool (about 0.1 ms of a waking thread), so few large
# ones. 60 s of 44.1 kHz in one piece instead of five: 2 threads 1.5-1.6x -> 1.75-1.8x one (hq).
# The FIR engines keep their pieces (larger ones measured slower: fresh intermediate arrays).
_PARALLEL_PIECE = 1 << 22
PARALLEL_MIN_S = 10  # resample() of at least this many seconds of input runs on all cores
_DTYPES = (np.dtype(np.float32), _FLOAT64, np.dtype(np.int16))
_ROUND_TO_INT16: dict[np.dtype, Callable[..., tuple[int, int]]] = {}  # per compute dtype, loaded on first use


def _round_entry(dtype: np.dtype) -> Callable[..., tuple[int, int]]:
    _ROUND_TO_INT16[dtype] = kernel = float_to_int16.variant(dtype)
    return kernel


def _push_in_pieces(engine: Engine | Chain, x: np.ndarray, piece: int) -> np.ndarray:
    """engine.push(x), fed at most `piece` samples at a time.

    Streaming is chunk-invariant, so this changes no sample; it keeps every working array
    small enough to stay in cache and be reused, instead of faulting in fresh pages for a
    multi-megabyte one-shot input.
    """
    if x.shape[0] <= piece:
        return engine.push(x)
    parts = [engine.push(x[i : i + piece]) for i in range(0, x.shape[0], piece)]
    return np.concatenate(parts)


def _all_finite(x: np.ndarray) -> bool:
    """True if no sample of x (float32 or float64, any shape) is NaN or ±inf."""
    if x.ndim != 1 or not x.flags.c_contiguous:
        x = np.ascontiguousarray(x).reshape(-1)
    return not float_entry(any_nonfinite, x)(x)


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
    """Streaming sample-rate converter: `process(chunk) -> out` any number of times, then `flush()`
    (the end of the stream: the held-back output); `reset()` starts a new stream.

    `channels` > 1 takes (frames, channels) chunks; `downmix=True` averages them to mono first
    (the cheap order when the target is mono). Attributes `n_in` / `n_out` count frames so far.
    `threads`: how many threads long chunks may be split across (0: every core the process may
    use); the samples do not depend on it.
    """

    def __init__(
        self,
        in_rate: int,
        out_rate: int,
        quality: QualityName | Quality = "hq",
        channels: int = 1,
        *,
        downmix: bool = False,
        threads: int = 1,
    ) -> None:
        self.in_rate = check_rate("in_rate", in_rate)
        threads = check_int("threads", threads, 0, error=InvalidSamplesError)  # 0: every core
        self.threads = max_threads() if threads == 0 else threads
        self.out_rate = check_rate("out_rate", out_rate)
        self.quality = get_quality(quality)
        self.channels = check_channels("channels", channels)
        self.downmix = bool(downmix)
        common = gcd(self.in_rate, self.out_rate)
        self.l, self.m = self.out_rate // common, self.in_rate // common
        self._engines: list[Engine | Chain] = []  # one per channel (one if downmixed), made by _set_dtype
        self._piece = max(4096, _PIECE_OUT * self.in_rate // max(self.in_rate, self.out_rate))  # input samples
        if self.quality.engine == "fft":  # transforms run on batches of blocks: the larger, the faster
            self._piece *= 4
        if self.threads > 1:  # each thread's share of a piece stays as long as one thread's piece
            self._piece *= self.threads
        self._mono = self.channels == 1  # eligible for process()'s hot path
        self.reset()

    def reset(self) -> None:
        """Start a new stream with the same settings: what is held back is dropped (no output),
        the counters start from 0, and a flushed Resampler takes input again."""
        self._engines = []
        self._dtype: np.dtype | None = None  # the stream's dtype, fixed by its first chunk (_set_dtype)
        self._compute: np.dtype = _FLOAT64  # the engines' dtype
        self._int16 = False
        self._nonfinite: Callable[[np.ndarray], bool] = any_nonfinite  # for writable chunks of the stream's dtype
        self._flushed = False
        self.n_in = 0
        self.n_out = 0
        self.n_clipped = 0

    @property
    def latency_ms(self) -> float:
        """Worst-case input that must arrive after an output's time before it is emitted, in ms."""
        engine = self._engines[0] if self._engines else make_engine(self.in_rate, self.out_rate, self.quality, _FLOAT64)
        return engine.lookahead * 1000 / self.in_rate

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Resample the next chunk; returns every output sample that is now complete (maybe none)."""
        if self._flushed:
            raise StreamStateError("process() called after flush(); call reset() (or create a new Resampler) for a new stream")
        if (  # the hot path of a mono stream in frames: the same checks, fewer Python steps
            self._mono
            and type(chunk) is np.ndarray
            and chunk.dtype is self._dtype
            and chunk.ndim == 1
            and chunk.shape[0] <= self._piece
        ):
            flags = chunk.flags
            if flags.c_contiguous and flags.writeable and (self._int16 or not self._nonfinite(chunk)):
                self.n_in += chunk.shape[0]
                if self._dtype is self._compute:  # the engine takes the chunk as it is
                    y = self._engines[0].push(chunk)
                    self.n_out += y.shape[0]
                    return y
                return self._collect([self._engines[0].push(self._as_compute(chunk))])
        planar = self._check_chunk(chunk)
        return self._collect([_push_in_pieces(engine, x, self._piece) for engine, x in zip(self._engines, planar)])

    def process_decoded(self, samples: np.ndarray) -> np.ndarray:
        """process() for a mono float64 C-contiguous chunk that is finite by construction (decoded
        from PCM or G.711 codes): skips the checks, for 20 ms streaming paths inside audiofmt."""
        if self._dtype is None:
            self._set_dtype(_FLOAT64)
        if self._flushed or len(self._engines) != 1 or samples.shape[0] > self._piece:
            return self.process(samples)
        if self._dtype is not _FLOAT64:
            return self.process(samples)  # raises the dtype-change error
        self.n_in += samples.shape[0]
        out = self._engines[0].push(samples)
        self.n_out += out.shape[0]
        return out

    def flush(self) -> np.ndarray:
        """End of input: returns the remaining output (the stream then holds output_length(n_in))."""
        if self._flushed:
            raise StreamStateError("flush() called twice; call reset() (or create a new Resampler) for a new stream")
        self._flushed = True
        if self._dtype is None:
            self._set_dtype(_FLOAT64)  # nothing was pushed: an empty float64 stream
        total = output_length(self.n_in, self.in_rate, self.out_rate)
        return self._collect([engine.finish(total) for engine in self._engines])

    def _check_chunk(self, chunk: object, finite: bool = True) -> list[np.ndarray]:
        """Validate one chunk and return it as planes in the compute dtype, one per engine
        (finite=False: the caller checks the samples for NaN/inf itself)."""
        if not isinstance(chunk, np.ndarray):
            raise InvalidSamplesError(f"chunk must be a numpy.ndarray; got {type(chunk).__name__}")
        if not chunk.dtype.isnative:  # byte-swapped input is taken, as encode() and InputEncoder take it
            chunk = chunk.astype(chunk.dtype.newbyteorder("="))
        if chunk.dtype not in _DTYPES:
            raise InvalidSamplesError(f"chunk dtype must be one of float32, float64, int16; got {chunk.dtype}")
        if self._dtype is None:
            self._set_dtype(chunk.dtype)
        elif chunk.dtype != self._dtype:
            raise StreamStateError(f"chunk dtype changed from {self._dtype} to {chunk.dtype} mid-stream")
        expected = (None,) if self.channels == 1 else (None, self.channels)
        if chunk.ndim != len(expected) or (chunk.ndim == 2 and chunk.shape[1] != self.channels):
            want = "1-D (frames,)" if self.channels == 1 else f"(frames, {self.channels})"
            raise InvalidSamplesError(f"chunk must have shape {want}; got {chunk.shape}")
        if finite and chunk.dtype != np.int16 and not _all_finite(chunk):
            self._raise_nonfinite(chunk, self.n_in)
        self.n_in += chunk.shape[0]
        if chunk.ndim == 1:
            return [self._as_compute(chunk)]
        if self.downmix:
            return [channel_mean(self._as_compute(chunk)).astype(self._compute, copy=False)]
        return [np.ascontiguousarray(self._as_compute(chunk[:, c])) for c in range(self.channels)]

    def _raise_nonfinite(self, samples: np.ndarray, first_frame: int) -> None:
        """Raise the error for the first NaN/inf in `samples`, which start at frame first_frame."""
        first = int(np.flatnonzero(~np.isfinite(samples.reshape(-1)))[0])
        raise InvalidSamplesError(
            f"samples must be finite; got NaN/inf at flat index {first_frame * self.channels + first}"
        )

    def _set_dtype(self, dtype: np.dtype) -> None:
        """Fix the stream's dtype, build the engines in its compute dtype, and look up, once,
        the kernels its conversions call."""
        self._dtype = dtype
        self._int16 = dtype == np.int16
        self._compute = _FLOAT32 if dtype != np.float64 and not self.quality.float64_only else _FLOAT64
        n_engines = 1 if self.downmix else self.channels
        self._engines = [make_engine(self.in_rate, self.out_rate, self.quality, self._compute) for _ in range(n_engines)]
        if self.threads > 1:
            for engine in self._engines:
                engine.set_threads(self.threads)
        if dtype != np.int16:  # any_nonfinite's signatures: f32, f32 read-only, f64, f64 read-only
            self._nonfinite = self._first_nonfinite_check  # loaded on first use: a stream of decoded
            # samples (process_decoded) never needs it, nor numba for it

    def _first_nonfinite_check(self, chunk: np.ndarray) -> bool:
        """any_nonfinite for the stream's dtype, loaded now and called directly from then on."""
        self._nonfinite = any_nonfinite.variant(chunk.dtype)  # the stream's dtype (the hot path checks it)
        return self._nonfinite(chunk)

    def _as_compute(self, chunk: np.ndarray) -> np.ndarray:
        """The chunk in the compute dtype, C-contiguous (int16 scaled by 1/32768; a writable
        chunk already so is passed as it is: engines read long chunks in place, never write)."""
        if self._int16:
            return int16_to_float(chunk, self._compute)
        x = chunk.astype(self._compute, copy=False)
        return x if x.flags.c_contiguous and x.flags.writeable else np.array(x, order="C")

    def _resample_all(self, x: np.ndarray) -> np.ndarray:
        """One-shot, on a new Resampler: process(x) then flush(), each engine's pieces written
        straight into the result instead of concatenated (large outputs would be copied twice)."""
        check = x.dtype != np.int16 and (x.ndim == 1 or self.downmix)  # else _check_chunk does it
        planar = self._check_chunk(x, finite=not check)
        self._flushed = True
        total = output_length(self.n_in, self.in_rate, self.out_rate)
        result = np.empty((total,) if x.ndim == 1 or self.downmix else (total, len(planar)), self._dtype)
        direct = result.ndim == 1 and result.dtype == self._compute
        for c, (engine, plane) in enumerate(zip(self._engines, planar)):
            engine.reuse_outputs()  # what is not written into the result is copied there at once
            engine.for_throughput()
            column = result if result.ndim == 1 else result[:, c]
            pos = 0
            step = max(self._piece, _PARALLEL_PIECE) if self.threads > 1 and self.quality.engine == "fft" else self._piece
            for start in range(0, plane.shape[0], step):
                piece = plane[start : start + step]
                if direct:  # the engine writes straight into the result
                    pos += engine.push(piece, column[pos:]).shape[0]
                else:
                    y = engine.push(piece)
                    self._store(y, column[pos : pos + y.shape[0]])
                    pos += y.shape[0]
                if check and float_entry(any_nonfinite, piece)(piece):  # checked while in cache; the result is discarded
                    self._raise_nonfinite(x[start : start + step], start)
            self._store(engine.finish(total), column[pos:])
        self.n_out = total
        return result

    def _store(self, y: np.ndarray, dest: np.ndarray) -> None:
        """dest[:] = y in the stream's dtype (int16 by the float rule, clipped samples counted)."""
        if not self._int16:
            dest[:] = y
        elif dest.flags.c_contiguous:
            self.n_clipped += (_ROUND_TO_INT16.get(self._compute) or _round_entry(self._compute))(y, dest)[0]
        else:
            rounded = np.empty(y.shape[0], dtype=np.int16)
            self.n_clipped += (_ROUND_TO_INT16.get(self._compute) or _round_entry(self._compute))(y, rounded)[0]
            dest[:] = rounded

    def _collect(self, planes: list[np.ndarray]) -> np.ndarray:
        """The engines' outputs as one array in the stream's dtype (int16 by the float rule,
        clipped samples counted)."""
        self.n_out += planes[0].shape[0]
        y = planes[0] if len(planes) == 1 else np.stack(planes, axis=1)
        if not self._int16:
            return y.astype(self._dtype, copy=False)
        out = np.empty(y.shape, dtype=np.int16)
        self._store(np.ascontiguousarray(y).reshape(-1), out.reshape(-1))
        return out


def resample(
    x: np.ndarray,
    in_rate: int,
    out_rate: int,
    quality: QualityName | Quality = "hq",
    *,
    downmix: bool = False,
    threads: int | None = None,
) -> np.ndarray:
    """Resample all of `x` (1-D mono, or (frames, channels)) from in_rate to out_rate Hz.

    Returns output_length(len(x), in_rate, out_rate) frames, time-aligned with the input,
    in x's dtype (see the module doc for int16). Same result as streaming through Resampler.
    `threads`: None runs inputs of PARALLEL_MIN_S (10) seconds or more on every core the
    process may use, shorter ones on one; 0 means every core, n exactly n. The samples do not
    depend on it.
    """
    if not isinstance(x, np.ndarray):
        raise InvalidSamplesError(f"x must be a numpy.ndarray; got {type(x).__name__}")
    if x.ndim not in (1, 2):
        raise InvalidSamplesError(f"x must be 1-D mono or (frames, channels); got shape {x.shape}")
    channels = 1 if x.ndim == 1 else x.shape[1]
    if x.ndim == 2 and channels == 1:
        x = x[:, 0]
    if threads is None:
        long = isinstance(in_rate, (int, np.integer)) and x.shape[0] >= PARALLEL_MIN_S * in_rate
        threads = 0 if long else 1
    stream = Resampler(in_rate, out_rate, quality, channels, downmix=downmix, threads=threads)
    if x.shape[0] == 0:  # no input, no output (the rates, quality, dtype and shape were still checked)
        x = check_samples("x", x, ndim=(1, 2))
        return np.empty((0,) if x.ndim == 1 or downmix else (0, channels), dtype=x.dtype)
    return stream._resample_all(x)
