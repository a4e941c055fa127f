"""What `audiofmt convert` of a 1 s file spends before its first sample, numba's cache warm.

    .venv/bin/python bench/startup.py [--repeat 7] [--no-scipy]

Fresh processes, best of --repeat (the minimum is the least disturbed by other load):
- the whole `python -m audiofmt convert one_second.wav -o /dev/null --to F` (1 s of 44.1 kHz
  stereo: nearly all of it is start-up), for pcm16 (the FFT engine alone: numba is not loaded)
  and g711_ulaw (a half-band stage first: numba kernels), and 1 s of 8 kHz stereo to g711_ulaw
  (no resampling: numba is not loaded at all);
- the floor under it: `python -c pass`, importing numpy, importing numba, and numba's CPU
  target initialisation (its typing and lowering registries, which numba's own loading of a
  first kernel triggers, whatever the kernel; audiofmt's loading from the cache skips it:
  kernels.load_or_compile), for comparison;
- the kernel signatures a conversion loads (deterministic: a count, not a time).
--no-scipy hides SciPy from the measured processes, as in an install without it: numba
imports scipy.linalg while initialising its target when SciPy is present. (The command line
itself hides SciPy from numba's checks, so this changes only the floor's rows.)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile

HIDE_SCIPY = "import sys; sys.modules['scipy'] = None\n"
STAGES = {
    "python -c pass": "pass",
    "import numpy": "import numpy",
    "import numpy, numba": "import numpy, numba",
    "numpy, numba + target init": "import numpy, numba\n"
    "from numba.core.registry import cpu_target\ncpu_target.target_context.refresh()",
}
COUNT = """
import sys
from audiofmt.cli import main
main(["convert", {path!r}, "-o", "/dev/null", "--container", "raw", "--to", {to!r}, "-q"])
used_numba = "numba" in sys.modules
from audiofmt.kernels import LazyKernel, g711, pcm
kernels = [k for m in (g711, pcm) for k in vars(m).values() if isinstance(k, LazyKernel)]
loaded = sum(len(k._dispatcher.overloads) for k in kernels if k._dispatcher is not None)
print(loaded, sum(len(k.signatures) for k in kernels), used_numba)
"""


def best(argv: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-scipy", action="store_true", help="hide SciPy from the measured processes")
    args = parser.parse_args()
    prefix = HIDE_SCIPY if args.no_scipy else ""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "one_second.wav")
        t = np.arange(44100) / 44100
        soundfile.write(path, np.stack([0.5 * np.sin(2 * np.pi * 440 * t)] * 2, axis=1), 44100, subtype="PCM_16")
        path_8k = os.path.join(tmp, "one_second_8k.wav")
        t = np.arange(8000) / 8000
        soundfile.write(path_8k, np.stack([0.5 * np.sin(2 * np.pi * 440 * t)] * 2, axis=1), 8000, subtype="PCM_16")
        run = [sys.executable, "-c", prefix + "from audiofmt.cli import main; import sys; sys.exit(main())"]
        subprocess.run([*run, "convert", path, "-o", "/dev/null", "--container", "raw", "--to", "g711_ulaw", "-q"], check=True)  # warm
        print(f"best of {args.repeat} fresh processes{' (SciPy hidden)' if args.no_scipy else ''}; load average {os.getloadavg()[0]:.1f}")
        for name, code in STAGES.items():
            print(f"  {name:<40} {best([sys.executable, '-c', prefix + code], args.repeat):6.3f} s")
        for label, source, to in (("44.1", path, "pcm16"), ("44.1", path, "g711_ulaw"), ("8", path_8k, "g711_ulaw")):
            seconds = best([*run, "convert", source, "-o", "/dev/null", "--container", "raw", "--to", to, "-q"], args.repeat)
            counted = subprocess.run([sys.executable, "-c", prefix + COUNT.format(path=source, to=to)],
                                     check=True, capture_output=True, text=True).stdout.split()
            loaded = f"{counted[0]} of {counted[1]}" if counted[2] == "True" else "none: numba not loaded"
            print(f"  audiofmt convert 1 s {label:>4} kHz stereo -> {to:<9} {seconds:6.3f} s   "
                  f"(G.711/PCM kernel signatures loaded: {loaded})")


if __name__ == "__main__":
    main()
