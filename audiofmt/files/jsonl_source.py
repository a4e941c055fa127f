"""JSON Lines of realtime events, read in linear time and bounded memory whatever the line length.

`jsonl_audio(stream, name)` yields `(line_no, event, audio)` for every non-blank line: the event
as a dict, and for `input_audio_buffer.append` ("audio") and audio delta events ("delta") their
decoded bytes, possibly in several pieces (each a multiple of 6 bytes, except the last) with the
same event; other events come with audio None. Lines up to 1 MiB go through `json.loads`;
longer ones (a whole reply in one delta) are scanned as they are read: the base64 string is
decoded in pieces and never held whole, so a 1 GiB line costs a few MiB of memory.
"""

from __future__ import annotations

import binascii
import json
import sys
import tempfile
from collections.abc import Iterator
from typing import Any, BinaryIO

from ..errors import AudioFormatError, FileFormatError
from .content import BOM

__all__ = ["AUDIO_FIELDS", "LONG_LINE_BYTES", "jsonl_audio"]

LONG_LINE_BYTES = 1 << 20  # lines longer than this are scanned in pieces
_PIECE = 1 << 20  # bytes read per piece of a long line
_MAX_OTHER_VALUE = 16 << 20  # any value but the audio string, in a long line (bytes of JSON)
_SPOOL_BYTES = 8 << 20  # audio met before its event's type is kept in memory up to this, then on disk
AUDIO_FIELDS = {"input_audio_buffer.append": "audio", "response.audio.delta": "delta", "response.output_audio.delta": "delta"}
_WS = b" \t\r\n"


def _b64(data: bytes) -> bytes:
    if sys.version_info >= (3, 11):
        return binascii.a2b_base64(data, strict_mode=True)
    import base64  # pragma: no cover - Python 3.10

    return base64.b64decode(data, validate=True)  # pragma: no cover


def jsonl_audio(stream: BinaryIO, name: str) -> Iterator[tuple[int, dict[str, Any], bytes | None]]:
    """(line number, event, audio bytes or None) for each non-blank line; errors name the line."""
    from ..realtime.events import decode_audio, parse_event

    line_no = 0
    while True:
        line = stream.readline(LONG_LINE_BYTES)
        if not line:
            return
        line_no += 1
        long = len(line) == LONG_LINE_BYTES and not line.endswith(b"\n")
        if line_no == 1 and line.startswith(BOM):  # a UTF-8 byte order mark, as editors save it
            line = line[len(BOM) :]
        if long:
            yield from _long_line(stream, line, line_no, name)
            continue
        if not line.strip():
            continue
        try:
            event = parse_event(line)
            key = AUDIO_FIELDS.get(event["type"])
            audio = None if key is None else decode_audio(event.pop(key, None), f"{event['type']}.{key}")
        except AudioFormatError as exc:
            raise FileFormatError(f"{name}, line {line_no}: {exc}") from None
        yield line_no, event, audio


class _Scanner:
    """Byte-level reading of one long line: the bytes read so far and the rest of the stream."""

    def __init__(self, stream: BinaryIO, start: bytes, where: str) -> None:
        self.stream, self.buf, self.pos, self.where = stream, start, 0, where
        self.done = False  # the newline (or the end of the stream) was reached

    def fail(self, what: str) -> FileFormatError:
        return FileFormatError(f"{self.where}: not a valid JSON event ({what})")

    def more(self) -> bool:
        if self.done:
            return False
        data = self.stream.readline(_PIECE)
        if not data or data.endswith(b"\n"):
            self.done = True
        self.buf = self.buf[self.pos :] + data
        self.pos = 0
        return bool(data)

    def peek(self) -> int:
        """The next non-blank byte (not consumed), -1 at the end of the line."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in _WS:
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.more():
                return -1

    def expect(self, char: bytes) -> None:
        if self.peek() != char[0]:
            raise self.fail(f"expected {char.decode()!r}")
        self.pos += 1

    def string_pieces(self) -> Iterator[bytes]:
        """The raw content of a JSON string (the opening quote already consumed), in pieces,
        escapes undone for the ASCII characters base64 and names use."""
        while True:
            quote = self.buf.find(b'"', self.pos)
            end = quote if quote >= 0 else len(self.buf)
            backslash = self.buf.find(b"\\", self.pos, end)
            if backslash >= 0:
                # base64 with every "/" written "\/" (PHP's json_encode, some loggers): a span
                # whose only escapes are those is undone by one replace, not escape by escape
                stop = end - 1 if quote < 0 and self.buf.endswith(b"\\") else end  # an escape cut by the read
                span = self.buf[backslash:stop]
                if stop > backslash and span.count(b"\\") == span.count(b"\\/") and b"\\\\" not in span:
                    yield self.buf[self.pos : stop].replace(b"\\/", b"/")
                    self.pos = stop
                    if quote >= 0:
                        self.pos = quote + 1
                        return
                    if stop == end and not self.more():
                        raise self.fail("unterminated string")
                    continue
                yield self.buf[self.pos : backslash]
                self.pos = backslash
                while len(self.buf) - self.pos < 6 and self.more():
                    pass
                yield self._escape()
                continue
            if quote >= 0:
                yield self.buf[self.pos : quote]
                self.pos = quote + 1
                return
            yield self.buf[self.pos :]
            self.pos = len(self.buf)
            if not self.more():
                raise self.fail("unterminated string")

    def _escape(self) -> bytes:
        code = self.buf[self.pos + 1 : self.pos + 2]
        simple = {b'"': b'"', b"\\": b"\\", b"/": b"/", b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t"}
        if code in simple:
            self.pos += 2
            return simple[code]
        if code == b"u":
            try:
                char = chr(int(self.buf[self.pos + 2 : self.pos + 6], 16))
            except ValueError:
                raise self.fail("bad \\u escape") from None
            self.pos += 6
            return char.encode("utf-8", "surrogatepass")
        raise self.fail("bad escape")

    def small_string(self) -> str:
        total, parts = 0, []
        for piece in self.string_pieces():
            total += len(piece)
            if total > _MAX_OTHER_VALUE:
                raise self.fail(f"a string longer than {_MAX_OTHER_VALUE >> 20} MiB outside the audio field")
            parts.append(piece)
        try:
            return b"".join(parts).decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail("invalid UTF-8") from None

    def other_value(self) -> Any:
        """A number, literal, object or array: its JSON text up to the end at depth 0."""
        start, depth, in_string, i = self.pos, 0, False, self.pos
        while True:
            if i >= len(self.buf):
                offset = i - start
                if not self.more():
                    if depth == 0 and i > start:
                        break
                    raise self.fail("the line ends inside a value")
                start, i = self.pos, self.pos + offset  # more() drops the consumed bytes
                if i - start > _MAX_OTHER_VALUE:
                    raise self.fail(f"a value longer than {_MAX_OTHER_VALUE >> 20} MiB outside the audio field")
                continue
            c = self.buf[i]
            if in_string:
                if c == 0x5C:  # backslash: skip the escaped byte
                    i += 1
                elif c == 0x22:
                    in_string = False
            elif c == 0x22:
                in_string = True
            elif c in b"[{":
                depth += 1
            elif c in b"]}":
                if depth == 0:
                    break
                depth -= 1
            elif c == 0x2C and depth == 0:
                break
            i += 1
            if depth == 0 and not in_string and i < len(self.buf) and self.buf[i] in b",}":
                break
        text = self.buf[start:i]
        self.pos = i
        try:
            return json.loads(text)
        except ValueError:
            raise self.fail(f"bad value {text[:40]!r}") from None


def _long_line(stream: BinaryIO, start: bytes, line_no: int, name: str) -> Iterator[tuple[int, dict[str, Any], bytes | None]]:
    """One line longer than LONG_LINE_BYTES, read as a JSON object in pieces."""
    where = f"{name}, line {line_no}"
    scan = _Scanner(stream, start, where)
    event: dict[str, Any] = {}
    spool: Any = None  # audio met before the fields that say what it is
    audio_key: str | None = None
    streamed = False
    scan.expect(b"{")
    if scan.peek() == ord("}"):
        scan.pos += 1
    else:
        while True:
            scan.expect(b'"')
            key = scan.small_string()
            scan.expect(b":")
            if scan.peek() == ord('"'):
                scan.pos += 1
                if key in ("audio", "delta") and audio_key is None:
                    audio_key = key
                    kind = event.get("type")
                    known = isinstance(kind, str) and AUDIO_FIELDS.get(kind) == key
                    known = known and (key == "audio" or {"item_id", "content_index"} <= set(event))
                    pieces = _b64_pieces(scan.string_pieces(), where, f"{kind if isinstance(kind, str) else 'event'}.{key}")
                    if known:
                        streamed = True
                        for piece in pieces:
                            yield line_no, event, piece
                    else:
                        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 - closed below
                        for piece in pieces:
                            spool.write(piece)
                else:
                    event[key] = scan.small_string()
            else:
                event[key] = scan.other_value()
            if scan.peek() == ord(","):
                scan.pos += 1
                continue
            scan.expect(b"}")
            break
    if scan.peek() != -1:
        raise scan.fail("text after the object")
    try:
        from ..realtime.events import parse_event

        parse_event(event)
    except AudioFormatError as exc:
        raise FileFormatError(f"{where}: {exc}") from None
    wanted = AUDIO_FIELDS.get(event["type"])
    if streamed:
        return
    if spool is not None and wanted == audio_key:
        spool.seek(0)
        while True:
            piece = spool.read(6 << 20)
            if not piece:
                break
            yield line_no, event, piece
        spool.close()
        return
    if spool is not None:
        spool.close()
    if wanted is not None:
        raise FileFormatError(f"{where}: {event['type']} has no {wanted!r} string")
    yield line_no, event, None


def _b64_pieces(pieces: Iterator[bytes], where: str, field: str) -> Iterator[bytes]:
    """Strict base64 decoded as it arrives; every piece but the last a multiple of 6 bytes."""
    pending, parts, size = b"", [], 0  # parts: pieces not yet joined to pending (joined once, not per piece)
    for piece in pieces:
        parts.append(piece)
        size += len(piece)
        if size < 1 << 16:
            continue
        pending = b"".join((pending, *parts))
        parts, size = [], 0
        usable = (len(pending) - 4) // 8 * 8  # keep the last group back: it may carry the padding
        if usable >= 1 << 16:
            head, pending = pending[:usable], pending[usable:]
            if b"=" in head:
                raise FileFormatError(f"{where}: {field} is not valid base64 (padding inside the data)")
            yield _decode(head, where, field)
    pending = b"".join((pending, *parts))
    if pending:
        yield _decode(pending, where, field)


def _decode(data: bytes, where: str, field: str) -> bytes:
    try:
        return _b64(data)
    except (binascii.Error, ValueError) as exc:
        raise FileFormatError(f"{where}: {field} is not valid base64 ({exc})") from None
