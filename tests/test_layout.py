"""The package's layout: lazy imports, and module paths from before the regrouping still working."""

import importlib
import subprocess
import sys

import pytest


def _fresh(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_import_audiofmt_loads_no_numba():
    assert _fresh("import sys, audiofmt; print('numba' in sys.modules)") == "False"


@pytest.mark.parametrize(
    "module",
    ["audiofmt.bridge.rtp", "audiofmt.bridge.jitter", "audiofmt.realtime.session", "audiofmt.realtime.events",
     "audiofmt.codecs", "audiofmt.resampler", "audiofmt.files.convert", "audiofmt.kernels.pcm", "audiofmt.kernels.g711"],
)
def test_numba_free_modules_load_no_numba(module):
    assert _fresh(f"import sys, {module}; print('numba' in sys.modules)") == "False"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("audiofmt.session", "audiofmt.realtime.session"),
        ("audiofmt.events", "audiofmt.realtime.events"),
        ("audiofmt.sources", "audiofmt.files.sources"),
        ("audiofmt.sinks", "audiofmt.files.sinks"),
        ("audiofmt.batch", "audiofmt.files.batch"),
        ("audiofmt.filters", "audiofmt.resampler.filters"),
    ],
)
def test_old_module_paths_are_the_new_modules(old, new):
    import audiofmt

    assert importlib.import_module(old) is importlib.import_module(new)
    assert getattr(audiofmt, old.rsplit(".", 1)[1]) is importlib.import_module(new)


def test_public_names_resolve():
    import audiofmt

    for name in audiofmt.__all__:
        assert getattr(audiofmt, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        audiofmt.nope  # noqa: B018


def _package_modules() -> list[str]:
    import pkgutil

    import audiofmt

    names = [m.name for m in pkgutil.walk_packages(audiofmt.__path__, "audiofmt.")]
    return [n for n in names if not n.endswith("__main__")]


def test_every_exception_class_lives_in_errors_and_is_exported():
    """One hierarchy: every public error audiofmt defines (an Exception subclass) is in errors.py,
    derives from AudioFormatError (warnings from UserWarning) and is exported from audiofmt.
    Signals turned into exceptions (BaseException, like KeyboardInterrupt) are not errors."""
    import inspect

    import audiofmt
    import audiofmt.errors

    for name in _package_modules():
        try:
            module = importlib.import_module(name)
        except ImportError:  # an optional extra that is not installed
            continue
        for attr, obj in vars(module).items():
            if not (inspect.isclass(obj) and issubclass(obj, Exception)) or attr.startswith("_"):
                continue
            if obj.__module__.startswith("audiofmt"):
                assert obj.__module__ == "audiofmt.errors", f"{name}.{attr} is defined in {obj.__module__}"
    for attr, obj in vars(audiofmt.errors).items():
        if inspect.isclass(obj) and issubclass(obj, Exception) and obj.__module__ == "audiofmt.errors":
            assert attr in audiofmt.errors.__all__ and attr in audiofmt.__all__, attr
            assert issubclass(obj, UserWarning) or issubclass(obj, audiofmt.AudioFormatError), attr


def test_kernels_compile_nothing_at_import():
    """One compile style: every kernel is compiled (or loaded from the cache) on first use, never
    when its module is imported (inline helpers without signatures compile inside their callers).
    Checked in a fresh process, where no test has used a kernel yet."""
    code = """
import importlib, pkgutil
from numba.core.dispatcher import Dispatcher
import audiofmt.kernels
names = [info.name for info in pkgutil.iter_modules(audiofmt.kernels.__path__)]
assert {"g711", "pcm", "plc", "polyphase", "spectrum"} <= set(names), names
for name in names:
    module = importlib.import_module(f"audiofmt.kernels.{name}")
    eager = [a for a, v in vars(module).items() if isinstance(v, Dispatcher) and v.overloads]
    assert not eager, f"audiofmt.kernels.{name} compiles at import: {eager}"
"""
    subprocess.run([sys.executable, "-c", code], check=True)


_KERNEL_RESULTS = """
import hashlib, sys
import numpy as np
import audiofmt.kernels
if sys.argv[1] == "numba":  # numba's own loading (its CPU target initialised first), for comparison
    audiofmt.kernels._load_cached = lambda dispatcher, signature: False
from audiofmt.kernels import LazyKernel, g711, pcm, plc, polyphase, spectrum
for module in (g711, pcm, plc, spectrum):
    for kernel in vars(module).values():
        if isinstance(kernel, LazyKernel):
            for index in range(len(kernel.signatures)):
                kernel.entry(index)
for kernel in (polyphase.polyphase, polyphase.halfband_decimate, polyphase.halfband_interpolate):
    for code in "fd":
        polyphase.compiled(kernel, code)
import audiofmt
x = np.random.default_rng(7).standard_normal(48000).astype(np.float32) * 0.3
digest = hashlib.sha256()
for y in (audiofmt.resample(x, 48000, 8000), audiofmt.resample(x, 8000, 24000, "low_latency"),
          audiofmt.resample(x.astype(np.float64), 44100, 24000), audiofmt.resample(x, 48000, 16000, "vhq"),
          audiofmt.float_to_int16(x)[0], np.frombuffer(audiofmt.encode(x, "g711_alaw"), np.uint8)):
    digest.update(np.ascontiguousarray(y).tobytes())
print(digest.hexdigest(), "numba.np.arraymath" in sys.modules)
"""


def test_cached_kernels_load_without_initialising_numba_target():
    """A process whose kernels are all in numba's on-disk cache loads them without numba's
    typing and lowering registries (kernels.load_or_compile: most of a short conversion's
    start-up), and computes exactly what numba's own cache loading gives."""
    run = [sys.executable, "-c", _KERNEL_RESULTS]
    ours_first = subprocess.run([*run, "audiofmt"], capture_output=True, text=True, check=True).stdout.split()
    numba_way = subprocess.run([*run, "numba"], capture_output=True, text=True, check=True).stdout.split()
    ours = subprocess.run([*run, "audiofmt"], capture_output=True, text=True, check=True).stdout.split()
    import numba

    from audiofmt.kernels import _FAST_LOAD_NUMBA

    fast = numba.__version__.startswith(_FAST_LOAD_NUMBA)  # another numba: its own loading, the same code
    assert numba_way[1] == "True"  # numba's loading initialises its target (imports its registries)
    assert ours == [numba_way[0], "False" if fast else "True"]  # the cache is warm by now: nothing was initialised
    assert ours_first[0] == ours[0]
