"""Realtime sessions: the session object (session.py), client/server events (events.py), and the
streams between audio and events (streams.py: InputEncoder, OutputDecoder, AppendChunker).

Loaded lazily: `Session` and the events need no numba; the streams load the kernels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

__all__ = ["Session", "SessionError", "InputEncoder", "OutputDecoder", "AppendChunker"]

_LAZY = {
    "Session": "session",
    "SessionError": "session",
    "InputEncoder": "streams",
    "OutputDecoder": "streams",
    "AppendChunker": "streams",
}

if TYPE_CHECKING:
    from .session import Session, SessionError
    from .streams import AppendChunker, InputEncoder, OutputDecoder

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
