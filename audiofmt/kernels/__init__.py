"""numba kernels only: small pure functions over caller-allocated arrays. Imported lazily."""

from __future__ import annotations

from typing import Any, Callable


def compiled_entry(dispatcher: Any, index: int) -> Callable[..., Any]:
    """The compiled function of `dispatcher`'s explicit signature number `index`.

    Calling it skips numba's per-call type dispatch (a few hundred ns, which matters for
    20 ms frames). The arguments must then match that signature exactly; where this numba
    does not expose compiled entry points, the dispatcher itself is returned.
    """
    try:
        return dispatcher.overloads[dispatcher.signatures[index]].entry_point
    except (AttributeError, IndexError, KeyError):
        return dispatcher
