"""Recognising what bytes hold (by content, never by name), and reading headerless bytes in whole frames."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from ..errors import FileFormatError

__all__ = ["sniff", "not_audio_message", "not_raw_message", "raw_chunks", "events_message", "peek", "BOM", "HEAD_BYTES"]

HEAD_BYTES = 4096
BOM = b"\xef\xbb\xbf"  # UTF-8 byte order mark: skipped at the start of a JSON Lines file

_W64_GUID = b"riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb\x04\xc1\x00\x00"
_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_MP3_KBPS = {1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
             2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mp3_frame_bytes(head: bytes, pos: int) -> int:
    """Length of the MPEG-1/2/2.5 Layer III frame whose header starts at `pos`, 0 if none."""
    if len(head) < pos + 4 or head[pos] != 0xFF or head[pos + 1] & 0xE0 != 0xE0:
        return 0
    version, layer = (head[pos + 1] >> 3) & 3, (head[pos + 1] >> 1) & 3
    bitrate_index, rate_index = head[pos + 2] >> 4, (head[pos + 2] >> 2) & 3
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return 0
    kbps = _MP3_KBPS[1 if version == 3 else 2][bitrate_index]
    rate = _MP3_RATES[version][rate_index]
    return (144 if version == 3 else 72) * kbps * 1000 // rate + ((head[pos + 2] >> 1) & 1)


def _adts_frame_bytes(head: bytes, pos: int) -> int:
    if len(head) < pos + 7 or head[pos] != 0xFF or head[pos + 1] & 0xF6 != 0xF0:
        return 0
    return ((head[pos + 3] & 3) << 11) | (head[pos + 4] << 3) | (head[pos + 5] >> 5)


def sniff(head: bytes) -> str | None:
    """The container a file's first bytes announce ("WAV", "MP3", "OGG", "MP4", "JSONL" …), or None.

    Bare MPEG audio and ADTS AAC need two consecutive valid frame headers, so raw μ-law or
    PCM that happens to start with 0xFF is not taken for them.
    """
    if head[8:12] == b"WAVE" and head[:4] in (b"RIFF", b"RIFX"):
        return "WAV"
    if head[8:12] == b"WAVE" and head[:4] in (b"RF64", b"BW64"):
        return "RF64"
    if head[:16] == _W64_GUID:
        return "W64"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
    simple = {b"caff": "CAF", b".snd": "AU", b"fLaC": "FLAC", b"OggS": "OGG", b"\x1a\x45\xdf\xa3": "MATROSKA"}
    if head[:4] in simple:
        kind = simple[head[:4]]
        return "WEBM" if kind == "MATROSKA" and b"webm" in head[:64] else kind
    if head[:3] == b"ID3":
        return "MP3"
    if head[4:8] == b"ftyp":
        return "MP4"
    if head[:5] == b"#!AMR":
        return "AMR"
    if head[:16] == _ASF_GUID:
        return "ASF"
    for kind, frame_bytes in (("MP3", _mp3_frame_bytes), ("AAC", _adts_frame_bytes)):
        n = frame_bytes(head, 0)
        if n > 7 and frame_bytes(head, n):
            return kind
    for magic, kind in _COMPRESSED:
        if head.startswith(magic):
            return kind
    if head[:3] == b"BZh" and head[3:4] in b"123456789" and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90"):
        return "bzip2"  # a block, or the end of an empty stream
    if head.removeprefix(BOM).lstrip()[:1] == b"{":  # after a UTF-8 byte order mark, if any
        return "JSONL"
    return None


# compressed data people save logs and recordings as: refused with a hint, never read as raw
# audio (the magic numbers are long enough that raw audio starting with one is ~1 in 10^8 or
# rarer; bzip2's is checked in sniff), and the command that decompresses each
_COMPRESSED = ((b"\x1f\x8b\x08", "gzip"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"PK\x03\x04", "zip"))
_DECOMPRESS = {"gzip": "gunzip -c", "bzip2": "bunzip2 -c", "xz": "xz -dc", "zstd": "zstd -dc", "zip": "unzip -p"}


def compressed_message(name: str, kind: str) -> str:
    how = "before audiofmt reads it" if name == "<stdin>" else f"e.g. `{_DECOMPRESS[kind]} {name} | audiofmt ... -`"
    return f"{name} is {kind}-compressed, not audio or JSON Lines: decompress it first, {how}"


def not_audio_message(name: str, kind: str | None) -> str | None:
    """Why input that sniff() found to be events or compressed data is refused as an audio file
    (None for anything else)."""
    if kind == "JSONL":
        return events_message(name)
    return compressed_message(name, kind) if kind in _DECOMPRESS else None


def peek(stream: BinaryIO) -> bytes:
    peek = getattr(stream, "peek", None)
    return peek(HEAD_BYTES)[:HEAD_BYTES] if callable(peek) else b""


def not_raw_message(name: str, kind: str, fmt_name: str, command: str) -> str:
    """Why a container file is refused as headerless input, and which command reads it."""
    if kind in _DECOMPRESS:
        return compressed_message(name, kind)
    if command == "decode":
        return (f"{name} is a {kind} file, not raw {fmt_name} bytes: `audiofmt decode` reads raw model output "
                f"or JSONL deltas; `audiofmt convert {name} --to FORMAT` reads audio files")
    return f"{name} is a {kind} file, not raw {fmt_name} audio: leave out --raw-format and its header is read"



def events_message(name: str) -> str:
    return (
        f"{name} holds JSON Lines of realtime events, not an audio file: read their audio with "
        "--raw-format pcm16|g711_ulaw|g711_alaw (RawSpec) naming the events' format"
    )



def raw_chunks(stream: BinaryIO, frame_bytes: int, chunk_frames: int, name: str, what: str) -> Iterator[bytes]:
    """Whole frames of a headerless stream, `chunk_frames` at a time; a trailing partial frame
    is an error naming `what` (the coding) and the frame size."""
    carry = b""
    while True:
        data = stream.read(chunk_frames * frame_bytes)
        if not data:
            break
        data = carry + data if carry else data
        usable = len(data) - len(data) % frame_bytes
        carry = data[usable:]
        if usable:
            yield data[:usable]
    if carry:
        raise FileFormatError(f"{name}: {len(carry)} trailing byte(s) are not a whole {what} frame of {frame_bytes} bytes")


