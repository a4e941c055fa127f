"""Packet loss concealment for 8 kHz phone audio, after ITU-T G.711 Appendix I.

`Concealer` is frame in, frame out: `good(frame)` for every received frame, `lost()` for every
frame that did not arrive in time; each returns one int16 frame of the same length. The output
lags the input by `delay_samples` = 30 samples (3.75 ms): the last 30 samples of every good
frame are held back so that, if the next frame is lost, the join into the synthetic signal can
be cross-faded over up to a quarter pitch period that has not been played yet. With no loss the
output is the input delayed by exactly 30 samples, bit for bit (the first 30 are zeros).

The algorithm (Appendix I, "pitch waveform substitution"), in 10 ms units of 80 samples:

- history: the last 390 samples (48.75 ms = 3 × 15 ms longest pitch + 3.75 ms).
- first lost 10 ms: pitch by normalized cross-correlation of the newest 20 ms of history against
  the windows 40–120 samples (5–15 ms) earlier, coarse on every 2nd sample and lag, then fine
  ± 1 lag; the last pitch period is repeated, the joint smoothed by a 1/4-period overlap-add
  into the held-back tail of the history.
- second and third lost 10 ms: the repeated segment grows to 2, then 3 periods (less buzz),
  entered through a 1/4-period overlap-add; from the second 10 ms on the signal fades linearly
  by 0.2 of full amplitude per 10 ms, reaching 0 at 60 ms; later lost audio is silence.
- first good 10 ms after a loss: the synthetic signal is continued and cross-faded into the
  received one over 1/4 period + 4 ms per lost 10 ms beyond the first, at most 10 ms, starting
  at the gain the fade had reached.

All state lives here; the numba kernels (`audiofmt.kernels.plc`) are pure functions over arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import InvalidRateError, InvalidSamplesError

__all__ = ["Concealer", "ConcealerStats"]

RATE_HZ = 8000
UNIT = 80  # 10 ms: the algorithm's own frame
PITCH_MIN = 40  # 5 ms, 200 Hz
PITCH_MAX = 120  # 15 ms, 66.7 Hz
OVERLAP_MAX = PITCH_MAX // 4  # 30: the longest 1/4-period overlap-add, and so the output delay
HISTORY = 3 * PITCH_MAX + OVERLAP_MAX  # 390 samples, 48.75 ms
CORR_LEN = 160  # 20 ms target of the pitch search
DECIMATION = 2  # coarse pitch search on every 2nd sample and lag
MIN_POWER = 250.0  # energy floor of a pitch candidate
END_OVERLAP_STEP = 32  # recovery overlap grows by 4 ms per lost 10 ms beyond the first
ATTENUATION = 0.2  # amplitude lost per 10 ms, from the second lost 10 ms on
MUTE_UNITS = 6  # 60 ms: after this many lost 10 ms units the output is silence
MAX_PERIODS = 3  # the repeated segment grows to 3 periods, then stays


@dataclass
class ConcealerStats:
    """Counters of one `Concealer`, all exact integers."""

    good_frames: int = 0
    lost_frames: int = 0
    concealed_ms: int = 0  # ms of lost audio replaced (synthetic or muted)
    muted_ms: int = 0  # part of concealed_ms output as silence (beyond 60 ms of one loss)
    bursts: int = 0  # runs of consecutive lost frames
    longest_burst_ms: int = 0
    last_pitch: Optional[int] = None  # samples; the pitch of the latest loss


def _kernels():
    from ..kernels import plc

    return plc


class Concealer:
    """G.711 Appendix I packet loss concealment for one 8 kHz mono stream.

    `frame_samples` is the frame size of the stream, a positive multiple of 80 (10 ms);
    160 (20 ms, RTP and Twilio) by default. Only 8000 Hz is defined.
    """

    delay_samples: int = OVERLAP_MAX  # the output lags the input by 30 samples (3.75 ms)

    def __init__(self, frame_samples: int = 160, rate_hz: int = 8000) -> None:
        if isinstance(rate_hz, bool) or not isinstance(rate_hz, (int, np.integer)) or rate_hz != RATE_HZ:
            raise InvalidRateError(
                f"rate_hz={rate_hz!r}: G.711 Appendix I concealment is defined at 8000 Hz only"
            )
        if (
            isinstance(frame_samples, bool)
            or not isinstance(frame_samples, (int, np.integer))
            or frame_samples <= 0
            or frame_samples % UNIT
        ):
            raise InvalidSamplesError(
                f"frame_samples={frame_samples!r}: expected a positive multiple of {UNIT} (10 ms at 8000 Hz)"
            )
        self.frame_samples = int(frame_samples)
        self.rate_hz = RATE_HZ
        self.delay_samples = OVERLAP_MAX
        self.stats = ConcealerStats()
        self._k = _kernels()
        self._history = np.zeros(HISTORY)  # float64, int16 units; newest sample last
        self._pitch_buf = np.zeros(HISTORY)  # history frozen at the start of a loss, tail blended
        self._last_quarter = np.zeros(OVERLAP_MAX)  # the history's tail before blending
        self._pitch = 0
        self._overlap = 0  # pitch // 4
        self._seg_len = 0  # samples repeated: 1, 2 or 3 periods, ending at the buffer's end
        self._offset = 0  # read position in the repeated segment
        self._erased = 0  # consecutive lost 10 ms units so far
        self._in_burst = False
        self._burst_ms = 0
        self._unit = np.empty(UNIT)
        self._fade = np.empty(UNIT)

    @property
    def pitch(self) -> Optional[int]:
        """Pitch period (samples) estimated at the start of the latest loss; None before any."""
        return self.stats.last_pitch

    def good(self, frame: np.ndarray) -> np.ndarray:
        """A received frame (int16, `frame_samples` long) in; one int16 frame out, 30 samples late."""
        x = self._check(frame)
        out = np.empty(self.frame_samples, dtype=np.int16)
        for u in range(0, self.frame_samples, UNIT):
            unit = self._unit
            unit[:] = x[u : u + UNIT]
            if self._erased:
                self._recover(unit)
            self._push(unit, out[u : u + UNIT])
        self.stats.good_frames += 1
        self._in_burst = False
        return out

    def lost(self) -> np.ndarray:
        """A frame was lost: one concealed int16 frame out (`frame_samples` long)."""
        out = np.empty(self.frame_samples, dtype=np.int16)
        for u in range(0, self.frame_samples, UNIT):
            self._conceal(self._unit)
            self._push(self._unit, out[u : u + UNIT])
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
        return frame.astype(np.float64)

    def _push(self, unit: np.ndarray, out: np.ndarray) -> None:
        """Append 80 samples to the history and emit the 80 that are now 30 samples old."""
        h = self._history
        h[:-UNIT] = h[UNIT:]
        h[-UNIT:] = unit
        self._k.to_int16(h[HISTORY - UNIT - OVERLAP_MAX : HISTORY - OVERLAP_MAX], out)

    def _blend_tail(self) -> None:
        """Cross-fade the buffer's last 1/4 period into the 1/4 period before the segment.

        Reading the segment cyclically then passes from its end back to its start smoothly.
        """
        q = self._overlap
        buf = self._pitch_buf
        start = HISTORY - self._seg_len
        self._k.overlap_add(self._last_quarter[:q], buf[start - q : start], 1.0, buf[HISTORY - q :])

    def _conceal(self, s: np.ndarray) -> None:
        """Synthesize the next lost 10 ms into s."""
        k = self._k
        n_erased = self._erased
        buf = self._pitch_buf
        if n_erased == 0:
            buf[:] = self._history
            pitch = k.find_pitch(buf, CORR_LEN, PITCH_MIN, PITCH_MAX, DECIMATION, MIN_POWER)
            self._pitch = pitch
            self.stats.last_pitch = int(pitch)
            q = pitch // 4
            self._overlap = q
            self._last_quarter[:q] = buf[HISTORY - q :]
            self._seg_len = pitch
            self._blend_tail()
            self._history[HISTORY - q :] = buf[HISTORY - q :]  # not yet output: the delay
            self._offset = k.synthesize(buf, HISTORY - pitch, pitch, 0, 1.0, 0.0, s)
        elif n_erased < MUTE_UNITS:
            gain = 1.0 - (n_erased - 1) * ATTENUATION
            step = ATTENUATION / UNIT
            if n_erased < MAX_PERIODS:
                # one more period: continue the old segment for 1/4 period, fade into the new one
                q = self._overlap
                old = self._fade[:q]
                k.synthesize(buf, HISTORY - self._seg_len, self._seg_len, self._offset, gain, step, old)
                if self._offset > self._pitch:  # same phase, one period back in the segment
                    self._offset -= self._pitch
                self._seg_len += self._pitch
                self._blend_tail()
                self._offset = k.synthesize(
                    buf, HISTORY - self._seg_len, self._seg_len, self._offset, gain, step, s
                )
                k.overlap_add(old, s[:q], 1.0, s[:q])
            else:
                self._offset = k.synthesize(
                    buf, HISTORY - self._seg_len, self._seg_len, self._offset, gain, step, s
                )
        else:
            s[:] = 0.0
            self.stats.muted_ms += UNIT // (RATE_HZ // 1000)
        self._erased = n_erased + 1

    def _recover(self, s: np.ndarray) -> None:
        """First good 10 ms after a loss: cross-fade the continued synthetic signal into s."""
        n_erased = self._erased
        n = min(self._overlap + (n_erased - 1) * END_OVERLAP_STEP, UNIT)
        cont = self._fade[:n]
        self._offset = self._k.synthesize(
            self._pitch_buf, HISTORY - self._seg_len, self._seg_len, self._offset, 1.0, 0.0, cont
        )
        gain = max(0.0, 1.0 - (n_erased - 1) * ATTENUATION)
        self._k.overlap_add(cont, s[:n], gain, s[:n])
        self._erased = 0
