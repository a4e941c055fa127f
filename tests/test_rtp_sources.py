"""RTP source-address rules (issue 13 item 6) on real loopback UDP sockets: the endpoint reads only
its negotiated peer, latching is an explicit opt-in that a second sender cannot steal afterwards,
and no SSRC change or restart can come from another address."""

from __future__ import annotations

import asyncio

import pytest

from audiofmt.bridge.rtp import RtpPacket, RtpSource, build_rtp
from audiofmt.bridge.udp import AudioFrame, RtpEndpoint, open_rtp_endpoint
from audiofmt.errors import AudioFormatError

LOCALHOST = "127.0.0.1"
PEER, ATTACKER = 0x11, 0x22  # the payload byte each sender fills its frames with


class _Socket(asyncio.DatagramProtocol):
    """A plain UDP socket that records what it receives."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.append(data)

    @property
    def addr(self) -> tuple[str, int]:
        assert self.transport is not None
        return self.transport.get_extra_info("sockname")[:2]


async def _socket() -> _Socket:
    _, sock = await asyncio.get_running_loop().create_datagram_endpoint(_Socket, local_addr=(LOCALHOST, 0))
    return sock


def _packet(fill: int, seq: int, ssrc: int) -> bytes:
    return build_rtp(RtpPacket(0, seq & 0xFFFF, 160 * seq, ssrc, payload=bytes([fill]) * 160))


async def _stream(sock: _Socket, to: tuple[str, int], fill: int, first_seq: int, n: int, ssrc: int) -> None:
    for k in range(n):
        assert sock.transport is not None
        sock.transport.sendto(_packet(fill, first_seq + k, ssrc), to)
        await asyncio.sleep(0.02)


def _run(coro):
    return asyncio.run(coro)


def _heard(frames: list[AudioFrame]) -> set[int]:
    return {int(f.samples[0]) for f in frames if not f.concealed}


def test_without_remote_addr_latching_must_be_asked_for():
    async def scenario():
        with pytest.raises(AudioFormatError, match="latch"):
            await open_rtp_endpoint(local_addr=(LOCALHOST, 0))
        with pytest.raises(AudioFormatError, match="accept"):
            await open_rtp_endpoint(local_addr=(LOCALHOST, 0), remote_addr=(LOCALHOST, 9), accept="anyone")
    _run(scenario())
    with pytest.raises(AudioFormatError, match="IP address"):
        RtpEndpoint(remote_addr=("not a host", 5))


@pytest.mark.parametrize("attacker_ssrc", ["same", "new"])
def test_only_the_negotiated_peer_is_read(attacker_ssrc):
    """The attacker sends valid, in-sequence packets (its own SSRC, or the peer's) throughout the
    call; the endpoint hears only the peer and counts the rest."""
    async def scenario():
        peer, attacker = await _socket(), await _socket()
        frames: list[AudioFrame] = []
        endpoint = await open_rtp_endpoint(local_addr=(LOCALHOST, 0), remote_addr=peer.addr, on_frame=frames.append, plc=False)
        ssrc = 1234 if attacker_ssrc == "same" else 999
        try:
            await asyncio.gather(_stream(attacker, endpoint.local_addr, ATTACKER, 5000, 20, ssrc),
                                 _stream(peer, endpoint.local_addr, PEER, 100, 20, 1234))
            endpoint.send(bytes([0x55]) * 160 * 3)
            await asyncio.sleep(0.3)
        finally:
            await endpoint.close()
        return endpoint, frames, peer, attacker

    endpoint, frames, peer, attacker = _run(scenario())
    assert _heard(frames) == {audio_value(PEER)}
    assert endpoint.stats.dropped["source address not the peer"] == 20
    assert endpoint.stats.ssrc == 1234 and endpoint.stats.ssrc_changes == 0
    assert len(peer.received) == 3 and attacker.received == []  # our audio goes to the peer only


def test_latch_takes_the_first_sender_and_keeps_it():
    async def scenario():
        peer, attacker = await _socket(), await _socket()
        frames: list[AudioFrame] = []
        endpoint = await open_rtp_endpoint(local_addr=(LOCALHOST, 0), on_frame=frames.append, plc=False, accept="latch")
        try:
            await _stream(peer, endpoint.local_addr, PEER, 100, 3, 1234)  # the peer speaks first
            await asyncio.gather(_stream(attacker, endpoint.local_addr, ATTACKER, 7000, 20, 999),  # new SSRC
                                 _stream(peer, endpoint.local_addr, PEER, 103, 20, 1234))
            endpoint.send(bytes([0x55]) * 160 * 2)
            await asyncio.sleep(0.3)
        finally:
            await endpoint.close()
        return endpoint, frames, peer, attacker

    endpoint, frames, peer, attacker = _run(scenario())
    assert endpoint.remote_addr == peer.addr
    assert _heard(frames) == {audio_value(PEER)}
    assert endpoint.stats.dropped["source address not the peer"] == 20 and endpoint.stats.ssrc_changes == 0
    assert len(peer.received) == 2 and attacker.received == []


def test_the_peer_itself_may_change_ssrc():
    async def scenario():
        peer = await _socket()
        frames: list[AudioFrame] = []
        endpoint = await open_rtp_endpoint(local_addr=(LOCALHOST, 0), remote_addr=peer.addr, on_frame=frames.append, plc=False)
        try:
            await _stream(peer, endpoint.local_addr, PEER, 100, 10, 1234)
            await _stream(peer, endpoint.local_addr, PEER, 40000, 10, 4321)  # e.g. a transfer on the trunk
            await asyncio.sleep(0.3)
        finally:
            await endpoint.close()
        return endpoint

    stats = _run(scenario()).stats
    assert stats.ssrc == 4321 and stats.ssrc_changes == 1


def test_peer_host_accepts_another_port_of_the_same_host_only():
    async def scenario():
        peer, other_port = await _socket(), await _socket()
        frames: list[AudioFrame] = []
        endpoint = await open_rtp_endpoint(local_addr=(LOCALHOST, 0), remote_addr=(LOCALHOST, peer.addr[1]),
                                           on_frame=frames.append, plc=False, accept="peer_host")
        try:
            await _stream(other_port, endpoint.local_addr, PEER, 100, 10, 1234)
            await asyncio.sleep(0.2)
        finally:
            await endpoint.close()
        return endpoint, frames

    endpoint, frames = _run(scenario())
    assert _heard(frames) == {audio_value(PEER)} and not endpoint.stats.dropped


def test_rtp_source_binds_the_stream_to_its_address():
    """Sans-IO: with `source` given, packets from another address never count, so two in-sequence
    packets of a new SSRC (or a sequence restart) from elsewhere cannot take the stream over."""
    source = RtpSource()
    assert source.update(RtpPacket(0, 10, 0, 1), 0.0, ("10.0.0.1", 4000)) == 10
    for seq in range(500, 505):  # a new SSRC, in sequence, from another address
        assert source.update(RtpPacket(0, seq, 0, 2), 1.0, ("10.0.0.9", 4000)) is None
    for seq in range(20000, 20005):  # the same SSRC, a far sequence jump, from another address
        assert source.update(RtpPacket(0, seq, 0, 1), 1.0, ("10.0.0.1", 4001)) is None
    assert (source.stats.ssrc, source.stats.ssrc_changes, source.stats.restarts) == (1, 0, 0)
    assert source.stats.dropped == {"other source address": 10}
    assert source.update(RtpPacket(0, 11, 160, 1), 20.0, ("10.0.0.1", 4000)) == 11
    for seq in (700, 701):  # the stream's own address may change SSRC
        source.update(RtpPacket(0, seq, 0, 3), 40.0, ("10.0.0.1", 4000))
    assert (source.stats.ssrc, source.stats.ssrc_changes) == (3, 1)


def audio_value(code: int) -> int:
    """The int16 sample a frame of μ-law `code` decodes to."""
    import audiofmt

    return int(audiofmt.decode(bytes([code]), "g711_ulaw")[0])


def test_source_hosts_are_remembered_within_a_bound_and_every_spelling_is_still_checked():
    """The canonical form of a source host is cached (parsing it per datagram cost ~4 µs), never
    more than a bounded number of them, and a spelling of the peer's host (IPv4-mapped IPv6)
    is still the peer while strangers stay strangers."""
    from audiofmt.bridge.udp import _HOSTS_KEPT

    class _Clock:
        def time(self) -> float:
            return 1.0

    endpoint = RtpEndpoint(remote_addr=(LOCALHOST, 5004))
    endpoint._loop = _Clock()  # type: ignore[assignment]
    for i in range(3 * _HOSTS_KEPT):
        endpoint.datagram_received(_packet(ATTACKER, i, 99), (f"10.0.{i // 256}.{i % 256}", 5004))
        assert len(endpoint._hosts) <= _HOSTS_KEPT
    assert endpoint.stats.dropped["source address not the peer"] == 3 * _HOSTS_KEPT
    endpoint.datagram_received(_packet(PEER, 1, 1234), (f"::ffff:{LOCALHOST}", 5004))
    endpoint.datagram_received(_packet(PEER, 2, 1234), (LOCALHOST, 5004))
    assert endpoint.stats.packets_received == 2 and endpoint.stats.dropped["source address not the peer"] == 3 * _HOSTS_KEPT
