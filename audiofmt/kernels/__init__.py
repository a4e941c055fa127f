"""numba kernels only: small pure functions over caller-allocated arrays. Imported lazily."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import DTypeLike


class LazyKernel:
    """A numba kernel with explicit signatures, each compiled (or loaded from numba's on-disk
    cache) only when first used, not at import: loading one signature from the cache costs
    a few ms, and a conversion needs 2 to 5 of the 20 that G.711 and PCM kernels declare.

    `variant(dtype, ..., readonly=...)` is the compiled function of the one signature for those
    arrays (`entry(i)`: of signature i). Calling the kernel itself
    type-dispatches like a numba dispatcher; the first such call loads every signature.
    """

    def __init__(self, py_func: Callable[..., Any], signatures: list[Any], options: dict[str, Any]) -> None:
        self.py_func = py_func
        self.signatures = signatures
        self._options = options
        self._dispatcher: Any = None
        self._complete = False
        self._variants: dict[tuple[tuple[np.dtype[Any], ...], bool], int] = {}
        self.__name__ = py_func.__name__
        self.__doc__ = py_func.__doc__

    def _get_dispatcher(self) -> Any:
        if self._dispatcher is None:
            from numba import njit

            self._dispatcher = njit(**self._options)(self.py_func)
        return self._dispatcher

    def entry(self, index: int) -> Callable[..., Any]:
        """The compiled function of signature `index` (loaded from the cache or compiled now)."""
        dispatcher = self._get_dispatcher()
        signature = self.signatures[index]
        if signature.args not in dispatcher.overloads:  # once `dispatcher` is complete, compiling is disabled
            dispatcher.compile(signature)
        try:
            return dispatcher.overloads[signature.args].entry_point
        except (AttributeError, KeyError):  # pragma: no cover - numba without entry points
            return self.dispatcher

    def variant(self, *dtypes: DTypeLike, readonly: bool = False) -> Callable[..., Any]:
        """The compiled function of the signature whose first array arguments have `dtypes`
        and whose inputs are read-only (`readonly=True`, e.g. arrays over bytes) or writable.

        Looked up by what the arrays are, never by position in the signature list; only that
        signature is loaded. An unknown combination is a TypeError naming the kernel.
        """
        key = (tuple(np.dtype(d) for d in dtypes), readonly)
        index = self._variants.get(key)
        if index is None:
            from numba import types
            from numba.np.numpy_support import as_dtype

            for i, signature in enumerate(self.signatures):
                arrays = [arg for arg in signature.args if isinstance(arg, types.Array)]
                dtypes_match = len(arrays) >= len(key[0]) and all(as_dtype(a.dtype) == d for a, d in zip(arrays, key[0]))
                if dtypes_match and any(not a.mutable for a in arrays) == readonly:
                    index = self._variants[key] = i
                    break
            else:
                raise TypeError(f"{self.__name__} has no variant for {[str(d) for d in key[0]]} (readonly={readonly})")
        return self.entry(index)

    @property
    def dispatcher(self) -> Any:
        """The numba dispatcher with every signature loaded, and no others allowed."""
        dispatcher = self._get_dispatcher()
        if not self._complete:
            for signature in self.signatures:
                dispatcher.compile(signature)
            dispatcher.disable_compile()
            self._complete = True
        return dispatcher

    def __call__(self, *args: Any) -> Any:
        return self.dispatcher(*args)


def lazy_njit(signatures: list[Any], **options: Any) -> Callable[[Callable[..., Any]], LazyKernel]:
    """Like numba.njit(signatures, cache=True, **options), each signature loaded on first use."""
    return lambda py_func: LazyKernel(py_func, list(signatures), {"cache": True, **options})


@cache
def compiled_entry(dispatcher: Any, index: int) -> Callable[..., Any]:
    """The compiled function of `dispatcher`'s explicit signature number `index`.

    Calling it skips numba's per-call type dispatch (a few hundred ns, which matters for
    20 ms frames). The arguments must then match that signature exactly; where this numba
    does not expose compiled entry points, the dispatcher itself is returned. Looked up once
    per (kernel, signature): the lookup hashes numba types and takes tens of µs.
    """
    if isinstance(dispatcher, LazyKernel):
        return dispatcher.entry(index)
    try:
        return dispatcher.overloads[dispatcher.signatures[index]].entry_point
    except (AttributeError, IndexError, KeyError):
        return dispatcher
