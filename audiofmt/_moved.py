"""Names from before the regrouping into subpackages and the API's naming pass, kept working.

`import audiofmt.session` (and `events`, `sources`, `sinks`, `batch`, `filters`) still works: a
meta-path finder hands out the module at its new place, so old and new names are the same module
object. Nothing is imported until such a name is asked for. Renamed keyword arguments
(`rate=` → `rate_hz=`) keep working through `renamed_keywords`, with a DeprecationWarning.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])

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


def renamed_keywords(**old_to_new: str) -> Callable[[F], F]:
    """Keep old keyword names of a function working: `@renamed_keywords(rate="rate_hz")` maps
    `rate=` to `rate_hz=` with a DeprecationWarning; giving both is a TypeError."""

    def wrap(func: F) -> F:
        @functools.wraps(func)
        def call(*args: Any, **kwargs: Any) -> Any:
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{func.__qualname__}() got both {old}= and {new}=; {old} is the old name of {new}")
                    warnings.warn(f"{func.__qualname__}(): {old}= is now {new}=", DeprecationWarning, stacklevel=2)
                    kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        return cast(F, call)

    return wrap


class RenamedAttribute:
    """A read-only alias under an attribute's old name: `rate = RenamedAttribute("rate_hz")` in a
    class body reads `rate_hz`, with a DeprecationWarning naming the class."""

    def __init__(self, new: str) -> None:
        self.new = new
        self.__doc__ = f"Deprecated: the old name of `{new}`."

    def __set_name__(self, owner: type, name: str) -> None:
        self.message = f"{owner.__name__}.{name} is now {self.new}"

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        if obj is None:
            return self
        warnings.warn(self.message, DeprecationWarning, stacklevel=2)
        return getattr(obj, self.new)
