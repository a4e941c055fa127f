"""Threads for long one-shot resampling: one shared pool, work taken task by task.

The kernels (numba, nogil) and numpy's FFT release the GIL, so runs of consecutive outputs
(FIR stages) or of whole FFT blocks computed on several threads overlap for real. Each output
is computed by the same operations in any run, so the samples never depend on the threads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

__all__ = ["PARALLEL_MIN_OUT", "TASKS_PER_THREAD", "max_threads", "run_parallel"]

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()
PARALLEL_MIN_OUT = 1 << 14  # a kernel call splits across threads from this many outputs on


def _forget_pool() -> None:
    """In a forked child: the parent's pool threads do not exist here, so start afresh."""
    global _POOL, _POOL_LOCK
    _POOL = None
    _POOL_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def max_threads() -> int:
    """The threads a parallel resample may use: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


TASKS_PER_THREAD = 4  # work is cut finer than the threads, so a thread the OS holds back costs little


def run_parallel(tasks: list[Callable[[int], None]], threads: int) -> None:
    """Run the tasks on up to `threads` threads of a shared pool (the kernels and transforms
    release the GIL), the calling thread being one of them; each thread takes the next task
    not yet started, so a thread that a busy machine deschedules does not hold the others up,
    and the caller waits only for tasks that another thread has started (never for a pool
    thread that has not woken up yet). A task is called with its thread's slot (0 .. threads
    - 1, one thread per slot at a time, for scratch space). Re-raises the first error."""
    global _POOL
    n_threads = min(threads, len(tasks))
    if n_threads <= 1:
        for task in tasks:
            task(0)
        return
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_threads(), thread_name_prefix="audiofmt-resample")
        pool = _POOL
    cond = threading.Condition()
    state = {"next": 0, "running": 0}
    errors: list[BaseException] = []

    def drain(slot: int) -> None:
        while True:
            with cond:
                i = state["next"]
                if i >= len(tasks) or errors:
                    return
                state["next"] = i + 1
                state["running"] += 1
            try:
                tasks[i](slot)
            except BaseException as exc:
                errors.append(exc)
            finally:
                with cond:
                    state["running"] -= 1
                    cond.notify_all()

    futures = [pool.submit(drain, slot) for slot in range(1, n_threads)]
    drain(0)
    with cond:
        while state["running"]:
            cond.wait()
    for future in futures:
        future.cancel()  # a pool thread that never started finds nothing to do anyway
    if errors:
        raise errors[0]
