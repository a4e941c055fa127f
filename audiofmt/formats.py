"""The codec registry: the three Realtime session audio formats as data.

Every place that needs to know how a format is coded, at what rate, or how many bytes a
millisecond takes asks this registry; nothing else branches on format names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .errors import AudioFormatError, InvalidDataError, InvalidRateError, UnknownFormatError

__all__ = ["AudioFormat", "FORMATS", "get_format", "format_from_ga", "format_to_ga"]


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
        shown = repr(name) if isinstance(name, str) else f"{type(name).__name__} value"  # repr of a huge int can fail
        raise UnknownFormatError(f"unknown audio format {shown[:80]}; expected one of {valid}") from None


# GA session format objects: {"type": "audio/pcm", "rate": 24000}, {"type": "audio/pcmu"}, ...
_BY_GA_TYPE: dict[str, AudioFormat] = {f.ga_type: f for f in FORMATS.values()}
_GA_RATED_TYPES = frozenset({"audio/pcm"})  # GA types whose objects carry a "rate" field
_GA_TYPES = "one of " + ", ".join(repr(t) for t in _BY_GA_TYPE)
_GA_KEYS = ("type", "rate")


def _ga_format_problem(obj: object) -> tuple[AudioFormat | None, tuple[str, object, str] | None]:
    """(format, None) for a valid GA format object, else (None, (key at fault, value, allowed))."""
    if not isinstance(obj, Mapping):
        return None, ("", obj, f"an object {{'type': ...}} with type {_GA_TYPES}")
    unknown = [k for k in obj if k not in _GA_KEYS]
    if unknown:
        return None, (str(unknown[0]), obj[unknown[0]], "only the keys 'type' and 'rate'")
    ga_type = obj.get("type")
    fmt = _BY_GA_TYPE.get(ga_type) if isinstance(ga_type, str) else None
    if fmt is None:
        return None, ("type", ga_type, _GA_TYPES)
    rate = obj.get("rate", fmt.rate_hz)
    if type(rate) is not int or rate != fmt.rate_hz:
        return None, ("rate", rate, f"{fmt.rate_hz} for {fmt.ga_type!r} (or no rate)")
    return fmt, None


def format_from_ga(obj: object) -> AudioFormat:
    """The registered format for a GA session format object such as `{"type": "audio/pcmu"}`.

    Raises UnknownFormatError for a bad `type`, InvalidRateError for a `rate` other than the
    format's own, and AudioFormatError for anything that is not such an object.
    """
    if isinstance(obj, AudioFormat):
        return obj
    fmt, problem = _ga_format_problem(obj)
    if fmt is not None:
        return fmt
    assert problem is not None
    key, value, allowed = problem
    error = {"type": UnknownFormatError, "rate": InvalidRateError}.get(key, AudioFormatError)
    try:
        shown = repr(value)
    except ValueError:  # an int too long to print
        shown = f"<{type(value).__name__}>"
    where = f"field {key!r} = {shown}" if key else shown
    raise error(f"GA audio format {where} is not allowed; expected {allowed}")


def format_to_ga(fmt: str | AudioFormat) -> dict[str, object]:
    """The GA session format object for `fmt`: `{"type": ...}`, plus `"rate"` where GA carries one."""
    fmt = get_format(fmt)
    if fmt.ga_type in _GA_RATED_TYPES:
        return {"type": fmt.ga_type, "rate": fmt.rate_hz}
    return {"type": fmt.ga_type}
