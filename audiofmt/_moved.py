"""Module paths from before the regrouping into subpackages, kept importable.

`import audiofmt.session` (and `events`, `sources`, `sinks`, `batch`, `filters`) still works: a
meta-path finder hands out the module at its new place, so old and new names are the same module
object. Nothing is imported until such a name is asked for.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

# old name under audiofmt -> where the module lives now
MOVED_MODULES = {
    "session": "realtime.session",
    "events": "realtime.events",
    "sources": "files.sources",
    "sinks": "files.sinks",
    "batch": "files.batch",
    "filters": "resampler.filters",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        """The target module ran when it was imported; nothing more to do."""


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package != __package__ or name not in MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(f"{__package__}.{MOVED_MODULES[name]}"))


def install_aliases() -> None:
    """Put the finder on sys.meta_path once (idempotent)."""
    if not any(isinstance(finder, _AliasFinder) for finder in sys.meta_path):
        sys.meta_path.append(_AliasFinder())
