"""Session-aware streams, at their first import path: InputEncoder (audio → append events, in
`encoder`) and OutputDecoder (deltas → audio, in `decoder`)."""

from .decoder import OutputDecoder
from .encoder import AppendChunker, InputEncoder

__all__ = ["InputEncoder", "OutputDecoder", "AppendChunker"]
