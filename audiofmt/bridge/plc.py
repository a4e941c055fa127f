"""Packet loss concealment for 8 kHz phone audio: ITU-T G.711 Appendix I, sample-exact.

`Concealer` is frame in, frame out: `good(frame)` for every received frame, `lost()` for every
frame that did not arrive in time; each returns one int16 frame of the same length. The output
lags the input by `delay_samples` = 30 samples (3.75 ms): the last 30 samples of the history are
held back so that, if the next 10 ms are lost, the join into the synthetic signal can be
cross-faded over up to a quarter pitch period that has not been played yet. With no loss the
output is the input delayed by exactly 30 samples, bit for bit (the first 30 are zeros);
`flush()` returns the 30 samples still held at the end of a stream.

The output is the ITU-T reference's sample for sample: the STL (G.191) program `g711iplc`
(`lowcfe.c`, built with `USEDOUBLES`), checked against its own test vectors in
tests/test_plc.py. That program works in 10 ms frames; a `Concealer` with 20 ms (or any
multiple of 10 ms) frames gives the same samples as the reference fed the same stream in 10 ms
frames, with both halves of a lost 20 ms frame lost. `conceal()` runs a whole signal the way the
reference program does (time-aligned output, as long as the input), and
`python -m audiofmt.bridge.g711iplc PATTERN.g192 IN.raw OUT.raw` is a drop-in for `g711iplc`.

The algorithm ("pitch waveform substitution"), in 10 ms units of 80 samples:

- history: the last 390 samples (48.75 ms = 3 × 15 ms longest pitch + 3.75 ms), int16.
- first lost 10 ms: the history is copied to a float64 pitch buffer; the pitch is found by
  normalized cross-correlation of the newest 20 ms against the windows 40–120 samples
  (5–15 ms) earlier, coarse on every 2nd sample and lag, then fine ± 1 lag; the buffer's last
  1/4 period is cross-faded with the 1/4 period before the last period (and written back,
  truncated, into the not yet played tail of the history); the last period is repeated.
- second and third lost 10 ms: the repeated segment grows to 2, then 3 periods; the first 1/4
  period of the unit cross-fades the old segment's continuation into the new one.
- from the second lost 10 ms on, the unit is faded linearly: gain 1 - 0.2·(k - 1) at its first
  sample (k = lost units before it), minus 0.0025 per sample; from the 7th lost unit (60 ms)
  on the output is silence.
- first good 10 ms after a loss: the synthetic signal is continued and cross-faded into the
  received one over 1/4 period + 4 ms per lost 10 ms beyond the first (at most 10 ms), the
  synthetic side scaled by the gain the fade had reached (1 - 0.2·(k - 1), at least 0).

Every conversion to int16 truncates toward zero, as the reference's `(short)` casts do (not
round-to-nearest). All state lives here; the numba kernels (`audiofmt.kernels.plc`) are pure
functions over arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from types import SimpleNamespace

import numpy as np

from .._checks import check_int
from ..errors import InvalidDataError, InvalidRateError, InvalidSamplesError

__all__ = ["Concealer", "ConcealerStats", "conceal", "read_g192"]

RATE_HZ = 8000
UNIT = 80  # 10 ms: the algorithm's own frame
PITCH_MIN = 40  # 5 ms, 200 Hz
PITCH_MAX = 120  # 15 ms, 66.7 Hz
OVERLAP_MAX = PITCH_MAX >> 2  # 30: the longest 1/4-period overlap-add, and so the output delay
HISTORY = 3 * PITCH_MAX + OVERLAP_MAX  # 390 samples, 48.75 ms
CORR_LEN = 160  # 20 ms target of the pitch search
DECIMATION = 2  # coarse pitch search on every 2nd sample and lag
MIN_POWER = 250.0  # energy floor of a pitch candidate
END_OVERLAP_STEP = 32  # recovery overlap grows by 4 ms per lost 10 ms beyond the first
ATTENUATION = 0.2  # gain lost per 10 ms, from the second lost 10 ms on
ATTENUATION_STEP = ATTENUATION / UNIT  # per sample: 0.0025
MUTE_AFTER = 6  # lost 10 ms units with signal; later ones are silence (60 ms)
GROW_UNITS = 2  # the 2nd and 3rd lost units each add one period to the repeated segment

G192_GOOD = 0x6B21  # ITU-T G.192 frame-sync word: frame received
G192_LOST = 0x6B20  # frame erased
_G192_LAST_GOOD = 0x6B2F  # 0x6B21-0x6B2F: G.192's good-frame sync words


@dataclass
class ConcealerStats:
    """Counters of one `Concealer`, all exact integers."""

    good_frames: int = 0
    lost_frames: int = 0
    concealed_ms: int = 0  # ms of lost audio replaced (synthetic or muted)
    muted_ms: int = 0  # part of concealed_ms output as silence (beyond 60 ms of one loss)
    bursts: int = 0  # runs of consecutive lost frames
    longest_burst_ms: int = 0
    last_pitch: int | None = None  # samples; the pitch of the latest loss


@cache
def _kernels() -> SimpleNamespace:
    """The concealment kernels' compiled entry points (each has one signature; loaded on the
    first Concealer, and calling them skips numba's type dispatch)."""
    from ..kernels import plc

    return SimpleNamespace(**{name: getattr(plc, name).entry(0) for name in plc.__all__})


class Concealer:
    """G.711 Appendix I packet loss concealment for one 8 kHz mono stream.

    `frame_samples` is the frame size of the stream, a positive multiple of 80 (10 ms);
    160 (20 ms, RTP and Twilio) by default. Only 8000 Hz is defined. The output lags the input
    by `delay_samples` = 30 samples (3.75 ms) whatever the frame size.
    """

    delay_samples: int = OVERLAP_MAX  # the output lags the input by 30 samples (3.75 ms)
    delay_ms: float = OVERLAP_MAX / (RATE_HZ / 1000)  # 3.75

    def __init__(self, frame_samples: int = 160, rate_hz: int = 8000) -> None:
        if check_int("rate_hz", rate_hz, unit="Hz", error=InvalidRateError) != RATE_HZ:
            raise InvalidRateError(f"rate_hz must be {RATE_HZ} Hz (G.711 Appendix I is defined at that rate only); got {rate_hz}")
        frame_samples = check_int("frame_samples", frame_samples, UNIT, error=InvalidSamplesError)
        if frame_samples % UNIT:
            raise InvalidSamplesError(f"frame_samples must be a multiple of {UNIT} (10 ms at 8000 Hz); got {frame_samples}")
        self.frame_samples = frame_samples
        self.rate_hz = RATE_HZ
        self.stats = ConcealerStats()
        self._k = _kernels()
        self._history = np.zeros(HISTORY, dtype=np.int16)  # newest sample last
        self._pitch_buf = np.zeros(HISTORY)  # float64: history frozen at the start of a loss
        self._last_quarter = np.zeros(OVERLAP_MAX)  # the pitch buffer's tail before blending
        self._unit = np.empty(UNIT, dtype=np.int16)  # one synthetic 10 ms unit
        self._tail = np.empty(UNIT, dtype=np.int16)  # continuation of the synthetic signal
        self._pitch = 0
        self._overlap = 0  # pitch >> 2
        self._seg_len = 0  # samples repeated: 1, 2 or 3 periods, ending at the buffer's end
        self._offset = 0  # read position in the repeated segment
        self._erased = 0  # consecutive lost 10 ms units so far
        self._in_burst = False
        self._burst_ms = 0

    @property
    def pitch(self) -> int | None:
        """Pitch period (samples) estimated at the start of the latest loss; None before any."""
        return self.stats.last_pitch

    def good(self, frame: np.ndarray) -> np.ndarray:
        """A received frame (int16, `frame_samples` long) in; one int16 frame out, 30 samples late.

        The caller's array is not modified.
        """
        x = self._check(frame)
        if self._erased:
            self._recover(x[:UNIT])
        out = np.empty(self.frame_samples, dtype=np.int16)
        self._push(x, out)
        self.stats.good_frames += 1
        self._in_burst = False
        return out

    def lost(self) -> np.ndarray:
        """A frame was lost: one concealed int16 frame out (`frame_samples` long)."""
        out = np.empty(self.frame_samples, dtype=np.int16)
        unit = self._unit
        for u in range(0, self.frame_samples, UNIT):
            self._conceal(unit)
            self._push(unit, out[u : u + UNIT])
        ms = self.frame_samples // (RATE_HZ // 1000)
        stats = self.stats
        stats.lost_frames += 1
        stats.concealed_ms += ms
        if not self._in_burst:
            stats.bursts += 1
            self._in_burst = True
            self._burst_ms = 0
        self._burst_ms += ms
        stats.longest_burst_ms = max(stats.longest_burst_ms, self._burst_ms)
        return out

    def flush(self) -> np.ndarray:
        """End of stream: the 30 samples (3.75 ms) still held back, int16.

        The concealer then starts afresh (silent history, no loss in progress; stats kept),
        as a new stream. Output of a whole stream = every frame's output, then flush(), minus
        the first 30 samples: exactly as long as the input and aligned with it.
        """
        held = self._history[HISTORY - OVERLAP_MAX :].copy()
        self._history[:] = 0
        self._erased = 0
        self._in_burst = False
        return held

    # -- internals -------------------------------------------------------------------------

    def _check(self, frame: object) -> np.ndarray:
        if not isinstance(frame, np.ndarray):
            raise InvalidSamplesError(f"frame: expected an int16 numpy array, got {type(frame).__name__}")
        if frame.dtype.kind != "i" or frame.dtype.itemsize != 2:
            raise InvalidSamplesError(f"frame dtype {frame.dtype}: expected int16")
        if frame.ndim != 1 or frame.shape[0] != self.frame_samples:
            raise InvalidSamplesError(
                f"frame shape {frame.shape}: expected ({self.frame_samples},), "
                f"one {self.frame_samples}-sample frame"
            )
        return frame.astype(np.int16)  # a native-endian copy we may modify

    def _push(self, x: np.ndarray, out: np.ndarray) -> None:
        """Append x (n ≥ 30 samples) to the history; out = the n samples now 30 samples old."""
        n = x.shape[0]
        h = self._history
        out[:OVERLAP_MAX] = h[HISTORY - OVERLAP_MAX :]
        out[OVERLAP_MAX:] = x[: n - OVERLAP_MAX]
        if n >= HISTORY:
            h[:] = x[n - HISTORY :]
        else:
            h[: HISTORY - n] = h[n:]
            h[HISTORY - n :] = x

    def _blend_tail(self) -> None:
        """Cross-fade the buffer's original last 1/4 period into the 1/4 period before the
        repeated segment, in place of that tail: reading the segment cyclically then passes
        from its end back to its start smoothly."""
        q = self._overlap
        buf = self._pitch_buf
        start = HISTORY - self._seg_len
        self._k.overlap_add(self._last_quarter[:q], buf[start - q : start], buf[HISTORY - q :])

    def _read(self, out: np.ndarray) -> None:
        """Continue the synthetic signal into out (int16, truncated)."""
        self._offset = self._k.read_cyclic(
            self._pitch_buf, HISTORY - self._seg_len, self._seg_len, self._offset, out
        )

    def _conceal(self, s: np.ndarray) -> None:
        """Synthesize the next lost 10 ms into s (int16, 80 samples)."""
        k = self._k
        n_erased = self._erased
        buf = self._pitch_buf
        if n_erased == 0:
            buf[:] = self._history
            pitch = int(k.find_pitch(buf, CORR_LEN, PITCH_MIN, PITCH_MAX, DECIMATION, MIN_POWER))
            self._pitch = pitch
            self.stats.last_pitch = pitch
            q = pitch >> 2
            self._overlap = q
            self._last_quarter[:q] = buf[HISTORY - q :]
            self._offset = 0
            self._seg_len = pitch
            self._blend_tail()
            # the blended tail has not been played yet (the 30-sample delay): play it
            self._history[HISTORY - q :] = buf[HISTORY - q :].astype(np.int16)  # truncates
            self._read(s)
        elif n_erased <= GROW_UNITS:
            # one more period: continue the old segment for 1/4 period, fade into the new one
            q = self._overlap
            old = self._tail[:q]
            saved = self._offset
            self._read(old)
            offset = saved
            while offset > self._pitch:  # same phase, whole periods back
                offset -= self._pitch
            self._offset = offset
            self._seg_len += self._pitch
            self._blend_tail()
            self._read(s)
            k.cross_fade(old, s[:q], 1.0, s[:q])
            k.fade(s, 1.0 - (n_erased - 1) * ATTENUATION, ATTENUATION_STEP)
        elif n_erased < MUTE_AFTER:
            self._read(s)
            k.fade(s, 1.0 - (n_erased - 1) * ATTENUATION, ATTENUATION_STEP)
        else:
            s[:] = 0
            self.stats.muted_ms += UNIT // (RATE_HZ // 1000)
        self._erased = n_erased + 1

    def _recover(self, s: np.ndarray) -> None:
        """First good 10 ms after a loss: cross-fade the continued synthetic signal into s."""
        n_erased = self._erased
        n = min(self._overlap + (n_erased - 1) * END_OVERLAP_STEP, UNIT)
        cont = self._tail[:n]
        self._read(cont)
        gain = 1.0 - (n_erased - 1) * ATTENUATION
        gain = max(gain, 0.0)
        self._k.cross_fade(cont, s[:n], gain, s[:n])
        self._erased = 0


def read_g192(data: bytes) -> np.ndarray:
    """An ITU-T G.192 frame-erasure pattern (16-bit little-endian words, one per frame:
    0x6B21 received, 0x6B20 lost) as a bool array, True = lost. The other good-frame sync words
    G.192 defines, 0x6B22-0x6B2F, count as received, as in the reference program."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidDataError(f"G.192 pattern: expected bytes, got {type(data).__name__}")
    raw = bytes(data)
    if not raw or len(raw) % 2:
        raise InvalidDataError(
            f"G.192 pattern of {len(raw)} bytes: expected a non-empty whole number of 16-bit words"
        )
    words = np.frombuffer(raw, dtype="<u2")
    bad = np.flatnonzero((words < G192_LOST) | (words > _G192_LAST_GOOD))
    if bad.size:
        i = int(bad[0])
        raise InvalidDataError(
            f"G.192 pattern word {i} is 0x{int(words[i]):04X}: expected 0x6B21-0x6B2F (received) or 0x6B20 (lost)"
        )
    return words == G192_LOST


def conceal(samples: np.ndarray, lost: Sequence[bool] | np.ndarray, frame_samples: int = UNIT,
            plc: bool = True) -> np.ndarray:
    """Run a whole 8 kHz int16 signal through a `Concealer` the way the reference program
    `g711iplc` does; the output is time-aligned with the input and exactly as long.

    `lost[i]` says whether frame i (`frame_samples` long, a multiple of 80) is lost; one entry
    per frame, the last frame may be short (it is padded with zeros, which never reach the
    output). A shorter, repeating pattern as the reference reads its G.192 files:
    `np.resize(pattern, n_frames)`. plc=False: lost frames become silence (`g711iplc -noplc`).
    """
    x = np.asarray(samples)
    if x.dtype.kind != "i" or x.dtype.itemsize != 2 or x.ndim != 1:
        raise InvalidSamplesError(f"samples: expected a 1-D int16 array, got {x.dtype} of shape {x.shape}")
    c = Concealer(frame_samples)
    n_frames = -(-len(x) // c.frame_samples)
    mask = np.asarray(lost)
    if mask.dtype != np.bool_ or mask.ndim != 1 or len(mask) != n_frames:
        raise InvalidSamplesError(
            f"lost: expected {n_frames} bools (one per {c.frame_samples}-sample frame), "
            f"got {mask.dtype} of shape {mask.shape}"
        )
    padded = np.zeros(n_frames * c.frame_samples, dtype=np.int16)
    padded[: len(x)] = x
    frames = padded.reshape(n_frames, c.frame_samples)
    silence = np.zeros(c.frame_samples, dtype=np.int16)
    out = [(c.lost() if plc else c.good(silence)) if miss else c.good(f) for f, miss in zip(frames, mask)]
    out.append(c.flush())
    y = np.concatenate(out)
    return y[OVERLAP_MAX : OVERLAP_MAX + len(x)]

