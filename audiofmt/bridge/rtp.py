"""RTP (RFC 3550) for SIP trunks and media servers: packets, sequence arithmetic, receive statistics.

Sans-IO like the Twilio core: `parse_rtp(bytes)` / `build_rtp(packet)` turn datagrams into frozen
`RtpPacket`s and back; `RtpSource` keeps one stream's RFC 3550 Appendix A.1 sequence state and
A.8 interarrival jitter from arrival times the caller passes (ms, any steady clock); `RtpSender`
numbers outgoing 20 ms frames. Nothing here owns a socket or a clock.

Bad datagrams raise `RtpError` (an `AudioFormatError`) whose `reason` is a short fixed string
for drop counters; packets a stream cannot use are dropped and counted in `RtpStats.dropped`.
"""

from __future__ import annotations

import secrets
import struct
from collections import Counter
from dataclasses import dataclass, field

from ..errors import RtpError

__all__ = [
    "PAYLOAD_FORMATS",
    "RtpError",
    "RtpPacket",
    "RtpSender",
    "RtpSource",
    "RtpStats",
    "build_rtp",
    "parse_rtp",
    "seq_delta",
    "ts_delta",
]

PAYLOAD_FORMATS: dict[int, str] = {0: "g711_ulaw", 8: "g711_alaw"}  # static RTP/AVP types (RFC 3551)
_HEADER = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, sequence, timestamp, SSRC: 12 bytes
_MASK16, _MASK32 = 0xFFFF, 0xFFFFFFFF
_BYTES = (bytes, bytearray, memoryview)
MAX_DROPOUT = 3000  # RFC 3550 A.1: a forward jump up to this many packets is a gap, not a restart
MAX_MISORDER = 100  # RFC 3550 A.1: a packet up to this many behind the newest is reordered/duplicate


@dataclass(frozen=True)
class RtpPacket:
    """One RTP packet. `extension` is (profile-defined 16-bit id, data of a multiple of 4 bytes)."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension: tuple[int, bytes] | None = None
    payload: bytes = b""

    def __post_init__(self) -> None:
        for name, value, bits in (("payload_type", self.payload_type, 7), ("sequence", self.sequence, 16),
                                  ("timestamp", self.timestamp, 32), ("ssrc", self.ssrc, 32)):
            if type(value) is not int or not 0 <= value < 1 << bits:
                raise RtpError(f"bad {name}", f"{value!r}, expected an int in [0, {(1 << bits) - 1}]")
        csrcs = tuple(self.csrcs)
        if len(csrcs) > 15 or any(type(c) is not int or not 0 <= c <= _MASK32 for c in csrcs):
            raise RtpError("bad csrcs", f"{self.csrcs!r}, expected at most 15 32-bit ints")
        if not isinstance(self.payload, _BYTES):
            raise RtpError("bad payload", f"expected bytes, got {type(self.payload).__name__}")
        object.__setattr__(self, "csrcs", csrcs)
        object.__setattr__(self, "marker", bool(self.marker))
        object.__setattr__(self, "payload", bytes(self.payload))
        if self.extension is not None:
            ext = self.extension
            if (not isinstance(ext, tuple) or len(ext) != 2 or type(ext[0]) is not int or not 0 <= ext[0] <= _MASK16
                    or not isinstance(ext[1], _BYTES) or len(ext[1]) % 4 or len(ext[1]) > 4 * _MASK16):
                raise RtpError("bad extension", f"{ext!r:.60}, expected (16-bit profile, bytes of a multiple of 4 bytes)")
            object.__setattr__(self, "extension", (ext[0], bytes(ext[1])))


def parse_rtp(data: bytes | bytearray | memoryview) -> RtpPacket:
    """Parse one RTP datagram; raise RtpError naming what is wrong (lengths in bytes)."""
    if not isinstance(data, _BYTES):
        raise RtpError("not bytes", type(data).__name__)
    data = bytes(data)
    size = len(data)
    if size < 12:
        raise RtpError("too short", f"{size} bytes, an RTP header takes 12")
    first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
    if first >> 6 != 2:
        raise RtpError("bad version", f"version {first >> 6}, expected 2")
    end = 12 + 4 * (first & 0x0F)
    if end > size:
        raise RtpError("CSRC list beyond packet", f"{first & 0x0F} CSRCs need {end} bytes, packet has {size}")
    csrcs = struct.unpack_from(f"!{first & 0x0F}I", data, 12)
    extension = None
    if first & 0x10:
        if end + 4 > size:
            raise RtpError("extension beyond packet", f"extension header needs {end + 4} bytes, packet has {size}")
        profile, words = struct.unpack_from("!HH", data, end)
        start, end = end + 4, end + 4 + 4 * words
        if end > size:
            raise RtpError("extension beyond packet", f"{words} extension words need {end} bytes, packet has {size}")
        extension = (profile, data[start:end])
    stop = size
    if first & 0x20:
        padding = data[-1]
        if padding == 0 or padding > size - end:
            raise RtpError("bad padding length", f"{padding} padding bytes, at most {size - end} after the header, at least 1")
        stop = size - padding
    return RtpPacket(second & 0x7F, sequence, timestamp, ssrc, bool(second & 0x80), csrcs, extension, data[end:stop])


def build_rtp(packet: RtpPacket, padding: int = 0) -> bytes:
    """Serialize `packet`; `padding` (0–255 bytes, the last holding the count) sets the P bit."""
    if type(padding) is not int or not 0 <= padding <= 255:
        raise RtpError("bad padding length", f"{padding!r}, expected 0 to 255 bytes")
    first = 0x80 | (0x20 if padding else 0) | (0x10 if packet.extension is not None else 0) | len(packet.csrcs)
    parts = [_HEADER.pack(first, (0x80 if packet.marker else 0) | packet.payload_type,
                          packet.sequence, packet.timestamp, packet.ssrc)]
    parts.append(struct.pack(f"!{len(packet.csrcs)}I", *packet.csrcs))
    if packet.extension is not None:
        profile, data = packet.extension
        parts += [struct.pack("!HH", profile, len(data) // 4), data]
    parts.append(packet.payload)
    if padding:
        parts.append(bytes(padding - 1) + bytes((padding,)))
    return b"".join(parts)


def seq_delta(a: int, b: int) -> int:
    """a − b for 16-bit sequence numbers, in [−32768, 32767]: how far `a` is ahead of `b`."""
    return ((a - b + 0x8000) & _MASK16) - 0x8000


def ts_delta(a: int, b: int) -> int:
    """a − b for 32-bit RTP timestamps, in [−2^31, 2^31 − 1] (timestamp units)."""
    return ((a - b + 0x80000000) & _MASK32) - 0x80000000


@dataclass
class RtpStats:
    """One received stream's counters (RFC 3550 §6.4.1 meanings); `dropped` maps reason → count.

    `packets_received` counts duplicates too, so `lost` = `expected` − `packets_received` may be
    negative, as in RFC 3550. `jitter` is in timestamp units (`jitter_ms` in ms). The playout
    counters (`ticks` … `resyncs`) are kept by `JitterBuffer`: `late` = arrived after its frame
    was played out, `missing` = ticks that returned None while playing.
    """

    clock_rate: int = 8000
    ssrc: int | None = None
    packets_received: int = 0
    expected: int = 0
    lost: int = 0
    jitter: float = 0.0
    duplicates: int = 0
    reordered: int = 0
    late: int = 0
    ssrc_changes: int = 0
    restarts: int = 0
    ticks: int = 0
    played: int = 0
    missing: int = 0
    stretched: int = 0
    skipped: int = 0
    resyncs: int = 0
    dropped: Counter[str] = field(default_factory=Counter)

    @property
    def fraction_lost(self) -> float:
        """Cumulative fraction of expected packets lost, 0.0–1.0 (negative loss counts as 0)."""
        return max(self.lost, 0) / self.expected if self.expected else 0.0

    @property
    def jitter_ms(self) -> float:
        """The RFC 3550 interarrival jitter estimate in milliseconds."""
        return self.jitter * 1000.0 / self.clock_rate


class RtpSource:
    """RFC 3550 A.1 sequence validation and A.8 jitter for one stream (one SSRC at a time).

    `update(packet, arrival_ms)` returns the packet's extended sequence number (cycles × 65536 +
    sequence, counted from the epoch's first packet) or None when it is dropped (and counted).
    The first packet is accepted at once (A.1's probation is 1 packet: the trunk negotiated the
    stream). A packet of another SSRC is dropped unless two in-sequence packets of that SSRC
    arrive in a row: the stream then switches to it (`ssrc_changes`), like A.1's restart rule for
    a sequence jump beyond MAX_DROPOUT (`restarts`). Each (re)start increments `epoch`.
    `source` (any hashable, e.g. the sender's address) binds the stream to where its first packet
    came from: a packet from another source is dropped ("other source address") whatever its
    SSRC, so neither an SSRC change nor a restart can be triggered from elsewhere. None: not checked.
    Duplicates (same extended sequence number within MAX_MISORDER) are counted and dropped and
    do not update the jitter estimate; every other accepted packet does.
    """

    def __init__(self, clock_rate: int = 8000, stats: RtpStats | None = None) -> None:
        self.clock_rate = clock_rate
        self.stats = stats if stats is not None else RtpStats(clock_rate=clock_rate)
        self.epoch = 0
        self._max_seq = self._cycles = self._base = 0
        self._bad_seq = -1
        self._expected_prior = 0  # expected packets of earlier epochs
        self._candidate: tuple[int, int] | None = None  # (SSRC, next sequence) of a would-be new stream
        self._last: tuple[float, int] | None = None  # (arrival in timestamp units, timestamp) of the previous packet
        self._seen: set[int] = set()
        self._report_prior = (0, 0)  # (expected, received) at the last rtcp_report()
        self._source: object = None  # where this stream's packets come from (None: not checked)

    @property
    def extended_max(self) -> int:
        """Highest extended sequence number received so far in this epoch."""
        return self._cycles + self._max_seq

    def _start(self, packet: RtpPacket) -> None:
        if self.epoch:
            self._expected_prior = self.stats.expected
        self.epoch += 1
        self.stats.ssrc = packet.ssrc
        self._max_seq, self._cycles, self._base = packet.sequence, 0, packet.sequence
        self._bad_seq, self._candidate, self._last = -1, None, None
        self._seen.clear()

    def update(self, packet: RtpPacket, arrival_ms: float, source: object = None) -> int | None:
        """Account for one packet that arrived at `arrival_ms` from `source`; its extended sequence
        number or None (dropped and counted)."""
        s, seq = self.stats, packet.sequence
        if source is not None:
            if self._source is None:
                self._source = source
            elif source != self._source:
                s.dropped["other source address"] += 1
                return None
        if s.ssrc is None:
            self._start(packet)
        elif packet.ssrc != s.ssrc:
            if self._candidate != (packet.ssrc, seq):
                self._candidate = (packet.ssrc, (seq + 1) & _MASK16)
                s.dropped["other SSRC"] += 1
                return None
            s.ssrc_changes += 1
            self._start(packet)
        else:
            self._candidate = None
            udelta = (seq - self._max_seq) & _MASK16
            if udelta < MAX_DROPOUT:
                if seq < self._max_seq:
                    self._cycles += 0x10000
                self._max_seq = seq
            elif udelta <= 0x10000 - MAX_MISORDER:
                if seq != self._bad_seq:
                    self._bad_seq = (seq + 1) & _MASK16
                    s.dropped["sequence jump"] += 1
                    return None
                s.restarts += 1
                self._start(packet)
        ext = self.extended_max + seq_delta(seq, self._max_seq)
        s.packets_received += 1
        s.expected = self._expected_prior + self.extended_max - self._base + 1
        s.lost = s.expected - s.packets_received
        if ext in self._seen:
            s.duplicates += 1
            return None
        if ext < self.extended_max:
            s.reordered += 1
        self._seen.add(ext)
        if len(self._seen) > 4 * MAX_MISORDER:
            self._seen = {e for e in self._seen if e > self.extended_max - MAX_MISORDER}
        arrival = arrival_ms * self.clock_rate / 1000.0
        if self._last is not None:
            d = (arrival - self._last[0]) - ts_delta(packet.timestamp, self._last[1])
            s.jitter += (abs(d) - s.jitter) / 16.0
        self._last = (arrival, packet.timestamp)
        return ext

    def rtcp_report(self) -> tuple[int, int, int, int]:
        """RFC 3550 A.3 report-block numbers since the previous call: (fraction lost in 1/256,
        cumulative lost clamped to 24-bit signed, extended highest sequence number, jitter)."""
        s = self.stats
        expected_interval = s.expected - self._report_prior[0]
        lost_interval = expected_interval - (s.packets_received - self._report_prior[1])
        self._report_prior = (s.expected, s.packets_received)
        fraction = 0 if expected_interval <= 0 or lost_interval <= 0 else (lost_interval << 8) // expected_interval
        return min(fraction, 255), max(-0x800000, min(s.lost, 0x7FFFFF)), self.extended_max & _MASK32, int(s.jitter)


class RtpSender:
    """Numbers outgoing frames: one `tick(payload)` per frame interval (20 ms for 160 samples).

    The timestamp advances by `frame_samples` every tick, sent or not (RTP time is sampling
    time); the sequence number advances per packet sent; the marker bit is set on the first
    packet and on the first after an idle tick (a new talkspurt). SSRC, first sequence number
    and first timestamp are random unless given.
    """

    def __init__(self, payload_type: int = 0, frame_samples: int = 160, ssrc: int | None = None,
                 sequence: int | None = None, timestamp: int | None = None) -> None:
        self.payload_type, self.frame_samples = payload_type, frame_samples
        self.ssrc = secrets.randbits(32) if ssrc is None else ssrc
        self.sequence = secrets.randbits(16) if sequence is None else sequence
        self.timestamp = secrets.randbits(32) if timestamp is None else timestamp
        RtpPacket(payload_type, self.sequence, self.timestamp, self.ssrc)  # validates the numbers
        self.packets_sent = self.octets_sent = 0
        self._talkspurt = True

    def tick(self, payload: bytes | None) -> bytes | None:
        """The datagram for this tick's frame, or None (and a talkspurt ends) when `payload` is None."""
        if payload is None:
            self._talkspurt = True
            self.timestamp = (self.timestamp + self.frame_samples) & _MASK32
            return None
        packet = RtpPacket(self.payload_type, self.sequence, self.timestamp, self.ssrc, self._talkspurt, payload=payload)
        self._talkspurt = False
        self.sequence = (self.sequence + 1) & _MASK16
        self.timestamp = (self.timestamp + self.frame_samples) & _MASK32
        self.packets_sent += 1
        self.octets_sent += len(payload)
        return build_rtp(packet)
