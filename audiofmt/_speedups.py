"""JSON parsing and base64 with optional accelerators, and the standard library as the reference.

`orjson` and `pybase64` (the `bridge` extra) are used when installed; every function here gives
exactly what the standard-library path gives, accelerators or not:

- `loads(text)`: orjson.loads, and json.loads whenever orjson refuses the text (orjson is the
  stricter parser: lone surrogates, NaN/Infinity, UTF-16/32 bytes…) or orjson's value holds a
  float (orjson reads an integer literal beyond the 64-bit range as a float, json as an int; a
  float anywhere sends the text to json.loads), so the accepted inputs and the values returned
  are json.loads's.
- `b64decode_strict(text)`: pybase64's validating decoder, and binascii's strict mode whenever
  pybase64 refuses (binascii also accepts surplus "=" after a complete group), so the accepted
  inputs and the bytes are binascii strict mode's. Raises ValueError (binascii.Error) or TypeError.
- `b64encode(data)`: standard padded base64 as str (the same text from either library).
- `canonical_b64(text, n_bytes)`: True if `text`, which decodes to n_bytes, is exactly what
  `b64encode` of those bytes gives (no surplus padding, zero trailing bits): such text can be
  forwarded as it is instead of being decoded and encoded again.

Hot paths may call `first_b64decode` (the accelerator itself, or the standard library where none
is installed) and, on ValueError, the full `b64decode_strict`: the same results without a Python
frame in between. `first_loads` is orjson.loads itself (json.loads without orjson): json.loads's
values except that an integer literal beyond 64 bits may come back as a float, so a caller may use
it only where such a value is rejected either way, and must re-parse with `loads` otherwise.

`ACCELERATED` names the accelerators in use (for benchmarks and logs). Setting the environment
variable AUDIOFMT_NO_ACCEL=1 before the first import uses the standard library only (the tests
compare both paths byte for byte).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sys
from collections.abc import Callable
from functools import partial
from typing import Any

__all__ = ["ACCELERATED", "b64decode_strict", "b64encode", "canonical_b64", "first_b64decode", "first_loads", "loads"]

_json_loads = json.loads

if sys.version_info >= (3, 11):

    def _stdlib_b64decode(text: str) -> bytes:
        return binascii.a2b_base64(text, strict_mode=True)

else:  # pragma: no cover - Python 3.10

    def _stdlib_b64decode(text: str) -> bytes:
        return base64.b64decode(text, validate=True)


def _stdlib_b64encode(data: bytes | memoryview) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


_accelerated: list[str] = []
_NO_ACCEL = os.environ.get("AUDIOFMT_NO_ACCEL", "") not in ("", "0")
try:
    if _NO_ACCEL:
        raise ImportError("AUDIOFMT_NO_ACCEL is set")
    import orjson

    _orjson_loads: Callable[[Any], Any] = orjson.loads
    _OrjsonError: type[Exception] = orjson.JSONDecodeError

    def _has_float(value: Any) -> bool:
        """True if a float is anywhere in this parsed JSON value."""
        stack = [value]
        while stack:
            item = stack.pop()
            kind = type(item)
            if kind is dict:
                stack.extend(item.values())
            elif kind is list:
                stack.extend(item)
            elif kind is float:
                return True
        return False

    def loads(text: str | bytes | bytearray) -> Any:
        """json.loads(text), faster where orjson accepts the text (see the module doc)."""
        try:
            value = _orjson_loads(text)
        except _OrjsonError:
            return _json_loads(text)
        if type(value) is dict:  # the usual event: the types of its values, at C speed
            kinds = set(map(type, value.values()))
            if float in kinds or ((dict in kinds or list in kinds) and _has_float(value)):
                return _json_loads(text)
            return value
        return _json_loads(text) if _has_float(value) else value

    first_loads: Callable[[Any], Any] = _orjson_loads
    _accelerated.append(f"orjson {orjson.__version__}")
except ImportError:  # pragma: no cover - exercised by the no-accelerator test run
    loads = first_loads = _json_loads  # type: ignore[assignment]

try:
    if _NO_ACCEL:
        raise ImportError("AUDIOFMT_NO_ACCEL is set")
    import pybase64

    _pb_decode: Callable[..., bytes] = pybase64.b64decode
    b64encode: Callable[[bytes | memoryview], str] = pybase64.b64encode_as_string

    def b64decode_strict(text: str) -> bytes:
        """Strict standard base64 → bytes (binascii strict mode's rules, see the module doc)."""
        try:
            return _pb_decode(text, validate=True)
        except ValueError:
            return _stdlib_b64decode(text)

    first_b64decode: Callable[[str], bytes] = partial(_pb_decode, validate=True)
    _accelerated.append(f"pybase64 {pybase64.__version__}")
except ImportError:  # pragma: no cover - exercised by the no-accelerator test run
    b64decode_strict = first_b64decode = _stdlib_b64decode
    b64encode = _stdlib_b64encode

ACCELERATED: tuple[str, ...] = tuple(_accelerated)

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_LAST_OF_ONE = frozenset(_ALPHABET[::16])  # the 2nd character of a group coding 1 byte ("xY==")
_LAST_OF_TWO = frozenset(_ALPHABET[::4])  # the 3rd character of a group coding 2 bytes ("xyZ=")


def canonical_b64(text: str, n_bytes: int) -> bool:
    """True if `text` (valid base64 decoding to n_bytes) equals b64encode of those bytes."""
    if len(text) != 4 * -(-n_bytes // 3):
        return False
    tail = n_bytes % 3
    if tail == 1:
        return text[-3] in _LAST_OF_ONE
    if tail == 2:
        return text[-2] in _LAST_OF_TWO
    return True

