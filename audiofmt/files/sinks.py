"""Where converted audio goes: raw bytes, WAV, or JSON Lines of append events.

Every sink takes int16 samples already at the format's rate and writes them in the session
format's coding, block by block. The WAV sink writes G.711 itself (WAVE_FORMAT_MULAW 7 /
ALAW 6, with the `fact` chunk non-PCM WAVs carry) so the codes are audiofmt's G.191-exact
ones, not libsndfile's; its sizes are patched at close when the output can seek.
"""

from __future__ import annotations

import struct
from typing import Any, BinaryIO, Protocol

import numpy as np

from ..formats import AudioFormat
from .numpy_codec import encode  # the codes of codecs.encode, without loading numba

__all__ = ["Sink", "RawSink", "WavSink", "JsonlSink", "SINKS", "CONTAINER_EXTENSIONS"]

# WAVE format tags (RFC 2361)
_WAVE_TAGS = {"pcm_s16le": 1, "alaw": 6, "ulaw": 7}
_UNKNOWN_SIZE = 0xFFFFFFFF


class Sink(Protocol):
    def write(self, samples: np.ndarray) -> None: ...

    def close(self) -> None: ...


class RawSink:
    """The format's bytes, nothing else (.pcm, .ulaw, .alaw)."""

    def __init__(self, out: BinaryIO, fmt: AudioFormat, **_: object) -> None:
        self.out, self.fmt = out, fmt

    def write(self, samples: np.ndarray) -> None:
        self.out.write(encode(samples, self.fmt))

    def close(self) -> None:
        self.out.flush()


class WavSink:
    """A mono WAV of the format: PCM_16 at 24 kHz, or μ-law / A-law at 8 kHz."""

    def __init__(self, out: BinaryIO, fmt: AudioFormat, **_: object) -> None:
        self.out, self.fmt = out, fmt
        self.n_samples = 0
        try:
            self._start = out.tell()
            out.seek(self._start)
            self._seekable = True
        except (OSError, AttributeError, ValueError):
            self._start, self._seekable = 0, False
        out.write(self._header(None))

    def _header(self, n_samples: int | None) -> bytes:
        fmt = self.fmt
        pcm = fmt.codec == "pcm_s16le"
        fmt_chunk = struct.pack(
            "<HHIIHH",
            _WAVE_TAGS[fmt.codec],
            1,
            fmt.rate_hz,
            fmt.rate_hz * fmt.bytes_per_sample,
            fmt.bytes_per_sample,
            8 * fmt.bytes_per_sample,
        ) + (b"" if pcm else struct.pack("<H", 0))
        data_size = _UNKNOWN_SIZE if n_samples is None else n_samples * fmt.bytes_per_sample
        fact = b"" if pcm else b"fact" + struct.pack("<II", 4, _UNKNOWN_SIZE if n_samples is None else n_samples)
        body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk + fact
        riff_size = _UNKNOWN_SIZE if n_samples is None else len(body) + 8 + data_size + (data_size & 1)
        return b"RIFF" + struct.pack("<I", riff_size) + body + b"data" + struct.pack("<I", data_size)

    def write(self, samples: np.ndarray) -> None:
        self.out.write(encode(samples, self.fmt))
        self.n_samples += samples.shape[0]

    def close(self) -> None:
        if self.n_samples * self.fmt.bytes_per_sample & 1:
            self.out.write(b"\0")  # RIFF chunks are padded to even length
        if self._seekable:
            end = self.out.tell()
            self.out.seek(self._start)
            self.out.write(self._header(self.n_samples))
            self.out.seek(end)
        self.out.flush()


class JsonlSink:
    """One `input_audio_buffer.append` event per line, `chunk_ms` of audio each (whole samples)."""

    def __init__(
        self, out: BinaryIO, fmt: AudioFormat, *, chunk_ms: int = 100, event_id_prefix: str | None = None, **_: object
    ) -> None:
        from ..realtime.encoder import AppendChunker

        self.out = out
        self._chunks = AppendChunker(fmt, chunk_ms, event_id_prefix, as_json=True)

    def write(self, samples: np.ndarray) -> None:
        self._lines(self._chunks.push(samples))

    def close(self) -> None:
        self._lines(self._chunks.finish())
        self.out.flush()

    def _lines(self, events: list[Any]) -> None:
        if events:
            self.out.write(("\n".join(events) + "\n").encode("ascii"))


SINKS = {"raw": RawSink, "wav": WavSink, "jsonl": JsonlSink}
CONTAINER_EXTENSIONS = {
    ".wav": "wav",
    ".wave": "wav",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".pcm": "raw",
    ".raw": "raw",
    ".ulaw": "raw",
    ".alaw": "raw",
    ".mulaw": "raw",
    ".u8": "raw",
}
