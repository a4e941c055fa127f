"""Session layer per 20 ms frame, JSON and base64 included, against the usual sample-code loop.

    python bench/compare_session.py [--frames 5000] [--repeat 5]

Paths (audiofmt uses the low_latency resampler, the one meant for 20 ms streaming):
  1. a `response.audio.delta` JSON string carrying 160 bytes of g711_ulaw -> int16 at 24 kHz
     (OutputDecoder.process); target <= 10 µs
  2. 20 ms of 24 kHz int16 -> a g711_ulaw `input_audio_buffer.append` JSON string
     (InputEncoder.process with chunk_ms=20, as_json=True); target <= 10 µs
  3. pcm16 -> pcm16, no rate change: 20 ms of 24 kHz int16 -> append JSON, and a pcm16 delta JSON
     -> int16; target <= 5 µs
Baselines, as most sample code does it: json + base64 + audioop.ulaw2lin / lin2ulaw +
audioop.ratecv (stateful), and the same with soxr.ResampleStream in place of ratecv.
Every implementation runs the same frames in the same process; best of --repeat.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import time
import warnings
from collections.abc import Callable

import numpy as np

from audiofmt.realtime import InputEncoder, OutputDecoder

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

try:
    import soxr
except ImportError:  # bench-only peer
    soxr = None


def per_frame_us(step: Callable[[int], object], n_frames: int, repeat: int) -> float:
    """Best mean µs per call of step(i) over n_frames calls, after a warm-up pass."""
    for i in range(200):
        step(i)
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        for i in range(n_frames):
            step(i)
        best = min(best, (time.perf_counter() - start) / n_frames)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    speech = (rng.standard_normal(24000 * 4) * 3000).astype(np.int16)
    frames_24k = [speech[i : i + 480].copy() for i in range(0, speech.shape[0], 480)]
    ulaw_frames = [audioop.lin2ulaw(f[::3].tobytes(), 2) for f in frames_24k]

    def delta(data: bytes) -> str:
        return json.dumps({"type": "response.audio.delta", "event_id": "e", "response_id": "r", "item_id": "i",
                           "output_index": 0, "content_index": 0, "delta": base64.b64encode(data).decode()})

    ulaw_deltas = [delta(d) for d in ulaw_frames]
    pcm_deltas = [delta(f.tobytes()) for f in frames_24k]
    n = len(frames_24k)
    results: dict[str, dict[str, float]] = {}

    ulaw_session = {"input_audio_format": "g711_ulaw", "output_audio_format": "g711_ulaw"}
    pcm_session = {"input_audio_format": "pcm16", "output_audio_format": "pcm16"}
    decoder = OutputDecoder(ulaw_session, rate=24000, quality="low_latency")
    encoder = InputEncoder(ulaw_session, rate=24000, chunk_ms=20, as_json=True, quality="low_latency")
    pcm_encoder = InputEncoder(pcm_session, rate=24000, chunk_ms=20, as_json=True)
    pcm_decoder = OutputDecoder(pcm_session)

    state: dict[str, object] = {"up": None, "down": None}

    def base_decode(i: int) -> object:
        payload = base64.b64decode(json.loads(ulaw_deltas[i % n])["delta"])
        out, state["up"] = audioop.ratecv(audioop.ulaw2lin(payload, 2), 2, 1, 8000, 24000, state["up"])
        return np.frombuffer(out, dtype=np.int16)

    def base_encode(i: int) -> object:
        down, state["down"] = audioop.ratecv(frames_24k[i % n].tobytes(), 2, 1, 24000, 8000, state["down"])
        return json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(audioop.lin2ulaw(down, 2)).decode()})

    results["ulaw delta JSON -> int16 @ 24 kHz"] = {
        "audiofmt": per_frame_us(lambda i: decoder.process(ulaw_deltas[i % n]), args.frames, args.repeat),
        "json+base64+audioop": per_frame_us(base_decode, args.frames, args.repeat),
    }
    results["20 ms int16 @ 24 kHz -> ulaw append JSON"] = {
        "audiofmt": per_frame_us(lambda i: encoder.process(frames_24k[i % n]), args.frames, args.repeat),
        "json+base64+audioop": per_frame_us(base_encode, args.frames, args.repeat),
    }
    if soxr is not None:
        up = soxr.ResampleStream(8000, 24000, 1, dtype="int16", quality="HQ")
        down = soxr.ResampleStream(24000, 8000, 1, dtype="int16", quality="HQ")

        def soxr_decode(i: int) -> object:
            payload = base64.b64decode(json.loads(ulaw_deltas[i % n])["delta"])
            return up.resample_chunk(np.frombuffer(audioop.ulaw2lin(payload, 2), dtype=np.int16))

        def soxr_encode(i: int) -> object:
            pcm = down.resample_chunk(frames_24k[i % n])
            return json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(audioop.lin2ulaw(pcm.tobytes(), 2)).decode()})

        results["ulaw delta JSON -> int16 @ 24 kHz"]["json+base64+audioop+soxr"] = per_frame_us(soxr_decode, args.frames, args.repeat)
        results["20 ms int16 @ 24 kHz -> ulaw append JSON"]["json+base64+audioop+soxr"] = per_frame_us(soxr_encode, args.frames, args.repeat)
    results["20 ms int16 pcm16 -> pcm16 append JSON"] = {
        "audiofmt": per_frame_us(lambda i: pcm_encoder.process(frames_24k[i % n]), args.frames, args.repeat),
        "json+base64": per_frame_us(lambda i: json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(frames_24k[i % n].tobytes()).decode()}), args.frames, args.repeat),
    }
    results["pcm16 delta JSON -> int16 (no rate change)"] = {
        "audiofmt": per_frame_us(lambda i: pcm_decoder.process(pcm_deltas[i % n]), args.frames, args.repeat),
        "json+base64": per_frame_us(lambda i: np.frombuffer(base64.b64decode(json.loads(pcm_deltas[i % n])["delta"]), dtype=np.int16), args.frames, args.repeat),
    }
    targets = {"ulaw delta JSON -> int16 @ 24 kHz": 10, "20 ms int16 @ 24 kHz -> ulaw append JSON": 10,
               "20 ms int16 pcm16 -> pcm16 append JSON": 5, "pcm16 delta JSON -> int16 (no rate change)": 5}
    print("| path | implementation | µs per 20 ms frame | audiofmt speed-up | target |")
    print("|---|---|---|---|---|")
    for path, row in results.items():
        ours = row["audiofmt"]
        for name, value in row.items():
            ratio = "" if name == "audiofmt" else f"{value / ours:.2f}x"
            target = f"<= {targets[path]} µs: {'PASS' if ours <= targets[path] else 'MISS'}" if name == "audiofmt" else ""
            print(f"| {path} | {name} | {value:.2f} | {ratio} | {target} |")


if __name__ == "__main__":
    main()
