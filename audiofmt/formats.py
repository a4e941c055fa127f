"""The codec registry: the three Realtime session audio formats as data.

Every place that needs to know how a format is coded, at what rate, or how many bytes a
millisecond takes asks this registry; nothing else branches on format names.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidDataError, UnknownFormatError

__all__ = ["AudioFormat", "FORMATS", "get_format"]


@dataclass(frozen=True)
class AudioFormat:
    """One session audio format.

    `codec` names the sample coding ("pcm_s16le", "ulaw", "alaw"); `ga_type` is the format's
    `type` in the GA session shape (`session.audio.input.format.type`).
    """

    name: str
    codec: str
    rate_hz: int
    bytes_per_sample: int
    ga_type: str

    @property
    def samples_per_ms(self) -> int:
        """Samples in one millisecond (exact: every registered rate is a multiple of 1000 Hz)."""
        return self.rate_hz // 1000

    @property
    def bytes_per_ms(self) -> int:
        """Bytes in one millisecond of this format."""
        return self.samples_per_ms * self.bytes_per_sample

    def n_samples(self, n_bytes: int) -> int:
        """Samples in `n_bytes` bytes; raises InvalidDataError if that is not a whole number."""
        if n_bytes % self.bytes_per_sample:
            raise InvalidDataError(
                f"{self.name} data must be a whole number of {self.bytes_per_sample}-byte samples; "
                f"got {n_bytes} bytes"
            )
        return n_bytes // self.bytes_per_sample

    def n_bytes(self, n_samples: int) -> int:
        """Bytes taken by `n_samples` samples."""
        return n_samples * self.bytes_per_sample

    def ms_to_samples(self, duration_ms: int) -> int:
        """Samples in `duration_ms` whole milliseconds (exact)."""
        return duration_ms * self.samples_per_ms

    def samples_to_ms(self, n_samples: int) -> int:
        """Whole milliseconds covered by `n_samples`, rounded down (never claims more than heard)."""
        return n_samples // self.samples_per_ms


FORMATS: dict[str, AudioFormat] = {
    f.name: f
    for f in (
        AudioFormat("pcm16", "pcm_s16le", 24000, 2, "audio/pcm"),
        AudioFormat("g711_ulaw", "ulaw", 8000, 1, "audio/pcmu"),
        AudioFormat("g711_alaw", "alaw", 8000, 1, "audio/pcma"),
    )
}


def get_format(name: str | AudioFormat) -> AudioFormat:
    """The registered format called `name` (an AudioFormat passes through unchanged)."""
    if isinstance(name, AudioFormat):
        return name
    try:
        return FORMATS[name]
    except (KeyError, TypeError):
        valid = ", ".join(repr(n) for n in FORMATS)
        raise UnknownFormatError(f"unknown audio format {name!r}; expected one of {valid}") from None
