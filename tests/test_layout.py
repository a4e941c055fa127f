"""The package's layout: lazy imports, and module paths from before the regrouping still working."""

import importlib
import subprocess
import sys

import pytest


def _fresh(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_import_audiofmt_loads_no_numba():
    assert _fresh("import sys, audiofmt; print('numba' in sys.modules)") == "False"


@pytest.mark.parametrize("module", ["audiofmt.bridge.rtp", "audiofmt.bridge.jitter", "audiofmt.realtime.session", "audiofmt.realtime.events"])
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
