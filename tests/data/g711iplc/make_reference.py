"""Regenerate the reference outputs in this folder with the ITU-T reference program.

    AUDIOFMT_G711IPLC_PROGRAM=/path/to/g711iplc .venv/bin/python tests/data/g711iplc/make_reference.py

`g711iplc` is the STL (ITU-T G.191) program of G.711 Appendix I (src/g711iplc: g711iplc.c,
lowcfe.c, plcferio.c with src/eid/softbit.c), compiled with `-DUSEDOUBLES` as the shared
vectors were (check first that it reproduces shared/g711iplc/f2_10.raw and f2_10_2.raw). Each
case is a stretch of fixtures/speech_8k.wav run as a stream of its own (the concealer starts
from silence at the stretch's first sample) with a loss pattern chosen for the long-loss
branches the shared vectors (10 and 20 ms losses only) never reach. Writes, per case,
`<name>.g192` (one word per 10 ms: 0x6B21 received, 0x6B20 lost) and `<name>.raw` (the
program's output, int16 little-endian, as long as the stretch).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
SPEECH = HERE.parent.parent.parent / "fixtures" / "speech_8k.wav"
UNIT = 80  # 10 ms


def lost_units(n: int, *runs: tuple[int, int]) -> np.ndarray:
    """n 10 ms units, those in each [start, stop) lost."""
    lost = np.zeros(n, dtype=bool)
    for start, stop in runs:
        lost[start:stop] = True
    return lost


# name: (first 10 ms unit of the stretch in speech_8k.wav, loss pattern over the stretch)
CASES: dict[str, tuple[int, np.ndarray]] = {
    # voiced onset: 20 ms lost before any good frame (the start of the stream), a 60 ms loss
    # over loud vowels (1, 2, 3 periods; the fade down to gain 0), a 20 ms loss 20 ms later.
    # Whole 20 ms frames only, so 20 ms framing is checked on it too.
    "start_60ms": (8, lost_units(26, (0, 2), (6, 12), (14, 16))),
    # loud voiced speech: 100 ms (silence from the 7th lost 10 ms, recovery with gain 0 over
    # 80 samples), one good 10 ms, 30 ms, one good 10 ms, 10 ms.
    "mute_100ms_b2b": (176, lost_units(26, (4, 14), (15, 18), (19, 20))),
    # digital near-silence (|x| <= 1, the pitch search's energy floor) then an onset: 20 ms
    # lost in silence, 40 ms lost across the onset. Whole 20 ms frames only.
    "silence_onset": (140, lost_units(26, (2, 4), (10, 14))),
    # a loud vowel whose pitch is exactly 80 samples: at the third lost 10 ms the read position
    # is exactly one period in (80 + 80 = 160 in a 2-period segment), which is kept, not wrapped.
    # Whole 20 ms frames only.
    "pitch80_40ms": (229, lost_units(16, (6, 10))),
}


def stretch(x: np.ndarray, first_unit: int, n_units: int) -> np.ndarray:
    return x[first_unit * UNIT : (first_unit + n_units) * UNIT].astype(np.int16)


def to_g192(lost: np.ndarray) -> bytes:
    return np.where(lost, 0x6B20, 0x6B21).astype("<u2").tobytes()


def run_reference(program: str, x: np.ndarray, lost: np.ndarray) -> np.ndarray:
    """The reference program's output for x (whole 10 ms units) and one pattern word per unit."""
    with tempfile.TemporaryDirectory() as d:
        pattern, src, dst = Path(d, "p.g192"), Path(d, "in.raw"), Path(d, "out.raw")
        pattern.write_bytes(to_g192(lost))
        src.write_bytes(x.astype("<i2").tobytes())
        subprocess.run([program, str(pattern), str(src), str(dst)], check=True, capture_output=True)
        return np.frombuffer(dst.read_bytes(), dtype="<i2").astype(np.int16)


def main() -> int:
    program = os.environ.get("AUDIOFMT_G711IPLC_PROGRAM")
    if not program:
        print("set AUDIOFMT_G711IPLC_PROGRAM to the compiled g711iplc", file=sys.stderr)
        return 2
    x, rate = sf.read(SPEECH, dtype="int16")
    assert rate == 8000 and x.ndim == 1
    for name, (first, lost) in CASES.items():
        y = run_reference(program, stretch(x, first, len(lost)), lost)
        assert len(y) == len(lost) * UNIT
        (HERE / f"{name}.g192").write_bytes(to_g192(lost))
        (HERE / f"{name}.raw").write_bytes(y.astype("<i2").tobytes())
        print(f"{name}: units {first}..{first + len(lost) - 1}, {int(lost.sum())} of {len(lost)} lost")
    return 0


if __name__ == "__main__":
    sys.exit(main())
