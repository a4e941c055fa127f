"""Many files at once: worker processes on one machine, or a Dask cluster beyond it.

A job is (source, destination, options for convert_file). Every job runs to completion or
fails on its own: a failing file is reported in its Outcome, the others go on.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from ..errors import AudioFormatError
from .convert import ConvertResult, RawSpec, convert_file

__all__ = ["Job", "Outcome", "run_local", "run_dask"]


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


def run_job(job: Job) -> Outcome:
    """Run one job, turning a bad-input error into an Outcome instead of an exception."""
    options = dict(job.options)
    if isinstance(options.get("raw"), dict):
        options["raw"] = RawSpec(**options["raw"])
    try:
        return Outcome(job, result=convert_file(job.source, job.destination, **options))
    except (AudioFormatError, OSError) as exc:
        return Outcome(job, error=str(exc), traceback=traceback.format_exc())


def run_local(jobs: list[Job], workers: int | None = None, on_done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Run jobs in `workers` processes (default: the number of cores); outcomes in job order."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(jobs) <= 1:
        outcomes = []
        for job in jobs:
            outcomes.append(run_job(job))
            if on_done:
                on_done(outcomes[-1])
        return outcomes
    by_index: dict[int, Outcome] = {}
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        futures = {pool.submit(run_job, job): i for i, job in enumerate(jobs)}
        for future in as_completed(futures):
            by_index[futures[future]] = outcome = future.result()
            if on_done:
                on_done(outcome)
    return [by_index[i] for i in range(len(jobs))]


def run_dask(jobs: list[Job], client: Any, on_done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Run jobs as tasks on a Dask cluster (`distributed.Client`), one task per file.

    The workers must be able to read each source and write each destination (a shared file
    system, or URL-like locations they resolve). Outcomes come back in job order.
    """
    try:
        from distributed import as_completed as dask_completed
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise AudioFormatError("Dask support needs the optional extra: pip install 'audiofmt[dask]'") from exc
    futures = client.map(run_job, jobs, pure=False)
    index = {future.key: i for i, future in enumerate(futures)}
    by_index: dict[int, Outcome] = {}
    for future in dask_completed(futures):
        try:
            outcome = future.result()
        except Exception as exc:  # a worker that died or an unexpected error: report, keep going
            outcome = Outcome(jobs[index[future.key]], error=f"task failed: {exc}")
        by_index[index[future.key]] = outcome
        if on_done:
            on_done(outcome)
    return [by_index[i] for i in range(len(jobs))]


def iter_errors(outcomes: Iterable[Outcome]) -> Iterator[str]:
    for outcome in outcomes:
        if not outcome.ok:
            yield f"{outcome.job.source}: {outcome.error}"
