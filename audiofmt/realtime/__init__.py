"""Realtime sessions: the session object (session.py), client/server events (events.py), and the
streams between audio and events (encoder.py: InputEncoder, AppendChunker; decoder.py:
OutputDecoder; streams.py keeps their first import path).

Loaded lazily: `Session` and the events need no numba; the streams load the kernels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

__all__ = ["Session", "SessionError", "InputEncoder", "OutputDecoder", "AppendChunker"]

_LAZY = {
    "Session": "session",
    "SessionError": "session",
    "InputEncoder": "encoder",
    "OutputDecoder": "decoder",
    "AppendChunker": "encoder",
}

if TYPE_CHECKING:
    from .decoder import OutputDecoder
    from .encoder import AppendChunker, InputEncoder
    from .session import Session, SessionError

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
