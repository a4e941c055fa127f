"""Compile (or load from numba's on-disk cache) the kernels the tests use, in one of two halves.

Run by conftest.py before a parallel run's workers start, one process per half, when the cache is
cold (a fresh clone, as in CI): each worker would otherwise compile the same kernels itself, ~20 s
of CPU each, and one half each runs in half the time. Best effort: it only fills the cache, and a
kernel it misses is compiled by the first test that needs it, as without it. Usage:
`python -m tests._warm_kernels 0|1`.
"""

from __future__ import annotations

import sys


def _lazy_kernels(module_name: str) -> None:
    """Every signature of every lazily compiled kernel of one kernels module."""
    import importlib

    from audiofmt.kernels import LazyKernel

    module = importlib.import_module(f"audiofmt.kernels.{module_name}")
    for kernel in vars(module).values():
        if isinstance(kernel, LazyKernel):
            for index in range(len(kernel.signatures)):
                kernel.entry(index)


def _polyphase(dtype_code: str) -> None:
    from audiofmt.kernels import polyphase

    for kernel in (polyphase.polyphase, polyphase.halfband_decimate, polyphase.halfband_interpolate):
        polyphase.compiled(kernel, dtype_code)


def _bridge_pcm16() -> None:
    """The fused 20 ms steps of a pcm16 session's two directions and of InputEncoder's int16 input
    (compiled for the callers' types)."""
    import base64
    import json

    from audiofmt.bridge import TwilioMediaStream

    bridge = TwilioMediaStream({"input_audio_format": "pcm16", "output_audio_format": "pcm16"})
    bridge.receive_phone({"event": "start", "sequenceNumber": "1", "streamSid": "MZ1", "start": {
        "streamSid": "MZ1", "callSid": "CA1", "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})
    bridge.receive_phone(json.dumps({"event": "media", "streamSid": "MZ1", "sequenceNumber": "2", "media": {
        "track": "inbound", "chunk": "1", "timestamp": "0", "payload": base64.b64encode(bytes(160)).decode()}}))
    bridge.receive_model({"type": "response.audio.delta", "response_id": "r", "item_id": "i", "output_index": 0,
                          "content_index": 0, "delta": base64.b64encode(bytes(960)).decode()})
    import numpy as np

    from audiofmt.realtime import InputEncoder  # the int16-in variant of the G.711 session path

    InputEncoder({"input_audio_format": "g711_ulaw"}, rate_hz=24000).process(np.zeros(480, dtype=np.int16))


# Two halves of about equal compile time (~9 s each here), split by kernel function so that the
# two processes never write the same function's cache index at once.
HALVES = (  # the bridge's steps use the G.711 kernels, which the other half compiles first
    (lambda: _lazy_kernels("g711"), lambda: _polyphase("d"), lambda: _lazy_kernels("pcm"), lambda: _lazy_kernels("plc")),
    (lambda: _polyphase("f"), _bridge_pcm16, lambda: _lazy_kernels("spectrum")),
)


def main(half: int) -> None:
    for step in HALVES[half]:
        step()


if __name__ == "__main__":
    main(int(sys.argv[1]))
