"""Prometheus metrics for the bridge, and a no-op stand-in when none are wanted.

Every label takes values from a fixed set or a capped one (`_Labels`), so nothing a peer sends can
grow the number of time series. With several worker processes, the metrics live in Prometheus
client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set up by the service before the workers
start) and the supervisor serves their sum; see docs/bridge.md.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

__all__ = ["BridgeMetrics", "NullMetrics", "loop_lag_monitor"]

log = logging.getLogger("audiofmt.bridge")

CALL_OUTCOMES = ("stopped", "phone_closed", "upstream_closed", "upstream_failed", "idle", "start_timeout",
                 "send_timeout", "shutdown", "error")
REJECT_REASONS = ("auth", "capacity", "draining", "connections")
_MAX_DROP_LABELS = 48  # core drop reasons beyond this many distinct values count as "other"
TICK_S = 0.020  # the loop-lag probe's period: one 20 ms audio frame
LATE_S = 0.010  # a probe tick later than this (half a frame) counts as late


class NullMetrics:
    """Accepts every metrics call and does nothing (an embedding app without Prometheus)."""

    def __getattr__(self, name: str) -> Any:
        return _nothing


def _nothing(*args: Any, **kwargs: Any) -> None:
    return None


class _Labels:
    """A capped label set: the first `cap` distinct values pass (sanitized), the rest are "other"."""

    def __init__(self, cap: int) -> None:
        self.cap, self.seen = cap, set()  # type: ignore[var-annotated]

    def __call__(self, value: str) -> str:
        value = re.sub(r"[^A-Za-z0-9 _.:-]", "", value)[:48] or "other"
        if value in self.seen:
            return value
        if len(self.seen) >= self.cap:
            return "other"
        self.seen.add(value)
        return value


class BridgeMetrics:
    """The bridge's counters, gauges and histograms in `registry` (default: the global one)."""

    def __init__(self, registry: Any = None) -> None:
        from prometheus_client import REGISTRY, Counter, Gauge, Histogram

        reg = REGISTRY if registry is None else registry
        self.active_calls = Gauge("audiofmt_bridge_active_calls", "Calls in progress (phone socket open).",
                                  registry=reg, multiprocess_mode="livesum")
        self.calls = Counter("audiofmt_bridge_calls", "Calls ended, by outcome.", ["outcome"], registry=reg)
        self.rejected = Counter("audiofmt_bridge_rejected", "Upgrade requests refused, by reason.", ["reason"], registry=reg)
        self.frames_in = Counter("audiofmt_bridge_frames_in", "Media messages taken from the phone.", registry=reg)
        self.frames_out = Counter("audiofmt_bridge_frames_out", "20 ms media frames sent to the phone.", registry=reg)
        self.dropped = Counter("audiofmt_bridge_dropped", "Messages dropped, by reason.", ["reason"], registry=reg)
        self.throttled_messages = Counter(
            "audiofmt_bridge_throttled", "Phone messages that arrived faster than the rate limit and were delayed.", registry=reg
        )
        self.upstream_failures = Counter(
            "audiofmt_bridge_upstream_connect_failures", "Realtime connections that could not be opened.", registry=reg
        )
        self.upstream_latency = Histogram(
            "audiofmt_bridge_upstream_connect_seconds",
            "Time to open the Realtime WebSocket.",
            registry=reg,
            buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10),
        )
        self.late_ticks = Counter(
            "audiofmt_bridge_late_ticks",
            f"Event-loop probe ticks (every {TICK_S * 1000:.0f} ms) later than {LATE_S * 1000:.0f} ms.",
            registry=reg,
        )
        self.loop_lag = Histogram(
            "audiofmt_bridge_loop_lag_seconds",
            "Event-loop lag of the 20 ms probe tick.",
            registry=reg,
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1),
        )
        self._drop_label = _Labels(_MAX_DROP_LABELS)

    # small verbs, so NullMetrics can stand in for the whole object
    def call_started(self) -> None:
        self.active_calls.inc()

    def call_ended(self, outcome: str) -> None:
        self.active_calls.dec()
        self.calls.labels(outcome if outcome in CALL_OUTCOMES else "error").inc()

    def reject(self, reason: str) -> None:
        self.rejected.labels(reason if reason in REJECT_REASONS else "auth").inc()

    def frames(self, n_in: int, n_out: int) -> None:
        if n_in:
            self.frames_in.inc(n_in)
        if n_out:
            self.frames_out.inc(n_out)

    def drops(self, counts: dict[str, int]) -> None:
        for reason, n in counts.items():
            if n > 0:
                self.dropped.labels(self._drop_label(str(reason))).inc(n)

    def throttled(self) -> None:
        self.throttled_messages.inc()

    def upstream_failed(self) -> None:
        self.upstream_failures.inc()

    def upstream_connected(self, seconds: float) -> None:
        self.upstream_latency.observe(seconds)

    def tick(self, lag_s: float) -> None:
        self.loop_lag.observe(lag_s)
        if lag_s > LATE_S:
            self.late_ticks.inc()


async def loop_lag_monitor(metrics: Any) -> None:
    """Sleep TICK_S over and over and report how late each wake-up is: the delay any call's audio
    sees on this event loop. Runs until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + TICK_S
        await asyncio.sleep(TICK_S)
        metrics.tick(max(0.0, loop.time() - due))
