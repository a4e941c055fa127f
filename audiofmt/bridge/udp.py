"""An asyncio UDP shell around the sans-IO RTP core: receive, play out and send G.711 in 20 ms frames.

`await open_rtp_endpoint(...)` binds a UDP socket and starts one pacing task that ticks every
frame interval (20 ms) against `loop.time()`: tick n runs at start + n × 20 ms (no drift; after a
stall the missed ticks run at once, yielding to the loop between them). Each tick:

- receive: pops one frame from the `JitterBuffer`, decodes it to int16 with `audiofmt.decode`
  (through `repair(samples)` if given) or, when it is missing, calls `conceal(n_samples)`
  (default: silence), and delivers an `AudioFrame` to `on_frame` (or the `frames` queue). Frames
  are delivered from the first played frame on, then on every tick until `close()`;
- send: takes one frame (160 bytes of G.711) from what `send()` queued and sends it as RTP
  (`RtpSender`: sequence, timestamp, SSRC, marker on a talkspurt's first packet).

A packet loss concealer with `.good(frame) -> frame` and `.lost() -> frame` plugs in as
`repair=concealer.good, conceal=lambda n_samples: concealer.lost()`.

Datagrams are filtered on their source address, parsed, filtered on the payload type and pushed
with their arrival time; anything bad is dropped and counted in `stats.dropped`, never raised.

Source addresses (`accept`), so that a stranger can neither hear the call nor replace its audio:
- "peer" (the default): only datagrams from `remote_addr` (the address negotiated in SDP), host
  and port, are read; `remote_addr` is required.
- "peer_host": any port of `remote_addr`'s host (a NAT that rewrites the port); still required.
- "latch": an explicit opt-in to symmetric RTP: the source of the first valid RTP packet (of the
  payload type; from `remote_addr`'s host when one is given) becomes the peer, and from then on
  only that address is read and sent to. Whoever sends first wins the latch, so use it only where
  the address cannot be known in advance and the port is not reachable by strangers.
The stream is bound to its source (`RtpSource`): an SSRC change or a sequence restart is taken
only from the current stream's own address, never from another one. RTCP is neither sent nor read.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..codecs import decode, encode
from ..errors import AudioFormatError
from ..formats import get_format
from .jitter import JitterBuffer
from .rtp import PAYLOAD_FORMATS, RtpError, RtpSender, RtpStats, parse_rtp

__all__ = ["AudioFrame", "RtpEndpoint", "open_rtp_endpoint"]

log = logging.getLogger(__name__)
Address = tuple[str, int]
ACCEPT_MODES = ("peer", "peer_host", "latch")
_HOSTS_KEPT = 256  # canonical forms of source hosts remembered per endpoint


def _host(host: object) -> str:
    """An IP literal in canonical text (IPv4-mapped IPv6 as IPv4); AudioFormatError otherwise."""
    try:
        ip = ipaddress.ip_address(str(host).split("%")[0])
    except ValueError:
        raise AudioFormatError(f"remote_addr host must be an IP address (open_rtp_endpoint resolves names); "
                               f"got {host!r}") from None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


@dataclass(frozen=True)
class AudioFrame:
    """One tick's audio: `index` counts ticks since the first played frame (20 ms each)."""

    index: int
    samples: np.ndarray  # int16, frame_samples long (160 at 8 kHz)
    concealed: bool  # True: the frame was missing and `conceal` made it


def _silence(n_samples: int) -> np.ndarray:
    return np.zeros(n_samples, dtype=np.int16)


class RtpEndpoint(asyncio.DatagramProtocol):
    """One RTP stream each way over one UDP socket (see the module doc); use `open_rtp_endpoint`."""

    def __init__(self, payload_type: int = 0, remote_addr: Address | None = None,
                 on_frame: Callable[[AudioFrame], Any] | None = None,
                 conceal: Callable[[int], np.ndarray] | None = None,
                 repair: Callable[[np.ndarray], np.ndarray] | None = None,
                 jitter: JitterBuffer | None = None, ssrc: int | None = None,
                 sequence: int | None = None, timestamp: int | None = None, max_queued_frames: int = 500,
                 accept: str = "peer") -> None:
        if payload_type not in PAYLOAD_FORMATS:
            raise AudioFormatError(f"payload_type must be one of {sorted(PAYLOAD_FORMATS)} (G.711); got {payload_type!r}")
        if accept not in ACCEPT_MODES:
            raise AudioFormatError(f"accept must be one of {ACCEPT_MODES}; got {accept!r}")
        if remote_addr is None and accept != "latch":
            raise AudioFormatError(f"accept={accept!r} needs remote_addr (the peer's negotiated address); "
                                   "pass accept='latch' to opt in to taking the first sender as the peer")
        self.accept = accept
        self._peer: tuple[str, int] | None = None  # (canonical host, port) datagrams are read from
        if remote_addr is not None:
            self._peer = (_host(remote_addr[0]), int(remote_addr[1]))
        self.payload_type = payload_type
        self.format = get_format(PAYLOAD_FORMATS[payload_type])
        self.jitter = jitter if jitter is not None else JitterBuffer()
        self.stats: RtpStats = self.jitter.stats
        self.frame_samples = self.jitter.frame_samples
        self.frame_bytes = self.format.n_bytes(self.frame_samples)
        self.frame_s = self.frame_samples / self.format.rate_hz  # 0.020 s
        self.sender = RtpSender(payload_type, self.frame_samples, ssrc, sequence, timestamp)
        self.remote_addr = remote_addr
        self.on_frame, self.repair = on_frame, repair
        self.conceal = conceal if conceal is not None else _silence
        self.frames: asyncio.Queue[AudioFrame] | None = None if on_frame else asyncio.Queue(max_queued_frames)
        self.send_dropped: Counter[str] = Counter()  # outgoing frames not sent, by reason
        self.callback_errors = 0
        self.ticks = 0  # ticks run since the pacing task started
        self.started_at: float | None = None  # loop.time() of tick 0, s
        self._silence_code = encode(np.zeros(1, dtype=np.int16), self.format)
        self._out = bytearray()
        self._delivered = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._latched = False
        self._hosts: dict[str, str] = {}

    # -- asyncio protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._loop = asyncio.get_running_loop()

    def datagram_received(self, data: bytes, addr: Address) -> None:
        hosts = self._hosts  # the socket's spelling of a host -> canonical: parsing it costs ~4 µs
        host = hosts.get(addr[0])
        if host is None:
            if len(hosts) >= _HOSTS_KEPT:  # a flood from many sources: no more memory than this
                hosts.clear()
            host = hosts[addr[0]] = _host(addr[0])
        source = (host, int(addr[1]))
        latching = self.accept == "latch" and not self._latched
        if not latching and (self._peer is None or source[0] != self._peer[0]
                             or (self.accept != "peer_host" and source[1] != self._peer[1])):
            self.stats.dropped["source address not the peer"] += 1
            return
        if latching and self._peer is not None and source[0] != self._peer[0]:
            self.stats.dropped["source address not the peer"] += 1
            return
        try:
            packet = parse_rtp(data)
        except RtpError as exc:
            self.stats.dropped[f"bad RTP: {exc.reason}"] += 1
            return
        if packet.payload_type != self.payload_type:
            self.stats.dropped[f"payload type {packet.payload_type}"] += 1  # at most 128 keys
            return
        if latching:  # the first valid packet picks the peer, for good
            self._latched = True
            self._peer = source
            self.remote_addr = addr[:2]
        assert self._loop is not None
        self.jitter.push(packet, self._loop.time() * 1000.0, source[0] if self.accept == "peer_host" else source)

    def error_received(self, exc: Exception) -> None:
        self.send_dropped[f"socket error: {type(exc).__name__}"] += 1

    # -- public ----------------------------------------------------------------------------
    @property
    def local_addr(self) -> Address:
        assert self._transport is not None
        host, port = self._transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    @property
    def queued_ms(self) -> float:
        """Outgoing audio waiting to be sent, in ms."""
        return len(self._out) / self.frame_bytes * self.frame_s * 1000

    def send(self, audio: bytes | bytearray | memoryview | np.ndarray) -> None:
        """Queue audio to send: G.711 bytes of this payload type, or samples (int16 or float) at
        8 kHz. Whole 20 ms frames go out one per tick; a partial frame waits for more or `flush()`."""
        self._out += encode(audio, self.format) if isinstance(audio, np.ndarray) else bytes(audio)
        if self._out:
            self._idle.clear()

    def flush(self) -> None:
        """Pad a queued partial frame with silence so that it is sent too."""
        if len(self._out) % self.frame_bytes:
            self._out += self._silence_code * (self.frame_bytes - len(self._out) % self.frame_bytes)

    def clear(self) -> None:
        """Drop all queued outgoing audio (barge-in)."""
        self._out.clear()
        self._idle.set()

    async def drain(self) -> None:
        """Wait until every whole queued frame has been sent."""
        await self._idle.wait()

    def start(self) -> None:
        """Start the pacing task (`open_rtp_endpoint` does)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Stop the pacing task and close the socket."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._transport is not None:
            self._transport.close()

    async def __aenter__(self) -> RtpEndpoint:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- pacing ----------------------------------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        self.started_at = start = loop.time()
        n = 0
        while True:
            self._tick()
            n += 1
            delay = start + n * self.frame_s - loop.time()
            await asyncio.sleep(delay if delay > 0 else 0)

    def _tick(self) -> None:
        self.ticks += 1
        payload = self.jitter.pop()
        if self.jitter.playing:
            try:
                self._deliver(payload)
            except Exception:  # a user callback must not stop the clock
                self.callback_errors += 1
                log.exception("RTP endpoint: on_frame, repair or conceal raised")
        frame = None
        if len(self._out) >= self.frame_bytes:
            frame = bytes(self._out[: self.frame_bytes])
            del self._out[: self.frame_bytes]
        if len(self._out) < self.frame_bytes:
            self._idle.set()
        datagram = self.sender.tick(frame)
        if datagram is None:
            return
        if self.remote_addr is None or self._transport is None or self._transport.is_closing():
            self.send_dropped["no remote address"] += 1
            return
        self._transport.sendto(datagram, self.remote_addr)

    def _deliver(self, payload: bytes | None) -> None:
        if payload is None:
            samples, concealed = np.asarray(self.conceal(self.frame_samples), dtype=np.int16), True
        else:
            samples, concealed = decode(payload, self.format), False
            if self.repair is not None:
                samples = np.asarray(self.repair(samples), dtype=np.int16)
        frame = AudioFrame(self._delivered, samples, concealed)
        self._delivered += 1
        if self.on_frame is not None:
            self.on_frame(frame)
            return
        assert self.frames is not None
        if self.frames.full():
            self.frames.get_nowait()
            self.stats.dropped["frame queue full: oldest frame dropped"] += 1
        self.frames.put_nowait(frame)


async def open_rtp_endpoint(local_addr: Address = ("127.0.0.1", 0), remote_addr: Address | None = None,
                            payload_type: int = 0, on_frame: Callable[[AudioFrame], Any] | None = None,
                            conceal: Callable[[int], np.ndarray] | None = None, *, plc: bool = True,
                            **options: Any) -> RtpEndpoint:
    """Bind `local_addr` (port 0: any free port, see `.local_addr`) and start the 20 ms clock.

    Missing frames are concealed by ITU-T G.711 Appendix I (`Concealer`; received audio then
    comes out 30 samples = 3.75 ms later) unless `plc=False` or a `conceal` callable is given.
    `options` go to `RtpEndpoint` (repair, jitter, ssrc, sequence, timestamp, max_queued_frames,
    accept). Only `remote_addr` may send to the endpoint unless `accept` says otherwise (see the
    module doc: "peer_host", or "latch" to opt in to taking the first sender as the peer); a host
    name in `remote_addr` is resolved here, once.
    """
    if plc and conceal is None and "repair" not in options:
        from .plc import Concealer

        concealer = Concealer()
        options["repair"] = concealer.good
        conceal = lambda n_samples: concealer.lost()  # noqa: E731
    loop = asyncio.get_running_loop()
    if remote_addr is not None:
        try:
            _host(remote_addr[0])
        except AudioFormatError:
            infos = await loop.getaddrinfo(remote_addr[0], remote_addr[1], type=socket.SOCK_DGRAM)
            remote_addr = (str(infos[0][4][0]), int(infos[0][4][1]))
    _, endpoint = await loop.create_datagram_endpoint(
        lambda: RtpEndpoint(payload_type, remote_addr, on_frame, conceal, **options), local_addr=local_addr)
    endpoint.start()
    return endpoint
