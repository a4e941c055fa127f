"""RTP abuse against audiofmt.bridge.udp.open_rtp_endpoint over loopback UDP.

    python bench/hostile/rtp_attack.py

A child process runs two endpoints (V, the target, and W, a bystander; accept="peer"), each fed
by its own honest peer sending one 20 ms μ-law frame every 20 ms, and reports once a second:
both endpoints' ticks (gaps between on_frame calls), concealed frames, V's jitter-buffer state
and drop counters. The parent attacks V in phases of 2 s:
  stranger-flood   valid-looking RTP from a non-peer port, as fast as possible
  garbage-flood    random bytes from the peer's own address (SO_REUSEPORT on the peer's port)
  ssrc-flips       from the peer's address: each packet a new SSRC, then pairs of sequential ones
  seq-ts-jumps     from the peer's address: sequence and timestamp jumps (wrap, +-2^31, +3000)
  header-abuse     from the peer's address: 15 CSRCs + max extension, bad padding, 65 KB datagrams
  future-far       from the peer's address: timestamps far ahead, three in a row (re-anchor) repeatedly
"""
from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import random
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from audiofmt.bridge.rtp import RtpPacket, build_rtp


def _peer_socket(port: int = 0) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", port))
    return s


def child(conn: mp.connection.Connection, seconds: float) -> None:
    from audiofmt.bridge.udp import open_rtp_endpoint

    async def main() -> None:
        peers = [_peer_socket(), _peer_socket()]
        names = ["V", "W"]
        log: dict[str, list[tuple[float, bool, int]]] = {n: [] for n in names}
        eps = []
        for name, peer in zip(names, peers):
            ep = await open_rtp_endpoint(remote_addr=peer.getsockname(),
                                         on_frame=lambda f, n=name: log[n].append((time.perf_counter(), f.concealed, f.index)))
            eps.append(ep)
        conn.send({"V": eps[0].local_addr, "W": eps[1].local_addr, "V_peer": peers[0].getsockname()})
        loop = asyncio.get_running_loop()

        async def honest(peer: socket.socket, ep_addr: tuple[str, int], ssrc: int) -> None:
            t0 = loop.time()
            for i in range(int(seconds * 50)):
                await asyncio.sleep(max(0.0, t0 + i * 0.02 - loop.time()))
                peer.sendto(build_rtp(RtpPacket(0, (1000 + i) & 0xFFFF, (5000 + 160 * i) & 0xFFFFFFFF, ssrc,
                                                payload=bytes([i & 0xFF]) * 160)), ep_addr)

        tasks = [loop.create_task(honest(p, ep.local_addr, 0x1234 + k)) for k, (p, ep) in enumerate(zip(peers, eps))]
        t_start = time.perf_counter()
        reported = 0
        while not all(t.done() for t in tasks):
            await asyncio.sleep(1.0)
            v = eps[0]
            report = {"t": round(time.perf_counter() - t_start, 1), "cpu": round(time.process_time(), 2)}
            for name in names:
                entries = log[name][reported if name == "V" else 0:]
                gaps = [1000 * (b[0] - a[0]) for a, b in zip(log[name][-51:], log[name][-50:])]
                report[name] = {"frames": len(log[name]), "concealed_last_s": sum(c for _, c, _ in log[name][-50:]),
                                "max_gap_ms": round(max(gaps), 1) if gaps else None}
                del entries
            report["V_state"] = {"buffered": v.jitter.buffered, "seen": len(v.jitter.source._seen),
                                 "drop_keys": len(v.stats.dropped), "dropped": sum(v.stats.dropped.values()),
                                 "ssrc_changes": v.stats.ssrc_changes, "restarts": v.stats.restarts, "resyncs": v.stats.resyncs,
                                 "late": v.stats.late, "dup": v.stats.duplicates}
            report["W_dropped"] = sum(eps[1].stats.dropped.values())
            conn.send(report)
        conn.send({"final_V_dropped": dict(eps[0].stats.dropped.most_common(12))})
        conn.send(None)

    asyncio.run(main())


def _pkt(seq: int, ts: int, ssrc: int, **kw: object) -> bytes:
    return build_rtp(RtpPacket(0, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc & 0xFFFFFFFF, payload=kw.pop("payload", b"\x55" * 160), **kw))  # type: ignore[arg-type]


def attack(name: str, target: tuple[str, int], peer: tuple[str, int], seconds: float) -> int:
    rng = random.Random(7)
    s = _peer_socket(0 if name == "stranger-flood" else peer[1])
    sent = 0
    t_end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < t_end:
        i += 1
        if name == "stranger-flood":
            data = _pkt(1000 + i, 5000 + 160 * i, 0x1234)
        elif name == "garbage-flood":
            data = bytes([0x80]) + rng.randbytes(rng.randrange(0, 300))
        elif name == "ssrc-flips":
            base = rng.randrange(1 << 32)
            data = _pkt(i, i * 160, base) if i % 3 else _pkt(i, i * 160, base) + b""
            if i % 3 == 0:  # a pair of sequential packets of a new SSRC: a legitimate-looking switch
                s.sendto(_pkt(i, i * 160, base), target)
                data = _pkt(i + 1, (i + 1) * 160, base)
        elif name == "seq-ts-jumps":
            data = _pkt(rng.choice([0, 0xFFFF, 0x8000, 3000, 1000 + i]), rng.choice([0, 2**31, 2**32 - 1, rng.randrange(1 << 32)]), 0x1234)
        elif name == "header-abuse":
            kind = i % 3
            if kind == 0:
                data = _pkt(1000 + i, 5000 + 160 * i, 0x1234, csrcs=tuple(range(15)), extension=(0xBEDE, b"\0" * 4 * 4000))
            elif kind == 1:
                good = bytearray(_pkt(1000 + i, 5000 + 160 * i, 0x1234))
                good[0] |= 0x20
                good[-1] = 200 + i % 56  # padding count beyond the payload
                data = bytes(good)
            else:
                data = _pkt(1000 + i, 5000 + 160 * i, 0x1234, payload=b"\x55" * 65000)
        elif name == "future-far":
            data = _pkt(1000 + 50 * i, 5000 + 160 * 10**6 * i, 0x1234)
        else:
            raise SystemExit(name)
        try:
            s.sendto(data, target)
            sent += 1
        except OSError:
            time.sleep(0.0001)
        if name != "stranger-flood" and name != "garbage-flood":
            time.sleep(0.0002)  # ~5 k packets/s: the point is their content, not their number
    s.close()
    return sent


def main() -> None:
    phases = ["stranger-flood", "garbage-flood", "ssrc-flips", "seq-ts-jumps", "header-abuse", "future-far"]
    seconds = 2.0
    parent, kid = mp.Pipe()
    proc = mp.Process(target=child, args=(kid, 2.0 + seconds * (len(phases) + 1)))
    proc.start()
    addrs = parent.recv()
    time.sleep(2.0)
    print("quiet:", json.dumps(parent.recv()))
    while parent.poll():
        parent.recv()
    for phase in phases:
        sent = attack(phase, tuple(addrs["V"]), tuple(addrs["V_peer"]), seconds)
        reports = []
        while parent.poll():
            reports.append(parent.recv())
        print(f"{phase}: {sent} datagrams;", json.dumps(reports[-1] if reports else None))
    while True:
        item = parent.recv()
        if item is None:
            break
        print("after:", json.dumps(item))
    proc.join()


if __name__ == "__main__":
    main()
