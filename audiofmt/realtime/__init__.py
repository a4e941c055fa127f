"""Realtime sessions: the session object (session.py), client/server events (events.py), and the
streams between audio and events (streams.py: InputEncoder, OutputDecoder, AppendChunker).

Loaded lazily: `Session` and the events need no numba; the streams load the kernels.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{module_name}", __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)
