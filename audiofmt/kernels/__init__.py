"""numba kernels only: small pure functions over caller-allocated arrays. Imported lazily."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable


@lru_cache(maxsize=None)
def compiled_entry(dispatcher: Any, index: int) -> Callable[..., Any]:
    """The compiled function of `dispatcher`'s explicit signature number `index`.

    Calling it skips numba's per-call type dispatch (a few hundred ns, which matters for
    20 ms frames). The arguments must then match that signature exactly; where this numba
    does not expose compiled entry points, the dispatcher itself is returned. Looked up once
    per (kernel, signature): the lookup hashes numba types and takes tens of µs.
    """
    try:
        return dispatcher.overloads[dispatcher.signatures[index]].entry_point
    except (AttributeError, IndexError, KeyError):
        return dispatcher
