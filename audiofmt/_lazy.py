"""Lazy package attributes: a name is imported from its module on first access, so importing a
package loads none of its heavy modules (numba, FFmpeg) until a name that needs one is used."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from importlib import import_module
from typing import Any


def lazy_exports(
    package: str, where: Mapping[str, str], names: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`: name -> the module (relative to the package) that
    defines it, imported on first access; `names` is what `dir()` lists."""

    def __getattr__(name: str) -> Any:
        module_name = where.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f".{module_name}", package), name)

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
