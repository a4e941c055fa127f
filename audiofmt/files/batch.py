"""Many files at once: worker processes on one machine, or a Dask cluster beyond it.

A job is (source, destination, options for convert_file). Every job runs to completion or
fails on its own: a failing file is reported in its Outcome, the others go on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from .._checks import check_int
from ..errors import AudioFormatError
from .convert import ConvertResult, RawSpec, convert_file
from .outputs import TERMINATING_SIGNALS, Terminated, remove_unfinished_outputs

if TYPE_CHECKING:  # the pool's modules load only for a pool
    from concurrent.futures import Future, ProcessPoolExecutor

__all__ = ["Job", "Outcome", "run_dask", "run_local"]


@dataclass(frozen=True)
class Job:
    """Convert `source` to `destination`; `options` are convert_file's keyword arguments."""

    source: str
    destination: str
    options: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """A job's result, or the one-line error that stopped it."""

    job: Job
    result: ConvertResult | None = None
    error: str | None = None
    traceback: str | None = None  # the formatted traceback behind `error`, for -v

    @property
    def ok(self) -> bool:
        return self.error is None


ProgressCallback = Callable[[int, int, "int | None"], None]  # (job index, input frames done, frames expected)


def run_job(job: Job, progress: Callable[[int, int | None], None] | None = None) -> Outcome:
    """Run one job, turning a bad-input or output error into an Outcome instead of an exception."""
    options = dict(job.options)
    if isinstance(options.get("raw"), dict):
        options["raw"] = RawSpec(**options["raw"])
    try:
        return Outcome(job, result=convert_file(job.source, job.destination, progress=progress, **options))
    except BrokenPipeError:
        if job.destination == "-":  # stdout's reader left: not this input's fault, end the command
            raise
        return Outcome(job, error=f"{job.destination}: cannot write (broken pipe)", traceback=traceback.format_exc())
    except (AudioFormatError, OSError) as exc:
        return Outcome(job, error=str(exc), traceback=traceback.format_exc())


# --- worker processes -------------------------------------------------------------------------
# Workers ignore SIGINT (a terminal's Ctrl-C reaches the whole process group; the parent alone
# decides), end on SIGTERM/SIGHUP (mid-job: by an exception, so the job's temporary file is
# removed; idle: at once), and get SIGTERM when the parent dies, however it dies (Linux).
_progress_queue: Any = None
_in_job = False


def _worker_init(queue: Any, parent_pid: int) -> None:
    global _progress_queue
    _progress_queue = queue
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for sig in TERMINATING_SIGNALS:
        signal.signal(sig, _worker_signal)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the parent's cleanup still applies
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _worker_signal(signum: int, _frame: object) -> None:
    # The first signal decides; later ones (the parent's SIGTERM, the pool's own terminate()
    # when a sibling ends, the parent-death signal) must not cut the job's cleanup short.
    for sig in TERMINATING_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    if not _in_job:
        os._exit(128 + signum)
    raise Terminated(signum)


def _run_in_worker(index: int, job: Job) -> Outcome:
    global _in_job
    queue = _progress_queue

    def report(done: int, total: int | None) -> None:
        queue.put((index, done, total))

    try:
        _in_job = True
        return run_job(job, None if queue is None else report)
    except Terminated as exc:  # the temporary output is gone by now (the sweep is a second guard); end this worker
        remove_unfinished_outputs()
        os._exit(128 + exc.signum)
    finally:
        _in_job = False


def _stop_pool(pool: ProcessPoolExecutor, futures: Iterable[Future[Outcome]]) -> None:
    """End a pool now: cancel queued jobs, SIGTERM every worker (each removes its temporary
    file), wait for them (SIGKILL after 10 s). Signals that would end us are ignored meanwhile."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, *TERMINATING_SIGNALS)}
    try:
        for future in futures:
            future.cancel()
        processes = list((getattr(pool, "_processes", None) or {}).values())
        for process in processes:
            if process.is_alive() and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()
        pool.shutdown(wait=True, cancel_futures=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_local(
    jobs: list[Job],
    workers: int | None = None,
    on_done: Callable[[Outcome], None] | None = None,
    on_progress: ProgressCallback | None = None,
) -> list[Outcome]:
    """Run jobs in `workers` processes (None: the number of cores; 0 or less is an error);
    outcomes in job order.

    `on_progress(job index, input frames done, frames expected or None)` is called in this
    process as workers report blocks. An exception here (KeyboardInterrupt, a Terminated
    signal) ends every worker and removes their temporary files before it propagates.
    """
    workers = (os.cpu_count() or 1) if workers is None else check_int("workers", workers, 1)
    if workers == 1 or len(jobs) <= 1:
        outcomes = []
        for index, job in enumerate(jobs):
            report = None if on_progress is None else partial(on_progress, index)
            outcomes.append(run_job(job, report))
            if on_done:
                on_done(outcomes[-1])
        return outcomes
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    queue: Any = multiprocessing.SimpleQueue() if on_progress else None
    by_index: dict[int, Outcome] = {}
    pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), initializer=_worker_init, initargs=(queue, os.getpid()))
    futures: dict[Future[Outcome], int] = {}
    try:
        futures = {pool.submit(_run_in_worker, i, job): i for i, job in enumerate(jobs)}
        pending: set[Future[Outcome]] = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            while queue is not None and not queue.empty():
                on_progress(*queue.get())  # type: ignore[misc]
            for future in done:
                index = futures[future]
                try:
                    outcome = future.result()
                except Exception as exc:
                    outcome = Outcome(jobs[index], error=f"worker process failed: {exc or type(exc).__name__}")
                by_index[index] = outcome
                if on_done:
                    on_done(outcome)
    except BaseException:
        _stop_pool(pool, futures)
        raise
    pool.shutdown(wait=True)
    return [by_index[i] for i in range(len(jobs))]


def run_dask(jobs: list[Job], client: Any, on_done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Run jobs as tasks on a Dask cluster (`distributed.Client`), one task per file.

    The workers must be able to read each source and write each destination (a shared file
    system, or URL-like locations they resolve): give absolute paths. Outcomes come back in job
    order. An exception here (KeyboardInterrupt, a signal) cancels the tasks not yet finished.
    """
    try:
        from distributed import as_completed as dask_completed
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise AudioFormatError("Dask support needs the optional extra: pip install 'audiofmt[dask]'") from exc
    futures = client.map(run_job, jobs, pure=False)
    index = {future.key: i for i, future in enumerate(futures)}
    by_index: dict[int, Outcome] = {}
    try:
        for future in dask_completed(futures):
            try:
                outcome = future.result()
            except Exception as exc:
                outcome = Outcome(jobs[index[future.key]], error=f"task failed: {exc}")
            by_index[index[future.key]] = outcome
            if on_done:
                on_done(outcome)
    except BaseException:
        client.cancel(futures)
        raise
    return [by_index[i] for i in range(len(jobs))]


def iter_errors(outcomes: Iterable[Outcome]) -> Iterator[str]:
    for outcome in outcomes:
        if not outcome.ok:
            yield f"{outcome.job.source}: {outcome.error}"
