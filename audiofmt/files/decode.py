"""decode_file: model output (raw session-format bytes, or JSON Lines of audio delta events) → WAV, FLAC or raw s16le.

Input is recognised by content: JSONL by its first non-blank byte "{" (after a UTF-8 BOM); an audio container or an
events file without deltas is refused with a message naming the command that reads it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .._checks import QualityName, check_rate
from .._moved import renamed_keywords
from ..errors import AudioFormatError, FileFormatError
from ..formats import FORMATS, AudioFormat, get_format
from .content import not_raw_message, raw_chunks, sniff
from .outputs import SpaceGuard, atomic_output, plan_outputs
from .sources import PathLike

__all__ = ["DecodeResult", "decode_file"]


_DECODE_EXTENSIONS = {".wav": "WAV", ".wave": "WAV", ".flac": "FLAC", ".pcm": "RAW", ".raw": "RAW"}


def _decode_container(destination: PathLike, container: str | None) -> str:
    if container is not None:
        kind = str(container).upper()
        if kind not in ("WAV", "FLAC", "RAW"):
            raise AudioFormatError(f"decode writes wav, flac or raw; got container {container!r}")
    elif str(destination) == "-":
        kind = "RAW"
    else:
        ext = Path(str(destination)).suffix.lower()
        if ext not in _DECODE_EXTENSIONS:
            raise AudioFormatError(f"decode writes .wav, .flac, .pcm or .raw; got {str(destination)!r}")
        kind = _DECODE_EXTENSIONS[ext]
    if kind == "FLAC" and str(destination) == "-":
        raise AudioFormatError("FLAC cannot be written to stdout (its header is written last); use wav or raw")
    return kind


@dataclass(frozen=True)
class DecodeResult:
    """What decode_file did: samples written at rate_hz, audio delta events read (None for raw),
    and samples clipped when resampling overshot the int16 range."""

    source: str
    destination: str
    format: str
    rate_hz: int
    samples: int
    events: int | None
    clipped: int = 0


@renamed_keywords(rate="rate_hz")
def decode_file(
    source: PathLike,
    destination: PathLike,
    from_format: str | AudioFormat,
    *,
    rate_hz: int | None = None,
    quality: QualityName = "hq",
    block_bytes: int = 1 << 16,
    container: str | None = None,
    overwrite: bool = True,
) -> DecodeResult:
    """Model output (raw bytes, or JSON Lines of audio delta events) → WAV, FLAC or raw s16le.

    JSONL is recognised by its first non-blank byte "{"; every `response.audio.delta` /
    `response.output_audio.delta` is decoded in order (lines of any length, in bounded memory),
    other events are skipped. Input that holds no model audio is refused, naming what it is and
    the command that reads it: an audio file (WAV, MP3 …), events without deltas (the append
    events `convert` writes), an empty file. The output rate defaults to the format's own rate.
    `container` ("wav", "flac", "raw") defaults to the destination's extension; "-" (stdout)
    defaults to raw and takes WAV (a streamed header) but not FLAC. The output never replaces
    the input; with `overwrite=False` never any existing file.
    """
    import soundfile

    from ..realtime.decoder import OutputDecoder
    from ..realtime.events import AUDIO_DELTA_TYPES, field
    from .jsonl_source import jsonl_audio
    from .sinks import WavSink

    fmt = get_format(from_format)
    out_rate = fmt.rate_hz if rate_hz is None else check_rate("rate_hz", rate_hz)
    kind = _decode_container(destination, container)
    name = "<stdin>" if str(source) == "-" else str(source)
    if name != "<stdin>":
        plan_outputs([(str(source), str(destination))], "overwrite" if overwrite else "error")
    if name != "<stdin>" and not os.path.isfile(source):
        raise FileFormatError(f"{name}: no such file" if not os.path.exists(source) else f"{name}: not a regular file")
    decoder = OutputDecoder({"output_audio_format": fmt.name}, rate_hz=out_rate, quality=quality)
    n_samples = n_events = n_appends = 0
    with _input(source) as stream:
        head = stream.peek(4096)[:4096]  # type: ignore[attr-defined]  # a BufferedReader, file or stdin
        what = sniff(head)
        if what not in (None, "JSONL"):
            raise FileFormatError(not_raw_message(name, what, fmt.name, "decode"))
        with atomic_output(destination, overwrite=overwrite) as out:
            guard = SpaceGuard(out, str(destination))
            writer: Any = None
            if kind == "WAV":  # audiofmt's own header: also right on a pipe (sizes unknown)
                writer = WavSink(out, replace(FORMATS["pcm16"], rate_hz=out_rate))
            elif kind == "FLAC":
                writer = soundfile.SoundFile(out, "w", out_rate, 1, "PCM_16", format=kind)
            try:

                def emit(samples: np.ndarray) -> None:
                    nonlocal n_samples
                    guard.check(2 * samples.shape[0])
                    n_samples += samples.shape[0]
                    if writer is None:
                        out.write(samples.astype("<i2").tobytes())
                    else:
                        writer.write(samples)

                if what == "JSONL":
                    last_line = 0
                    for line_no, event, audio in jsonl_audio(stream, name):
                        try:
                            if event["type"] in AUDIO_DELTA_TYPES:
                                n_events += line_no != last_line
                                last_line = line_no
                                item_id, index = field(event, "item_id", str), field(event, "content_index", int)
                                emit(decoder.feed(audio or b"", item_id, index))
                            elif audio is not None:
                                n_appends += 1
                            else:
                                emit(decoder.process(event))
                        except AudioFormatError as exc:
                            raise FileFormatError(f"{name}, line {line_no}: {exc}") from None
                    if n_events == 0:
                        raise FileFormatError(_no_deltas_message(name, n_appends, fmt.name))
                else:
                    sample_bytes = fmt.bytes_per_sample
                    for chunk in raw_chunks(stream, sample_bytes, max(1, block_bytes // sample_bytes), name, fmt.name):
                        emit(decoder.feed(chunk))
                    if n_samples == 0 and not head:
                        raise FileFormatError(f"{name}: the input is empty (0 bytes)")
                emit(decoder.flush())
            finally:  # close the writer before the temporary file is closed or removed
                if writer is not None:
                    writer.close()
    return DecodeResult(
        name, str(destination), fmt.name, out_rate, n_samples, n_events if what == "JSONL" else None, decoder.n_clipped
    )


def _no_deltas_message(name: str, n_appends: int, fmt_name: str) -> str:
    if n_appends:
        return (
            f"{name} holds {n_appends} input_audio_buffer.append event(s) (audio sent to the model) and no "
            f"response audio deltas: `audiofmt convert {name} --raw-format {fmt_name} ...` reads appended audio"
        )
    return f"{name}: no response audio delta events (response.audio.delta / response.output_audio.delta)"


@contextmanager
def _input(source: PathLike) -> Iterator[BinaryIO]:
    """The input as a buffered binary stream (stdin is left open)."""
    if str(source) == "-":
        yield sys.stdin.buffer
        return
    with open(source, "rb") as stream:
        yield stream
