"""The FFmpeg reader: audio that libsndfile cannot read, or reads wrongly, decoded through PyAV.

MP3 (streamed in blocks, unlike libsndfile 1.2.2 which must read it whole), AAC in M4A/MP4,
Opus and Vorbis in Ogg or WebM/Matroska, AMR, WMA, and whatever else FFmpeg's libraries
recognise by probing the content. `av` is imported only when a file needs it, so
`import audiofmt` stays fast.

Damage is an error, not a shorter output: a decoder or demuxer error, fewer frames than the
container declares, or an Ogg stream without its end-of-stream page raises DamagedFileError
naming the file and how much was decoded against what was declared. `ignore_errors=True`
skips bad packets instead and records how much was lost in `AudioSource.warnings`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

import numpy as np

from ..errors import DamagedFileError, FileFormatError, StreamStateError

__all__ = ["TRUSTED_LENGTH_FORMATS", "open_av"]

# FFmpeg demuxers whose declared length is read from the file (a header, an index, the last
# Ogg granule), not estimated from the bit rate and file size. MP3 only with a Xing/Info/VBRI
# header (checked separately): without one FFmpeg estimates its length from the bit rate.
TRUSTED_LENGTH_FORMATS = frozenset(
    {"mov,mp4,m4a,3gp,3g2,mj2", "ogg", "flac", "wav", "w64", "aiff", "caf", "matroska,webm", "asf", "mp3"}
)
# friendly container names for FFmpeg's demuxer names
_CONTAINER_NAMES = {
    "mov,mp4,m4a,3gp,3g2,mj2": "MP4",
    "matroska,webm": "MATROSKA",
    "mp3": "MP3",
    "ogg": "OGG",
    "asf": "ASF",
    "amr": "AMR",
    "aac": "AAC",
    "wav": "WAV",
    "flac": "FLAC",
}
_DECODER_NAMES = {"mp3float": "MP3", "mp3": "MP3", "mp2float": "MP2", "aac_fixed": "AAC"}
# (divisor to full scale, offset) for FFmpeg's integer sample formats
_INT_SCALE = {"u8": (128.0, 128.0), "s16": (32768.0, 0.0), "s32": (2147483648.0, 0.0), "s64": (9223372036854775808.0, 0.0)}
_OGG_MAX_PAGE = 27 + 255 + 255 * 255  # header + lacing table + largest body, bytes


class _AvUnreadable(FileFormatError):
    """FFmpeg cannot open the input as audio (the message is FFmpeg's reason, without the name)."""


class _TailKeeper:
    """A read-only stream wrapper that remembers the last bytes read (for the Ogg end check) and
    the first `head_keep` (a header longer than what could be peeked: WAV chunks before the data,
    an ID3v2 tag with cover art before the Xing frame)."""

    def __init__(self, stream: BinaryIO, keep: int = _OGG_MAX_PAGE + 1024, head_keep: int = 1 << 16) -> None:
        self.stream, self.keep, self.tail, self.n_read = stream, keep, b"", 0
        self.head, self.head_keep = b"", head_keep

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        if self.n_read < self.head_keep:
            self.head += data[: self.head_keep - self.n_read]
        self.n_read += len(data)
        self.tail = (self.tail + data)[-self.keep :] if len(data) < self.keep else data[-self.keep :]
        return data


def ogg_end_problem(tail: bytes) -> str | None:
    """None if `tail` (the last bytes of an Ogg file) ends with a complete end-of-stream page;
    else what is wrong. A file cut short ends without one (and usually inside a page)."""
    pos = tail.rfind(b"OggS")
    while pos >= 0:
        if len(tail) - pos >= 27:
            n_segments = tail[pos + 26]
            table = tail[pos + 27 : pos + 27 + n_segments]
            if len(table) == n_segments:
                end = pos + 27 + n_segments + sum(table)
                if end == len(tail):
                    return None if tail[pos + 5] & 0x04 else "the last Ogg page is not an end-of-stream page (cut short?)"
                if end < len(tail):
                    return f"{len(tail) - end} byte(s) after the last complete Ogg page (cut short or damaged)"
        pos = tail.rfind(b"OggS", 0, pos)
    return "no complete Ogg page at the end of the file (cut short?)"


def mp3_has_length_header(head: bytes, path: str | None = None) -> bool:
    """True if an MP3 starts (after any ID3v2 tag) with a Xing/Info/VBRI frame, which declares
    the number of frames; without one FFmpeg's length is an estimate from the bit rate. A tag
    longer than `head` (cover art) is skipped in the file at `path`, when there is one."""
    start = 0
    if head[:3] == b"ID3" and len(head) >= 10:
        size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F)
        start = 10 + size + (10 if head[5] & 0x10 else 0)
    first = head[start : start + 4096]
    if start + 200 > len(head) and path is not None:
        with open(path, "rb") as f:
            f.seek(start)
            first = f.read(4096)
    return any(tag in first[:200] for tag in (b"Xing", b"Info", b"VBRI"))


def wav_declared_frames(head: bytes) -> int | None:
    """Frames a RIFF WAV header declares (data chunk size / block align), if its first bytes
    hold both chunks and the size is not one that streaming writers put (0, 0x7FFFFFFF, 0xFFFFFFFF)."""
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, block_align = 12, 0
    while pos + 8 <= len(head):
        chunk, size = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
        if chunk == b"fmt " and pos + 22 <= len(head):
            block_align = int.from_bytes(head[pos + 20 : pos + 22], "little")
        elif chunk == b"data":
            if block_align and size not in (0, 0x7FFFFFFF, 0xFFFFFFFF):
                return size // block_align
            return None
        pos += 8 + size + (size & 1)
    return None


def _frame_samples(frame: Any, int16: bool) -> np.ndarray:
    """One decoded frame as float64 (samples, channels), full scale ±1.0; with `int16` (an s16 or
    s16p frame) its int16 samples as they are."""
    channels = frame.layout.nb_channels
    data = frame.to_ndarray()
    fmt = frame.format.name.rstrip("p")
    data = data.T if frame.format.is_planar else data.reshape(-1, channels)
    if int16:
        if fmt != "s16":
            raise FileFormatError(f"the decoder's sample format changed from s16 to {frame.format.name}")
        return data
    if fmt in ("flt", "dbl"):
        return data.astype(np.float64)
    scale, offset = _INT_SCALE[fmt]
    return (data.astype(np.float64) - offset) / scale if offset else data.astype(np.float64) / scale


def open_av(
    name: str,
    target: str | BinaryIO,
    block_frames: int,
    *,
    ignore_errors: bool = False,
    head: bytes = b"",
) -> tuple[dict[str, Any], Any, Any]:
    """Open `target` (a path, or a binary stream read once) with FFmpeg.

    Returns (info, make_blocks, close): info holds rate, channels, frames, container, subtype
    and declared_frames; make_blocks(warnings) yields float64 (frames, channels) blocks of
    `block_frames` (the last one shorter) and appends to `warnings` what ignore_errors skipped.
    """
    import av

    def open_container(source: str | BinaryIO | _TailKeeper) -> Any:
        try:
            return av.open(source, "r")
        except (av.FFmpegError, EOFError, OSError, UnicodeDecodeError) as exc:
            raise _AvUnreadable(_av_message(exc)) from None

    seekable = not isinstance(target, str) and getattr(target, "seekable", lambda: False)()
    keeper = None if isinstance(target, str) or seekable else _TailKeeper(target)
    container = open_container(target if keeper is None else keeper)
    if keeper is not None and len(keeper.head) > len(head):
        head = keeper.head  # what FFmpeg read to open it: the whole header when it is longer than the peek
    try:
        info, first = _describe(name, container, head, ignore_errors, target if isinstance(target, str) else None)
    except BaseException:
        container.close()
        raise
    state = {"container": container, "first": first, "used": False}

    def make_blocks(warnings: list[str], int16: bool) -> Iterator[np.ndarray]:
        if state["used"]:
            if keeper is not None:
                raise StreamStateError(f"{name}: a stream can be read only once")
            state["container"].close()
            if not isinstance(target, str):
                target.seek(0)
            state["container"] = open_container(target)
            state["first"] = None
        state["used"] = True
        return _blocks(
            name, state["container"], info, block_frames, ignore_errors, warnings, target, keeper, state["first"], int16
        )

    def close() -> None:
        state["container"].close()

    return info, make_blocks, close


def _describe(name: str, container: Any, head: bytes, ignore_errors: bool, path: str | None) -> tuple[dict[str, Any], Any]:
    """Rate and channels from the first decoded frame (HE-AAC and some MP4s declare others),
    and the declared length when the container stores one."""
    if not container.streams.audio:
        kinds = ", ".join(sorted({s.type for s in container.streams})) or "no streams"
        raise _AvUnreadable(f"no audio stream in this {container.format.name} input ({kinds})")
    stream = container.streams.audio[0]
    fmt_name = container.format.name
    errors: list[str] = []
    frames_iter = _decoded_frames(name, container, stream, ignore_errors, errors)
    try:
        first = next(frames_iter, None)
    except _DecodeError as exc:
        raise DamagedFileError(f"{name}: damaged: decoder error before the first frame ({exc})") from None
    if first is None:
        raise _AvUnreadable(f"no audio frames in this {fmt_name} input")
    rate, channels = first.sample_rate, first.layout.nb_channels
    declared = None
    trusted = fmt_name in TRUSTED_LENGTH_FORMATS and (fmt_name != "mp3" or mp3_has_length_header(head, path))
    if trusted:
        if stream.duration is not None and stream.time_base is not None:
            declared = round(stream.duration * stream.time_base * rate)
        elif container.duration is not None and container.duration > 0:
            declared = round(container.duration * rate / 1_000_000)
    if declared is None and fmt_name == "wav":
        declared = wav_declared_frames(head)
    codec = stream.codec_context.name
    container_name = _CONTAINER_NAMES.get(fmt_name, fmt_name.split(",")[0].upper())
    if container_name == "MATROSKA" and b"webm" in head[:64]:
        container_name = "WEBM"
    info = {
        "rate": rate,
        "channels": channels,
        "frames": declared,
        "declared_frames": declared,
        "container": container_name,
        "subtype": _DECODER_NAMES.get(codec, codec.upper()),
        "format": fmt_name,
        "frame_size": stream.codec_context.frame_size or 0,
        "int16_exact": first.format.name.rstrip("p") == "s16",
        "iter": frames_iter,
        "errors": errors,
    }
    return info, first


def _decoded_frames(name: str, container: Any, stream: Any, ignore_errors: bool, errors: list[str]) -> Iterator[Any]:
    """Decoded frames of `stream`; decoder and demuxer errors raise, or are counted in `errors`."""
    import av

    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError as exc:
            if not ignore_errors:
                raise _DecodeError(_av_message(exc)) from None
            errors.append(_av_message(exc))
            return  # the demuxer cannot go on
        try:
            frames = packet.decode()
        except av.FFmpegError as exc:
            if not ignore_errors:
                raise _DecodeError(_av_message(exc)) from None
            errors.append(_av_message(exc))
            continue
        yield from frames


class _DecodeError(Exception):
    """A decoder error, re-raised with the position once it is known."""


def _blocks(
    name: str,
    container: Any,
    info: dict[str, Any],
    block_frames: int,
    ignore_errors: bool,
    warnings: list[str],
    target: str | BinaryIO,
    keeper: _TailKeeper | None,
    first: Any,
    int16: bool = False,
) -> Iterator[np.ndarray]:
    rate, channels = info["rate"], info["channels"]
    errors: list[str] = [] if first is None else info["errors"]
    if first is None:  # a re-read: start a fresh frame iterator on the reopened container
        frames_iter: Iterator[Any] = _decoded_frames(name, container, container.streams.audio[0], ignore_errors, errors)
    else:
        frames_iter = info.pop("iter")
        frames_iter = _chain_first(first, frames_iter)
    pending: list[np.ndarray] = []
    n_pending = n_frames = 0
    try:
        for frame in frames_iter:
            if frame.sample_rate != rate or frame.layout.nb_channels != channels:
                raise FileFormatError(
                    f"{name}: the audio changes from {rate} Hz, {channels} ch to {frame.sample_rate} Hz, "
                    f"{frame.layout.nb_channels} ch after {n_frames / rate:.3f} s; one rate and layout per file is supported"
                )
            block = _frame_samples(frame, int16)
            pending.append(block)
            n_pending += block.shape[0]
            n_frames += block.shape[0]
            while n_pending >= block_frames:
                whole = np.concatenate(pending) if len(pending) > 1 else pending[0]
                yield whole[:block_frames]
                rest = whole[block_frames:]
                pending, n_pending = ([rest], rest.shape[0]) if rest.shape[0] else ([], 0)
    except _DecodeError as exc:
        raise DamagedFileError(
            f"{name}: damaged: read error after {_amount(n_frames, rate)}{_of(info)} ({exc})"
        ) from None
    if n_pending:
        yield np.concatenate(pending) if len(pending) > 1 else pending[0]
    problems = [f"{len(errors)} bad packet(s) skipped, the first: {errors[0]}"] if errors else []
    if info["format"] == "ogg":
        tail = keeper.tail if keeper is not None else _file_tail(target)
        problem = ogg_end_problem(tail)
        if problem:
            problems.append(problem)
    declared = info["declared_frames"]
    slack = max(2 * info["frame_size"], rate // 10)  # codec delay and padding: two codec frames or 100 ms
    short = declared is not None and n_frames < declared - slack
    if short or problems:
        what = f"decoded {_amount(n_frames, rate)}" + (f" of {_amount(declared, rate)} declared" if declared is not None else "")
        detail = "; ".join(problems)
        if not ignore_errors:
            raise DamagedFileError(f"{name}: damaged or cut short: {what}" + (f" ({detail})" if detail else ""))
        lost = f", {_amount(declared - n_frames, rate)} lost" if short else ""
        warnings.append(f"{name}: damaged, kept what could be read: {what}{lost}" + (f" ({detail})" if detail else ""))


def _chain_first(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _file_tail(target: str | BinaryIO) -> bytes:
    """The last bytes of a file, or of a seekable stream (stdin redirected from a file)."""
    if not isinstance(target, str):
        target.seek(0, 2)
        target.seek(max(0, target.tell() - _OGG_MAX_PAGE - 1024))
        return target.read()
    with open(target, "rb") as f:
        return _file_tail(f)


def _amount(n_frames: int, rate: int) -> str:
    return f"{n_frames} frames ({n_frames / rate:.3f} s)"


def _of(info: dict[str, Any]) -> str:
    declared = info["declared_frames"]
    return "" if declared is None else f" of {_amount(declared, info['rate'])} declared"


def _av_message(exc: BaseException) -> str:
    """FFmpeg's reason without PyAV's errno prefix and the file name it appends."""
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).split(": '", 1)[0].strip() or type(exc).__name__

