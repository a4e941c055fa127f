"""Headerless input: raw sample bytes described by a RawSpec, and JSON Lines of audio events."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO

import numpy as np

from ..errors import FileFormatError, StreamStateError
from ..formats import FORMATS
from .content import not_raw_message, peek, raw_chunks, sniff
from .sources import _RAW_PCM, AudioSource, BlockMaker, RawSpec

# codings whose samples are 16-bit integers (the session formats decode to int16)
_INT16_CODINGS = frozenset({*FORMATS, "s16le", "s16be"})


def _once(name: str, make: Callable[[bool], Iterator[np.ndarray]], rewind: Callable[[], object] | None) -> BlockMaker:
    used = False

    def blocks(_: list[str], int16: bool) -> Iterator[np.ndarray]:
        nonlocal used
        if used:
            if rewind is None:
                raise StreamStateError(f"{name}: a stream can be read only once")
            rewind()
        used = True
        return make(int16)

    return blocks


def _open_jsonl(
    name: str, stream: BinaryIO, spec: RawSpec, block_frames: int, rewind: Callable[[], object] | None
) -> AudioSource:
    """JSON Lines of audio events (`input_audio_buffer.append` "audio", or audio deltas "delta"),
    their payloads read as `spec.format`; other events are skipped."""
    from .jsonl_source import jsonl_audio

    fmt_name, rate, channels = spec.resolved()
    if fmt_name not in FORMATS or channels != 1:
        raise FileFormatError(f"{name}: JSONL events carry a mono session format; got --raw-format {fmt_name}")
    sample_bytes = FORMATS[fmt_name].bytes_per_sample

    def blocks(int16: bool) -> Iterator[np.ndarray]:
        pending = bytearray()
        n_lines = n_audio = 0
        for line_no, _, audio in jsonl_audio(stream, name):
            n_lines = line_no
            if audio is None:
                continue
            n_audio += 1
            pending += audio
            if len(pending) >= block_frames * sample_bytes:
                usable = len(pending) - len(pending) % sample_bytes
                yield _raw_samples(bytes(pending[:usable]), fmt_name, 1, int16)
                del pending[:usable]
        if pending:
            yield _raw_samples(bytes(pending), fmt_name, 1, int16)
        if n_audio == 0:
            raise FileFormatError(
                f"{name}: no audio events (input_audio_buffer.append or response audio deltas) in {n_lines} line(s)"
            )

    return AudioSource(name, rate, 1, None, "JSONL", fmt_name, _once(name, blocks, rewind), int16_exact=True)


def open_raw(name: str, stream: BinaryIO, spec: RawSpec, block_frames: int, rewind: Callable[[], object] | None) -> AudioSource:
    kind = sniff(peek(stream))
    if kind == "JSONL":
        return _open_jsonl(name, stream, spec, block_frames, rewind)
    fmt_name, rate, channels = spec.resolved()
    if kind is not None:
        raise FileFormatError(not_raw_message(name, kind, fmt_name, "convert"))
    if fmt_name in FORMATS:
        frame_bytes = FORMATS[fmt_name].bytes_per_sample * channels
    else:
        frame_bytes = np.dtype(_RAW_PCM[fmt_name][0]).itemsize * channels

    def blocks(int16: bool) -> Iterator[np.ndarray]:
        for data in raw_chunks(stream, frame_bytes, block_frames, name, fmt_name):
            yield _raw_samples(data, fmt_name, channels, int16)

    source = _once(name, blocks, rewind)
    return AudioSource(name, rate, channels, None, "RAW", fmt_name, source, int16_exact=fmt_name in _INT16_CODINGS)


def _raw_samples(data: bytes, fmt_name: str, channels: int, int16: bool) -> np.ndarray:
    """(frames, channels) float64 at full scale ±1.0, or with `int16` the 16-bit samples themselves.
    (codecs, and with it numba, loads only for G.711 codes or float output.)"""
    samples: np.ndarray
    if fmt_name == "pcm16" and int16:
        samples = np.frombuffer(data, dtype="<i2").astype(np.int16)
    elif fmt_name in FORMATS:
        from ..codecs import decode, int16_to_float

        ints = decode(data, fmt_name)
        samples = ints if int16 else int16_to_float(ints)
    elif int16:
        samples = np.frombuffer(data, dtype=_RAW_PCM[fmt_name][0]).astype(np.int16)
    else:
        dtype, scale = _RAW_PCM[fmt_name]
        raw = np.frombuffer(data, dtype=dtype)
        samples = (raw.astype(np.float64) - 128) / 128 if scale is None else raw.astype(np.float64) / scale
    return samples.reshape(-1, channels)


