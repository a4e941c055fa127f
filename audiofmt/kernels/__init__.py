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

    def __init__(
        self, py_func: Callable[..., Any], signatures: list[Any] | Callable[[], list[Any]], options: dict[str, Any]
    ) -> None:
        self.py_func = py_func
        self._signatures = signatures
        self._options = options
        self._dispatcher: Any = None
        self._complete = False
        self._variants: dict[tuple[tuple[np.dtype[Any], ...], bool], int] = {}
        self.__name__ = py_func.__name__
        self.__doc__ = py_func.__doc__

    @property
    def signatures(self) -> list[Any]:
        """The numba signatures (built on first access when given as a function, so that
        importing a kernels module need not import numba)."""
        if callable(self._signatures):
            self._signatures = list(self._signatures())
        return self._signatures

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
            load_or_compile(dispatcher, signature)
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
                load_or_compile(dispatcher, signature)
            dispatcher.disable_compile()
            self._complete = True
        return dispatcher

    def __call__(self, *args: Any) -> Any:
        return self.dispatcher(*args)


def load_or_compile(dispatcher: Any, signature: Any) -> None:
    """Make `signature` of a numba dispatcher (made with cache=True) callable: its machine code
    from numba's on-disk cache when the cache holds it, else compiled by numba as usual.

    numba's own cache load first initialises its CPU target: it imports and installs every
    typing and lowering registry (numba.cpython.*, numba.np.*, extensions' entry points), which
    only typing and compiling Python code need, and which took 0.13-0.25 s of the 0.15-0.25 s
    a process's first kernel took here (numba 0.68). This loads the same cached code the way numba's
    Dispatcher.compile does on a cache hit (index key, staleness checks, rebuild, overload
    registration), with numba's runtime (NRT) initialised first, as the target's
    initialisation would; compiling, and anything else that needs the registries, still
    initialises them itself. The code loaded, and so every sample, is the same.
    """
    if signature.args in dispatcher.overloads:
        return
    if not _load_cached(dispatcher, signature):
        dispatcher.compile(signature)


# The numba versions whose cache internals this was written against and tested with; on any
# other, numba loads its kernels its own way (slower to start, the same code).
_FAST_LOAD_NUMBA = ("0.68.",)


def _load_cached(dispatcher: Any, signature: Any) -> bool:
    """Load one signature from numba's cache without initialising numba's CPU target; False
    when the cache does not hold it (missing, stale, another numba or CPU) or when this numba is
    not one of _FAST_LOAD_NUMBA: then numba loads or compiles it its own way."""
    try:
        import numba
        from numba.core.caching import Cache
        from numba.core.compiler_lock import global_compiler_lock
        from numba.core.runtime import rtsys  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - another numba layout
        return False
    if not numba.__version__.startswith(_FAST_LOAD_NUMBA):  # pragma: no cover - another numba
        return False
    cache = getattr(dispatcher, "_cache", None)
    target = getattr(dispatcher, "targetctx", None)
    if not isinstance(cache, Cache) or target is None or not hasattr(dispatcher, "add_overload"):
        return False
    with global_compiler_lock:
        if signature.args in dispatcher.overloads:
            return True
        try:
            rtsys.initialize(target)  # the runtime the loaded code may call (what target init does first)
            result = cache._load_overload(signature, target)
        except AttributeError:  # pragma: no cover - another numba's internals
            return False
        if result is None or result.objectmode:
            return False
        target.insert_user_function(result.entry_point, result.fndesc, [result.library])
        dispatcher.add_overload(result)
        hits = getattr(dispatcher, "_cache_hits", None)
        if hits is not None:
            hits[signature] += 1
    return True


def jit_entry(py_func: Callable[..., Any], signature: Any, **options: Any) -> Callable[..., Any]:
    """numba.njit(signature, cache=True, **options)(py_func)'s compiled function for that one
    signature (no type dispatch per call), loaded from the cache as load_or_compile does."""
    from numba import njit

    dispatcher = njit(cache=True, **options)(py_func)
    load_or_compile(dispatcher, signature)
    dispatcher.disable_compile()
    return compiled_entry(dispatcher, 0)


def lazy_njit(signatures: list[Any] | Callable[[], list[Any]], **options: Any) -> Callable[[Callable[..., Any]], LazyKernel]:
    """Like numba.njit(signatures, cache=True, **options), each signature loaded on first use.
    `signatures` may be a function returning them: numba is then imported only when the kernel
    is first used, not when its module is."""
    given = signatures if callable(signatures) else list(signatures)
    return lambda py_func: LazyKernel(py_func, given, {"cache": True, **options})


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
