"""A sans-IO RTP jitter buffer: packets in at their arrival times, exactly one frame out per tick.

The caller pushes each packet with its arrival time (ms, on a steady clock) and calls `pop()`
exactly once per frame interval (20 ms) on its own clock; `pop()` returns the frame's payload, or
None when the frame is missing (lost, late, or a stretch) and the caller conceals it. So the
output has exactly one frame per tick, whatever the network does.

Frames are placed by RTP timestamp (frame index = timestamp offset / frame_samples, rounded to
nearest, 32-bit wrap unwrapped), so a sender's silence suppression (timestamps jump) yields
missing frames, not compressed time. Sequence numbers (`RtpSource`) detect duplicates and
reordering. A new SSRC or a sequence restart continues after the newest buffered frame, and at
least the target delay ahead of the playout point.
A packet more than `max_ms` + 1 s from the playout point (either way) is dropped, unless it is
the third such packet in a row: then the timeline re-anchors on it at the target delay ahead of
the playout point (`stats.resyncs`), so a sender whose timestamps jump is followed after two
dropped packets (40 ms).

Playout starts at the first `pop()` at which the buffered frames span `target_ms` (first to
newest frame, holes included); that first pop returns the oldest buffered frame. A packet whose
frame was already played (or skipped) is late: dropped and counted.

Adaptation (adaptive=True), deterministic, evaluated once per second of ticks (50 × 20 ms):
- margin of a packet = its frame index − the next frame to play, at arrival (late: < 0);
  the playout delay `delay_frames` = 1 + the largest margin seen in that second;
- target = ceil((frame_ms + 3 × RFC 3550 jitter) / frame_ms) frames, clamped to
  [min_ms, max_ms]; a late packet raises the target to the delay that would have caught it
  (1 + largest − smallest margin); the target falls by one frame only after 5 seconds without
  late packets;
- then at most one frame of change: delay < target → stretch (that pop returns None and
  playout pauses one tick); delay ≥ target + 2 and every packet of the second had a spare
  frame → skip (the next frame is discarded). Both are counted (`stats.stretched`,
  `stats.skipped`). adaptive=False keeps `target_ms` and never stretches or skips.
"""

from __future__ import annotations

import math

from .._checks import check_int, check_rate
from ..errors import AudioFormatError
from .rtp import RtpPacket, RtpSource, RtpStats, ts_delta

__all__ = ["JitterBuffer"]

_QUIET_WINDOWS = 5  # seconds without a late packet before the target may fall by one frame
_FAR_RUN = 3  # consecutive packets far from the playout point that re-anchor the timeline


class JitterBuffer:
    """Reorders one RTP stream's fixed-size frames and plays them out one per tick (module doc)."""

    def __init__(self, frame_samples: int = 160, clock_rate: int = 8000, target_ms: float = 40,
                 min_ms: float = 20, max_ms: float = 200, adaptive: bool = True,
                 frame_bytes: int | None = None) -> None:
        frame_samples = check_int("frame_samples", frame_samples, 1)
        clock_rate = check_rate("clock_rate", clock_rate)
        if not 0 < min_ms <= target_ms <= max_ms:
            raise AudioFormatError(f"need 0 < min_ms <= target_ms <= max_ms; got {min_ms}, {target_ms}, {max_ms} ms")
        self.frame_samples, self.clock_rate, self.adaptive = frame_samples, clock_rate, adaptive
        self.frame_bytes = frame_samples if frame_bytes is None else frame_bytes  # G.711: 1 byte per sample
        self.frame_ms = frame_samples * 1000 / clock_rate
        self.min_frames = max(1, math.ceil(min_ms / self.frame_ms - 1e-9))
        self.max_frames = max(self.min_frames, math.floor(max_ms / self.frame_ms + 1e-9))
        self.target_frames = min(max(round(target_ms / self.frame_ms), self.min_frames), self.max_frames)
        self.source = RtpSource(clock_rate)
        self.stats: RtpStats = self.source.stats
        self._window_ticks = max(1, round(1000 / self.frame_ms))
        self._far = self.max_frames + self._window_ticks  # frames from the playout point: re-anchor
        self._frames: dict[int, bytes] = {}
        self._next: int | None = None  # frame index the next pop plays; None while buffering
        self._newest: int | None = None
        self._epoch = 0
        self._base_ts = self._ref_ts = 0  # unwrapped timestamps: frame 0, the latest packet
        self._playing_ticks = 0
        self._far_run = 0
        self._quiet = 0
        self._margins: tuple[int, int] | None = None  # (smallest, largest) this window
        self._late_in_window = 0
        self.delay_frames: int | None = None  # playout delay measured in the last window

    # -- state -------------------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        """True once playout has started."""
        return self._next is not None

    @property
    def target_ms(self) -> float:
        """The current target delay in ms (whole frames)."""
        return self.target_frames * self.frame_ms

    @property
    def buffered(self) -> int:
        """Frames held, waiting for their tick."""
        return len(self._frames)

    # -- input -------------------------------------------------------------------------------
    def push(self, packet: RtpPacket, arrival_ms: float, source: object = None) -> None:
        """Take one packet that arrived at `arrival_ms` from `source` (e.g. its address; see
        `RtpSource.update`); drops are counted in `stats`."""
        if len(packet.payload) != self.frame_bytes:
            self.stats.dropped[f"payload not {self.frame_bytes} bytes ({self.frame_ms:g} ms)"] += 1
            return
        if self.source.update(packet, arrival_ms, source) is None:
            return
        frame = self._frame_index(packet.timestamp)
        if self._next is not None:
            margin = frame - self._next
            if abs(margin) > self._far:
                self._far_run += 1
                if self._far_run < _FAR_RUN:
                    self.stats.dropped["timestamp far from playout"] += 1
                    return
                self.stats.resyncs += 1
                frame = self._anchor(self._ref_ts, self._next + self.target_frames - 1)
                margin = frame - self._next
            self._far_run = 0
            low, high = self._margins or (margin, margin)
            self._margins = (min(low, margin), max(high, margin))
            if margin < 0:
                self.stats.late += 1
                self._late_in_window += 1
                return
        if frame in self._frames:
            self.stats.duplicates += 1
            return
        self._frames[frame] = packet.payload
        self._newest = frame if self._newest is None else max(self._newest, frame)
        if self._next is None and len(self._frames) > self._far:  # never popped: bound the memory
            del self._frames[min(self._frames)]
            self.stats.dropped["buffer overflow before playout"] += 1

    def _anchor(self, ext_ts: int, frame: int) -> int:
        """Place unwrapped timestamp `ext_ts` at frame index `frame`."""
        self._base_ts = ext_ts - frame * self.frame_samples
        self._ref_ts = ext_ts
        return frame

    def _frame_index(self, timestamp: int) -> int:
        if self.source.epoch != self._epoch:  # first packet, new SSRC or sequence restart
            self._epoch = self.source.epoch
            after = 0 if self._newest is None else self._newest + 1
            return self._anchor(timestamp, after if self._next is None else max(after, self._next + self.target_frames - 1))
        ext = self._ref_ts = self._ref_ts + ts_delta(timestamp, self._ref_ts & 0xFFFFFFFF)
        return (ext - self._base_ts + self.frame_samples // 2) // self.frame_samples

    # -- output ------------------------------------------------------------------------------
    def pop(self) -> bytes | None:
        """Call once per tick: the payload of this tick's frame, or None (conceal it)."""
        self.stats.ticks += 1
        if self._next is None:
            if not self._frames:
                return None
            first = min(self._frames)
            if max(self._frames) - first + 1 < self.target_frames:
                return None
            self._next = first
        self._playing_ticks += 1
        if self.adaptive and self._playing_ticks % self._window_ticks == 0:
            action = self._adapt()
            if action < 0:
                self.stats.stretched += 1
                return None
            if action > 0:
                self.stats.skipped += 1
                self._frames.pop(self._next, None)
                self._next += 1
        payload = self._frames.pop(self._next, None)
        self._next += 1
        if payload is None:
            self.stats.missing += 1
        else:
            self.stats.played += 1
        return payload

    def _adapt(self) -> int:
        """End of a one-second window: update the target; −1 stretch, +1 skip, 0 nothing."""
        j_frames = math.ceil((self.frame_ms + 3 * self.stats.jitter_ms) / self.frame_ms - 1e-9)
        margins, late = self._margins, self._late_in_window
        self._margins, self._late_in_window = None, 0
        target = self.target_frames
        if late and margins is not None:
            self._quiet = 0
            target = max(target, margins[1] - margins[0] + 1)
        else:
            self._quiet += 1
            if j_frames > target:
                target = j_frames
            elif j_frames < target and self._quiet >= _QUIET_WINDOWS:
                target -= 1
                self._quiet = 0
        self.target_frames = min(max(target, self.min_frames), self.max_frames)
        if margins is None:
            return 0
        self.delay_frames = margins[1] + 1
        if self.delay_frames < self.target_frames:
            return -1
        if self.delay_frames > self.target_frames + 1 and margins[0] >= 1:
            return 1
        return 0
