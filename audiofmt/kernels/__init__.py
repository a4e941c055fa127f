"""numba kernels only: small pure functions over caller-allocated arrays. Imported lazily."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any


class LazyKernel:
    """A numba kernel with explicit signatures, each compiled (or loaded from numba's on-disk
    cache) only when first used, not at import: loading one signature from the cache costs
    a few ms, and a conversion needs 2 to 5 of the 20 that G.711 and PCM kernels declare.

    `entry(i)` is the compiled function of signature i alone. Calling the kernel itself
    type-dispatches like a numba dispatcher; the first such call loads every signature.
    """

    def __init__(self, py_func: Callable[..., Any], signatures: list[Any], options: dict[str, Any]) -> None:
        self.py_func = py_func
        self.signatures = signatures
        self._options = options
        self._dispatcher: Any = None
        self._complete = False
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
        dispatcher.compile(signature)
        try:
            return dispatcher.overloads[signature.args].entry_point
        except (AttributeError, KeyError):  # pragma: no cover - numba without entry points
            return self.dispatcher

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
