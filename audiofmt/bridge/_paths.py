"""The Twilio core's audio paths: the phone's μ-law to the session's input format and the
session's output format back to μ-law, each chosen from the session (pass-through, G.711 table,
or a fused/streaming low_latency resampler)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..codecs import decode, encode, int16_to_float, round_to_int16, transcode
from ..formats import AudioFormat
from ..realtime.session import Session
from ..resampler.core import Resampler
from .messages import PHONE

if TYPE_CHECKING:
    from ._fused import FusedPath


class _AudioPaths:
    """Mixed into TwilioMediaStream: `_setup_paths()` after every session change."""

    session: Session
    _up: FusedPath | Resampler | None
    _down: FusedPath | Resampler | None

    def _setup_paths(self) -> None:
        self._in_format: AudioFormat = self.session.input_format
        self._out_format: AudioFormat = self.session.output_format
        self._ulaw_in = self._in_format is PHONE  # the phone's base64 text goes to the model as it is
        self._ulaw_out = self._out_format is PHONE
        self._up = self._new_path(PHONE, self._in_format)
        self._down = self._new_path(self._out_format, PHONE)

    @staticmethod
    def _new_path(src: AudioFormat, dst: AudioFormat) -> FusedPath | Resampler | None:
        """A fresh resampling path src → dst (low_latency): fused into one kernel call per message
        where the resampler's plan allows it; None where both are 8 kHz (no rate change)."""
        if src.rate_hz == dst.rate_hz:
            return None
        from ._fused import fused_path

        fused = fused_path(src, dst, "low_latency")
        return fused if fused is not None else Resampler(src.rate_hz, dst.rate_hz, "low_latency")

    def _phone_to_model(self, ulaw: bytes) -> bytes | memoryview:
        """The session's input bytes for this μ-law (a fused path's view: use it before the next call)."""
        up = self._up
        if up is None:
            return ulaw if self._ulaw_in else transcode(ulaw, PHONE, self._in_format)
        if not isinstance(up, Resampler):
            return up.process_view(ulaw)  # the fused path
        resampled = up.process_decoded(int16_to_float(decode(ulaw, PHONE)))
        return encode(round_to_int16(resampled)[0], self._in_format)

    def _model_to_phone(self, data: bytes, final: bool = False) -> bytes | memoryview:
        """μ-law bytes for the session's output bytes (a fused path's view: use it before the next call)."""
        down = self._down
        if down is None:
            return data if self._ulaw_out else transcode(data, self._out_format, PHONE)
        if not isinstance(down, Resampler):  # the fused path
            if not final:
                return down.process_view(data)
            out = down.process(data) if data else b""
            out += down.flush()
            self._down = self._new_path(self._out_format, PHONE)
            return out
        resampled = down.process_decoded(int16_to_float(decode(data, self._out_format)))
        if final:
            resampled = np.concatenate((resampled, down.flush()))
            self._down = self._new_path(self._out_format, PHONE)
        return encode(round_to_int16(resampled)[0], PHONE)
