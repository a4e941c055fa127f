"""The sans-IO RTP core, no network: packet parse/build, malformed packets and fuzzing, sequence
arithmetic (RFC 3550 A.1), interarrival jitter (A.8), the sender, and the jitter buffer driven
with synthetic arrival schedules."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiofmt.bridge.jitter import JitterBuffer
from audiofmt.bridge.rtp import (
    PAYLOAD_FORMATS,
    RtpError,
    RtpPacket,
    RtpSender,
    RtpSource,
    build_rtp,
    parse_rtp,
    seq_delta,
    ts_delta,
)
from audiofmt.errors import AudioFormatError
from audiofmt.formats import FORMATS

# -- packets -----------------------------------------------------------------------------------


def test_header_layout_is_rfc_3550():
    data = build_rtp(RtpPacket(8, 0x1234, 0xDEADBEEF, 0x01020304, marker=True, payload=b"ab"))
    assert data == bytes([0x80, 0x88, 0x12, 0x34, 0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3, 4]) + b"ab"
    assert parse_rtp(data) == RtpPacket(8, 0x1234, 0xDEADBEEF, 0x01020304, marker=True, payload=b"ab")


def test_round_trip_with_padding_extension_and_csrcs():
    packet = RtpPacket(0, 65535, 2**32 - 1, 2**32 - 1, marker=True, csrcs=tuple(range(1, 16)),
                       extension=(0xBEDE, b"\x10\xff\x00\x00"), payload=bytes(range(160)))
    for padding in (0, 1, 4, 255):
        data = build_rtp(packet, padding=padding)
        assert len(data) == 12 + 60 + 8 + 160 + padding
        assert bool(data[0] & 0x20) == bool(padding) and data[0] & 0x1F == 0x10 | 15
        assert parse_rtp(data) == packet
        assert parse_rtp(bytearray(data)) == parse_rtp(memoryview(data)) == packet
    assert parse_rtp(build_rtp(RtpPacket(0, 1, 2, 3, extension=(7, b"")))).extension == (7, b"")


def test_payload_formats_are_registry_names():
    assert PAYLOAD_FORMATS == {0: "g711_ulaw", 8: "g711_alaw"}
    assert all(name in FORMATS for name in PAYLOAD_FORMATS.values())


_HEADER = bytes([0x80, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3])


@pytest.mark.parametrize("data, reason", [
    (b"", "too short"),
    (_HEADER[:11], "too short"),
    (bytes([0x00]) + _HEADER[1:], "bad version"),
    (bytes([0x40]) + _HEADER[1:], "bad version"),
    (bytes([0xC0]) + _HEADER[1:], "bad version"),
    (bytes([0xA0]) + _HEADER[1:] + b"abc\x00", "bad padding length"),  # count 0
    (bytes([0xA0]) + _HEADER[1:] + b"abc\x05", "bad padding length"),  # 5 > 4 bytes after header
    (bytes([0x8F]) + _HEADER[1:] + bytes(56), "CSRC list beyond packet"),  # 15 CSRCs need 60 bytes
    (bytes([0x81]) + _HEADER[1:], "CSRC list beyond packet"),
    (bytes([0x90]) + _HEADER[1:] + b"\xbe\xde", "extension beyond packet"),  # header cut
    (bytes([0x90]) + _HEADER[1:] + b"\xbe\xde\x00\x02" + bytes(7), "extension beyond packet"),
    (bytes([0xB0]) + _HEADER[1:] + b"\xbe\xde\x00\x01" + bytes(4) + b"\x02", "bad padding length"),
])
def test_malformed_packets_raise_rtp_error_with_reason(data, reason):
    with pytest.raises(RtpError) as info:
        parse_rtp(data)
    assert info.value.reason == reason
    assert str(info.value).startswith(reason + ": ")


def test_padding_may_take_the_whole_payload():
    assert parse_rtp(bytes([0xA0]) + _HEADER[1:] + b"\x00\x00\x03").payload == b""


@pytest.mark.parametrize("kwargs, reason", [
    ({"payload_type": 128}, "bad payload_type"), ({"sequence": 65536}, "bad sequence"),
    ({"timestamp": -1}, "bad timestamp"), ({"ssrc": 2**32}, "bad ssrc"), ({"sequence": 1.0}, "bad sequence"),
    ({"csrcs": tuple(range(16))}, "bad csrcs"), ({"extension": (1, b"abc")}, "bad extension"),
    ({"extension": (65536, b"")}, "bad extension"), ({"extension": (1, 4)}, "bad extension"),
    ({"extension": (1,)}, "bad extension"), ({"payload": 160}, "bad payload"),
])
def test_out_of_range_fields_raise(kwargs, reason):
    with pytest.raises(RtpError, match=reason):
        RtpPacket(**{"payload_type": 0, "sequence": 0, "timestamp": 0, "ssrc": 0, **kwargs})


def test_build_rejects_bad_padding_and_parse_non_bytes():
    with pytest.raises(RtpError, match="bad padding length"):
        build_rtp(RtpPacket(0, 0, 0, 0), padding=256)
    with pytest.raises(RtpError, match="not bytes"):
        parse_rtp("not bytes")  # type: ignore[arg-type]


_packets = st.builds(
    RtpPacket, st.integers(0, 127), st.integers(0, 65535), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
    st.booleans(), st.lists(st.integers(0, 2**32 - 1), max_size=15).map(tuple),
    st.none() | st.tuples(st.integers(0, 65535), st.binary(max_size=12).map(lambda b: b[: len(b) // 4 * 4])),
    st.binary(max_size=200))


@settings(max_examples=500, deadline=None)
@given(_packets, st.integers(0, 255))
def test_build_then_parse_is_identity(packet, padding):
    assert parse_rtp(build_rtp(packet, padding=padding)) == packet


_datagrams = st.one_of(st.binary(max_size=64), st.tuples(st.integers(0x80, 0xBF), st.binary(max_size=96)).map(
    lambda t: bytes([t[0]]) + t[1]))  # a quarter of plain random bytes has version 2; these all do


def _parse_or_rtp_error(data: bytes) -> None:
    try:
        packet = parse_rtp(data)
    except RtpError:
        return
    assert parse_rtp(build_rtp(packet)) == packet


@settings(max_examples=1_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_datagrams, min_size=10, max_size=10))
def test_fuzz_random_bytes_raise_only_rtp_error(datagrams):
    """1,000 examples × 10 byte strings = 10,000 random datagrams."""
    for data in datagrams:
        _parse_or_rtp_error(data)


def test_fuzz_mutated_valid_packets_raise_only_rtp_error():
    """100,000 valid packets with random bit flips and truncations (seeded)."""
    rng = random.Random(3550)
    valid = build_rtp(RtpPacket(0, 1, 2, 3, csrcs=(4, 5), extension=(6, bytes(8)), payload=bytes(20)), padding=3)
    for _ in range(100_000):
        data = bytearray(valid[: rng.randrange(len(valid) + 1)])
        for _ in range(rng.randrange(4)):
            if data:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        _parse_or_rtp_error(bytes(data))


# -- sequence arithmetic and statistics ---------------------------------------------------------


def test_seq_and_ts_delta_wrap():
    assert seq_delta(0, 65535) == 1 and seq_delta(65535, 0) == -1 and seq_delta(5, 5) == 0
    assert seq_delta(32767, 0) == 32767 and seq_delta(32768, 0) == -32768
    assert ts_delta(0, 2**32 - 1) == 1 and ts_delta(2**32 - 160, 0) == -160 and ts_delta(2**31, 0) == -(2**31)


def _feed(source: RtpSource, seqs, ssrc=1, ts_step=160):
    return [source.update(RtpPacket(0, s & 0xFFFF, (s * ts_step) & 0xFFFFFFFF, ssrc), 20.0 * i) for i, s in enumerate(seqs)]


def test_extended_sequence_across_wrap_and_reordering():
    source = RtpSource()
    assert _feed(source, [65534, 65535, 0, 65535 + 3, 1]) == [65534, 65535, 65536, 65538, 65537]
    s = source.stats
    assert (s.packets_received, s.expected, s.lost, s.reordered, s.duplicates) == (5, 5, 0, 1, 0)
    assert source.rtcp_report()[2] == 65538


def test_loss_duplicates_and_negative_cumulative_loss():
    source = RtpSource()
    _feed(source, [0, 1, 3])
    assert (source.stats.expected, source.stats.lost, source.stats.fraction_lost) == (4, 1, 0.25)
    assert source.rtcp_report()[:2] == (64, 1)  # 1/4 lost = 64/256
    _feed(source, [4, 4, 4, 5])  # RFC 3550: duplicates count as received
    s = source.stats
    assert (s.expected, s.packets_received, s.lost, s.duplicates, s.fraction_lost) == (6, 7, -1, 2, 0.0)
    assert source.rtcp_report()[:2] == (0, -1)


def test_sequence_jump_restarts_after_two_sequential_packets():
    source = RtpSource()
    assert _feed(source, [10, 11, 5000, 5001, 5002]) == [10, 11, None, 5001, 5002]
    s = source.stats
    assert (s.restarts, source.epoch, s.dropped["sequence jump"], s.expected, s.lost) == (1, 2, 1, 4, 0)


def test_ssrc_change_needs_two_sequential_packets():
    source = RtpSource()
    _feed(source, [1, 2, 3])
    assert source.update(RtpPacket(0, 900, 0, ssrc=2), 80.0) is None  # a stray packet of another SSRC
    assert source.update(RtpPacket(0, 4, 480, ssrc=1), 90.0) == 4
    assert source.update(RtpPacket(0, 901, 160, ssrc=2), 100.0) is None  # not in sequence with a candidate
    assert source.update(RtpPacket(0, 902, 320, ssrc=2), 120.0) == 902
    s = source.stats
    assert (s.ssrc, s.ssrc_changes, s.dropped["other SSRC"], source.epoch) == (2, 1, 2, 2)


def _jitter_after(arrivals_ms, ts0=0, clock_rate=8000):
    source = RtpSource(clock_rate)
    for k, arrival in enumerate(arrivals_ms):
        source.update(RtpPacket(0, k, (ts0 + 160 * k) & 0xFFFFFFFF, 1), arrival)
    return source.stats


def test_interarrival_jitter_matches_rfc_3550_on_a_known_schedule():
    # every odd packet 10 ms later: |D| = 10 ms = 80 timestamp units each time, J_n = 80 (1 - (15/16)^n)
    arrivals = [20.0 * k + (10.0 if k % 2 else 0.0) for k in range(50)]
    stats = _jitter_after(arrivals)
    assert stats.jitter == pytest.approx(80 * (1 - (15 / 16) ** 49), rel=1e-12)
    assert stats.jitter_ms == pytest.approx(10 * (1 - (15 / 16) ** 49), rel=1e-12)  # 80 units at 8 kHz = 10 ms
    assert _jitter_after(arrivals, ts0=2**32 - 160 * 25).jitter == pytest.approx(stats.jitter, rel=1e-12)
    assert _jitter_after([20.0 * k + 37.0 for k in range(50)]).jitter == 0.0  # constant delay
    d = [0.0, 25.0, 40.0, 55.0]  # D = 5, -5, -5 ms = 40 timestamp units
    expected = 0.0
    for _ in range(3):
        expected += (40 - expected) / 16
    assert _jitter_after(d).jitter == pytest.approx(expected, rel=1e-12)


def test_sender_numbers_frames_and_marks_talkspurts():
    sender = RtpSender(payload_type=8, ssrc=42, sequence=65535, timestamp=2**32 - 160)
    packets = [sender.tick(b"\xd5" * 160), sender.tick(b"\xd5" * 160), sender.tick(None), sender.tick(b"\xd5" * 160)]
    assert packets[2] is None
    parsed = [parse_rtp(p) for p in packets if p is not None]
    assert [(p.sequence, p.timestamp, p.marker, p.ssrc, p.payload_type) for p in parsed] == [
        (65535, 2**32 - 160, True, 42, 8), (0, 0, False, 42, 8), (1, 320, True, 42, 8)]
    assert (sender.packets_sent, sender.octets_sent) == (3, 480)


# -- jitter buffer ------------------------------------------------------------------------------


def _pkt(k: int, seq0: int = 0, ts0: int = 0, ssrc: int = 1, seq: int | None = None) -> RtpPacket:
    """Frame k of a stream; its payload carries k so the output can be checked."""
    sequence = (seq0 + k if seq is None else seq) & 0xFFFF
    return RtpPacket(0, sequence, (ts0 + 160 * k) & 0xFFFFFFFF, ssrc, payload=k.to_bytes(4, "big") * 40)


def _play(schedule, n_ticks: int, phase_ms: float = 10.0, jb: JitterBuffer | None = None, **kwargs):
    """Push (arrival_ms, packet) pairs and pop at phase_ms + 20 ms × i; the frame ids popped (None: missing)."""
    jb = jb if jb is not None else JitterBuffer(**kwargs)
    schedule = sorted(schedule, key=lambda item: item[0])
    out, j = [], 0
    for tick in range(n_ticks):
        now = phase_ms + 20.0 * tick
        while j < len(schedule) and schedule[j][0] <= now:
            jb.push(schedule[j][1], schedule[j][0])
            j += 1
        payload = jb.pop()
        out.append(None if payload is None else int.from_bytes(payload[:4], "big"))
    return jb, out


def test_in_order_stream_plays_every_frame_at_its_tick():
    jb, out = _play([(20.0 * k, _pkt(k)) for k in range(100)], 120, adaptive=False)
    assert out[0] is None and out[1:101] == list(range(100)) and out[101:] == [None] * 19  # starts with 40 ms buffered
    s = jb.stats
    assert (s.ticks, s.played, s.missing, s.late, s.lost, s.jitter) == (120, 100, 19, 0, 0, 0.0)


def test_reordered_duplicate_late_and_lost_packets():
    schedule = [(20.0 * k, _pkt(k)) for k in range(100) if k not in (10, 30, 40, 41)]
    schedule += [(225.0, _pkt(10)),  # after frame 11, before its tick at 230 ms: reordered
                 (405.0, _pkt(20)), (500.0, _pkt(5)),  # duplicates: one waiting, one played
                 (650.0, _pkt(30))]  # its tick was at 630 ms: late
    jb, out = _play(schedule, 110, adaptive=False)
    expected = [None] + [k if k not in (30, 40, 41) else None for k in range(100)] + [None] * 9
    assert out == expected
    s = jb.stats
    assert (s.reordered, s.duplicates, s.late, s.lost, s.missing - 9, s.played) == (2, 2, 1, 0, 3, 97)


def test_sequence_and_timestamp_wrap_play_continuously():
    schedule = [(20.0 * k, _pkt(k, seq0=65500, ts0=2**32 - 160 * 50)) for k in range(200)]
    jb, out = _play(schedule, 202, adaptive=False)
    assert out[1:201] == list(range(200))
    assert (jb.stats.lost, jb.stats.reordered, jb.stats.late, jb.source.extended_max) == (0, 0, 0, 65500 + 199)


def test_silence_suppression_keeps_time():
    # frames 50..74 are not sent (timestamps jump, sequence numbers do not): 25 missing ticks, no loss
    schedule = [(20.0 * k, _pkt(k, seq=k if k < 50 else k - 25)) for k in range(100) if not 50 <= k < 75]
    jb, out = _play(schedule, 102, adaptive=False)
    assert out[1:101] == [k if not 50 <= k < 75 else None for k in range(100)]
    assert (jb.stats.lost, jb.stats.missing) == (0, 26)


def test_wrong_frame_size_is_dropped_and_counted():
    jb = JitterBuffer()
    jb.push(RtpPacket(0, 0, 0, 1, payload=bytes(80)), 0.0)  # 10 ms ptime
    jb.push(RtpPacket(0, 1, 160, 1, payload=bytes(240)), 20.0)  # 30 ms ptime
    assert jb.stats.dropped == {"payload not 160 bytes (20 ms)": 2} and jb.stats.packets_received == 0
    assert [jb.pop() for _ in range(5)] == [None] * 5 and not jb.playing


def test_ssrc_change_continues_after_the_newest_frame():
    schedule = [(20.0 * k, _pkt(k)) for k in range(50)]
    schedule += [(20.0 * k, _pkt(k, seq0=30000, ts0=123456, ssrc=2)) for k in range(50, 100)]
    jb, out = _play(schedule, 102, adaptive=False)
    # the new SSRC's first packet (frame 50) proves nothing yet and is dropped; frame 51 is placed
    # the target delay (2 frames) ahead of the playout point, which is where 51 belongs
    assert out[1:101] == list(range(50)) + [None] + list(range(51, 100))
    assert (jb.stats.ssrc_changes, jb.stats.dropped["other SSRC"], jb.stats.late) == (1, 1, 0)


def test_timestamp_jump_re_anchors_after_three_packets():
    schedule = [(20.0 * k, _pkt(k, ts0=0 if k < 50 else 10**9)) for k in range(100)]
    jb, out = _play(schedule, 104, adaptive=False)
    assert jb.stats.resyncs == 1 and jb.stats.dropped["timestamp far from playout"] == 2
    assert out[1:51] == list(range(50)) and out[52:102] == [None] + list(range(52, 100)) + [None]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 65535), st.lists(st.floats(0, 39), min_size=80, max_size=80),
       st.sets(st.integers(0, 79), max_size=10), st.sets(st.integers(0, 79), max_size=5))
def test_jitter_within_the_target_loses_nothing_and_keeps_time(ts0, seq0, delays, lost, duplicated):
    """Delays under 40 ms, target 60 ms (3 frames), any wrap point, losses, duplicates: each tick
    pops one frame; every frame that arrives plays once, in order, at a fixed offset from its
    timestamp (no drift); only frames before the first one buffered (0 or 1) can be late."""
    schedule = [(20.0 * k + delays[k], _pkt(k, seq0, ts0)) for k in range(80) if k not in lost]
    schedule += [(20.0 * k + delays[k] + 5.0, _pkt(k, seq0, ts0)) for k in duplicated if k not in lost]
    jb, out = _play(schedule, 100, phase_ms=0.5, target_ms=60, adaptive=False)
    assert len(out) == jb.stats.ticks == 100
    played = [k for k in out if k is not None]
    assert played == sorted(set(played)) and jb.stats.duplicates == len(duplicated - lost)
    not_played = set(range(80)) - lost - set(played)
    assert not_played <= {0, 1} and len(not_played) == jb.stats.late
    first = out.index(played[0])
    assert all(out[first + k - played[0]] == k for k in played)


def test_adaptation_follows_jitter_within_bounds():
    rng = random.Random(7)
    noisy = [(20.0 * k + rng.uniform(0, 120), _pkt(k)) for k in range(1000)]
    jb, out = _play(noisy, 1010)
    s = jb.stats
    assert len(out) == s.ticks == 1010 and s.stretched > 0 and 4 <= jb.target_frames <= 10
    unplayed_late = set(range(500, 1000)) - set(out)  # nothing is lost: every frame arrived
    assert len(unplayed_late) <= 5 and s.late < 100  # late while the delay grows, 1 frame per second
    quiet = [(20.0 * k, _pkt(k)) for k in range(1000)]
    jb, _ = _play(quiet, 1010, target_ms=100)
    assert jb.target_frames == jb.min_frames == 1  # 5 quiet seconds per frame of decrease
    assert jb.stats.skipped >= 3 and jb.stats.played >= 1000 - jb.stats.skipped
    wild = [(20.0 * k + rng.uniform(0, 2000), _pkt(k)) for k in range(500)]
    jb, out = _play(wild, 600, min_ms=60, target_ms=60, max_ms=100)
    assert jb.target_frames == 5 and jb.stats.stretched <= 12  # clamped to max_ms; one change per second
    fixed, _ = _play(noisy, 1010, adaptive=False)
    assert fixed.target_frames == 2 and fixed.stats.stretched == fixed.stats.skipped == 0


def test_bad_configuration_raises():
    for kwargs in ({"min_ms": 50, "target_ms": 40}, {"target_ms": 300}, {"frame_samples": 0}, {"clock_rate": 8000.0}):
        with pytest.raises(AudioFormatError):
            JitterBuffer(**kwargs)


def test_pop_before_any_packet_and_memory_bound():
    jb = JitterBuffer()
    assert jb.pop() is None and not jb.playing
    for k in range(1000):  # pushed, never popped
        jb.push(_pkt(k), 20.0 * k)
    held = jb.buffered
    assert held <= jb.max_frames + 50 and jb.stats.dropped["buffer overflow before playout"] == 1000 - held
    assert struct.unpack("!I", jb.pop()[:4])[0] == 1000 - held  # the oldest frames went
