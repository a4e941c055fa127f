"""Resampling plans: which stages take one rate to another at a quality preset.

A stage is a zero-phase low-pass with a rate change (half-band 2:1 or 1:2, polyphase L/M, or
the FFT engine). The built-in presets: hq and vhq are half-band 2:1 stages while the rate is
>= 3 × the output rate, then the overlap-save FFT engine, then half-band 1:2 stages while the
output rate is >= 3 × the FFT stage's (8k -> 24k: FFT 8k -> 12k, half-band 12k -> 24k);
low_latency is one polyphase stage.
The multi-stage FIR chains below (a steep half-band with a transition centred on N) serve a
custom `Quality` whose transition is symmetric about N; `plan()` picks the cheapest of a few
such chain shapes by a cost model calibrated on the kernels. Plans depend on nothing but their
arguments, so every machine resamples with the same filters and gets the same samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from math import gcd

from .filters import Quality, kaiser_length

__all__ = ["output_length", "Stage", "plan"]


def output_length(n_in: int, in_rate: int, out_rate: int) -> int:
    """Output samples for `n_in` input samples: round-half-up(n_in * out_rate / in_rate)."""
    return (2 * n_in * out_rate + in_rate) // (2 * in_rate)


@dataclass(frozen=True)
class Stage:
    """One step of a resampling chain: `kind` "halfband" (2:1), "interpolate" (1:2), "polyphase"
    (L/M) or "fft".

    The low-pass has its −6 dB point at `cutoff_hz` and a transition band `transition_hz`
    wide centred on it (both in Hz at the stage's rates).
    """

    kind: str
    in_rate: int
    out_rate: int
    cutoff_hz: float
    transition_hz: float


def _halfband(rate: int, passband_hz: float) -> Stage:
    """2:1 half-band stage at `rate` that is flat to passband_hz (and stops from rate/2 - passband_hz)."""
    return Stage("halfband", rate, rate // 2, rate / 4, rate / 2 - 2 * passband_hz)


def _interpolator(rate: int, passband_hz: float) -> Stage:
    """1:2 half-band stage to `rate` that is flat to passband_hz (and stops the images from
    rate/2 - passband_hz): the mirror image of _halfband."""
    return Stage("interpolate", rate // 2, rate, rate / 4, rate / 2 - 2 * passband_hz)


def _wide(in_rate: int, out_rate: int, passband_hz: float, stopband_hz: float) -> Stage:
    """Polyphase stage with a wide transition from passband_hz to stopband_hz: one that sits
    beside a steep half-band stage, which alone shapes the chain's transition band, so it only
    has to be flat where the chain is and keep images and aliases out of 0 .. stopband.

    An upsampling stage whose band allows it gets its cutoff at exactly in_rate / 2 (the
    transition centred there), so that one phase in L is a plain copy of the input."""
    if in_rate < out_rate and in_rate - stopband_hz >= passband_hz:
        return Stage("polyphase", in_rate, out_rate, in_rate / 2, 2 * stopband_hz - in_rate)
    return Stage("polyphase", in_rate, out_rate, (passband_hz + stopband_hz) / 2, stopband_hz - passband_hz)


# The cost model that picks a chain: ns per output sample of each kernel on x86-64 with AVX2
# in float32 (bench/compare_resample.py's machine), as (fixed part, part per multiply-add).
# A polyphase stage that reads many interleaved input planes (M >= 16) misses cache more.
# Every intermediate sample costs its write, read and bookkeeping besides.
_NS_PER_OUTPUT = {"halfband": (2.0, 0.065), "interpolate": (0.9, 0.04), "polyphase": (1.3, 0.045)}
_NS_PER_OUTPUT_MANY_PLANES = (2.7, 0.08)
_NS_PER_INTERMEDIATE = 1.6


def _cost(stages: Sequence[Stage], quality: Quality) -> float:
    """Estimated time of a chain, ns per input sample (float32, the design for float32)."""
    attenuation = quality.attenuation_for("f")
    cost, in_rate = 0.0, stages[0].in_rate
    for i, stage in enumerate(stages):
        common = gcd(stage.in_rate, stage.out_rate)
        l, m = stage.out_rate // common, stage.in_rate // common
        if stage.kind == "polyphase":
            taps = kaiser_length(attenuation, stage.transition_hz / (stage.in_rate * l))
            computed = (l - 1) / l if 2 * stage.cutoff_hz == stage.in_rate and l > 1 else 1.0
            fixed, per_tap = _NS_PER_OUTPUT_MANY_PLANES if m >= 16 else _NS_PER_OUTPUT["polyphase"]
            per_output = fixed + per_tap * -(-taps // l // 4) * 4 * computed
        else:  # half-band: the odd taps
            rate = max(stage.in_rate, stage.out_rate)
            odd_taps = (kaiser_length(attenuation, stage.transition_hz / rate) // 2 + 2) // 2
            fixed, per_tap = _NS_PER_OUTPUT[stage.kind]
            per_output = fixed + per_tap * odd_taps
        cost += per_output * stage.out_rate / in_rate
        if i < len(stages) - 1:
            cost += _NS_PER_INTERMEDIATE * stage.out_rate / in_rate
    return cost


@lru_cache(maxsize=256)
def plan(in_rate: int, out_rate: int, quality: Quality) -> tuple[Stage, ...]:
    """The stages that take in_rate to out_rate Hz at `quality`.

    FIR presets choose the cheapest (by `_cost`) of a few chain shapes, every one of which keeps
    the preset's response: flat to passband_end × N, rejecting from stopband_begin × N on.
    - Downsampling: half-band 2:1 stages while the rate can halve and stay >= out_rate (the
      one landing on out_rate is the steep filter itself; earlier ones only keep 0 .. stopband
      free of aliases, so they are short), then either one polyphase stage to out_rate, or a
      short (wide-transition) polyphase stage to 2 × out_rate and the steep half-band.
    - Upsampling: one polyphase stage, or a steep 1:2 half-band interpolator and a short
      polyphase stage from 2 × in_rate.
    A preset with a latency cap gets one polyphase stage. The fft preset: half-band stages
    while the rate is >= 3 × out_rate, then the overlap-save engine, then half-band 1:2 stages
    while out_rate is >= 3 × the rate they start from (the mirror image).
    """
    nyquist = min(in_rate, out_rate) / 2
    passband, stopband = quality.passband_end * nyquist, quality.stopband_begin * nyquist
    cutoff = nyquist if quality.symmetric else (passband + stopband) / 2

    def steep(kind: str, from_rate: int, to_rate: int) -> Stage:
        """The stage that shapes the chain's transition band."""
        return Stage(kind, from_rate, to_rate, cutoff, stopband - passband)

    if quality.engine == "fft":
        stages, rate = [], in_rate
        while rate % 2 == 0 and rate >= 3 * out_rate:
            stages.append(_halfband(rate, stopband))
            rate //= 2
        top, suffix = out_rate, []  # upsampling: 1:2 half-band stages after the FFT stage, likewise
        while top % 2 == 0 and top >= 3 * rate:
            suffix.append(_interpolator(top, stopband))
            top //= 2
        return (*stages, steep("fft", rate, top), *reversed(suffix))
    if quality.max_latency_ms is not None or not quality.symmetric:
        return (steep("polyphase", in_rate, out_rate),)
    candidates: list[list[Stage]] = []
    if in_rate < out_rate:
        candidates.append([steep("polyphase", in_rate, out_rate)])
        up = 2 * in_rate
        interpolate = steep("interpolate", in_rate, up)
        if up == out_rate:
            candidates.append([interpolate])
        elif min(up, out_rate) - stopband > stopband:
            candidates.append([interpolate, _wide(up, out_rate, passband, min(up, out_rate) - stopband)])
    else:
        prefix: list[Stage] = []
        rate = in_rate
        while True:
            if rate // 2 == out_rate and rate % 2 == 0:
                candidates.append([*prefix, steep("halfband", rate, out_rate)])
                break
            candidates.append([*prefix, steep("polyphase", rate, out_rate)])
            if 2 * out_rate - stopband > stopband:
                candidates.append([
                    *prefix,
                    _wide(rate, 2 * out_rate, passband, 2 * out_rate - stopband),
                    steep("halfband", 2 * out_rate, out_rate),
                ])
            if rate % 2 or rate // 2 < out_rate or rate / 2 - stopband <= stopband:
                break
            prefix.append(_halfband(rate, stopband))
            rate //= 2
    costs = [_cost(chain, quality) for chain in candidates]
    return tuple(candidates[costs.index(min(costs))])  # the first of equal costs
