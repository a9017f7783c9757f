"""Waiting for a provider job: polls spaced by a growing interval, bounded by a deadline.

Progress is reported as the provider's own percentage scaled into ``[0, GENERATION_SHARE]``;
the rest of the bar belongs to downloading the result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from grokimagine.engines.base import (
    EngineError,
    ProviderJob,
    RenderControl,
)
from grokimagine.engines.relay.client import cancellable_sleep
from grokimagine.engines.relay.config import ProviderConfig
from grokimagine.engines.relay.errors import (
    PROVIDER_RATE_LIMITED,
    PROVIDER_TIMEOUT,
    PROVIDER_UNAVAILABLE,
    ProviderJobGone,
    relay_error,
)
from grokimagine.vocabulary import (
    JOB_DONE,
    JOB_FAILED,
    JOB_GONE,
    JOB_LATE_DONE,
    JOB_RUNNING,
    JOB_TIMED_OUT,
)

GENERATION_SHARE = 0.9
BACKOFF_FACTOR = 1.5

T = TypeVar("T")

_KEEP_WAITING = frozenset({PROVIDER_RATE_LIMITED, PROVIDER_UNAVAILABLE})


@dataclass(frozen=True)
class PollUpdate(Generic[T]):
    """One look at a provider job: ``result`` once it is done, progress in [0, 1] if known, and
    the job's cost once the provider says."""

    result: T | None = None
    progress: float | None = None
    cost_usd: float | None = None


def run_provider_job(
    create: Callable[[], tuple[str, PollUpdate[T]]],
    poll: Callable[[str], PollUpdate[T]],
    control: RenderControl,
    config: ProviderConfig,
) -> tuple[str, PollUpdate[T]]:
    """Start a job (or resume the one an earlier run left running) and wait for its result.

    The job's id is stored on the task (``control.record_job``) as soon as the provider accepts
    it, before the first poll, so that a run after a crash resumes it instead of paying for a
    new one. A resumed job the provider no longer has (expired, unknown) is replaced by a new
    one; one that failed fails the task as it would have without the crash. Every outcome,
    with its cost when the provider reports one, is recorded too.
    """
    resumed = control.resume_job_id
    if resumed is not None:
        try:
            return resumed, _follow(resumed, poll, control, config)
        except ProviderJobGone:
            pass  # recorded as gone: start afresh
    job_id, first = create()
    control.record_job(ProviderJob(job_id, JOB_RUNNING))
    if first.result is not None:
        control.record_job(ProviderJob(job_id, JOB_DONE, first.cost_usd))
        return job_id, first
    return job_id, _follow(job_id, poll, control, config)


def job_outcome(job_id: str, poll: Callable[[str], PollUpdate[T]]) -> ProviderJob:
    """One look at a job we stopped waiting for: ``late_done`` with its cost once finished,
    ``failed`` or ``gone``; still ``timed_out`` while it runs or the provider cannot say."""
    try:
        update = poll(job_id)
    except ProviderJobGone:
        return ProviderJob(job_id, JOB_GONE)
    except EngineError as error:
        if error.code in _KEEP_WAITING:
            return ProviderJob(job_id, JOB_TIMED_OUT)
        return ProviderJob(job_id, JOB_FAILED, error.cost_usd)
    if update.result is not None:
        return ProviderJob(job_id, JOB_LATE_DONE, update.cost_usd)
    return ProviderJob(job_id, JOB_TIMED_OUT)


def _follow(
    job_id: str,
    poll: Callable[[str], PollUpdate[T]],
    control: RenderControl,
    config: ProviderConfig,
) -> PollUpdate[T]:
    try:
        update = wait_for_job(lambda: poll(job_id), control, config)
    except ProviderJobGone:
        control.record_job(ProviderJob(job_id, JOB_GONE))
        raise
    except EngineError as error:
        state = JOB_TIMED_OUT if error.code == PROVIDER_TIMEOUT else JOB_FAILED
        control.record_job(ProviderJob(job_id, state, error.cost_usd))
        raise
    control.record_job(ProviderJob(job_id, JOB_DONE, update.cost_usd))
    return update


def wait_for_job(
    poll: Callable[[], PollUpdate[T]],
    control: RenderControl,
    config: ProviderConfig,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> PollUpdate[T]:
    """Call ``poll`` until it returns a result (the final update), sleeping longer each time.

    ``poll`` raises an EngineError for a failed job. A poll that fails for rate limits or an
    outage, even after its retries (or at once, the circuit being open), does not end the wait:
    the job may still be running, and billing, at the provider; the deadline bounds the wait.
    """
    deadline = clock() + config.job_timeout
    interval = config.poll_interval
    last_progress = -1.0
    while True:
        cancellable_sleep(control, min(interval, max(0.0, deadline - clock())))
        if clock() >= deadline:
            raise relay_error(
                PROVIDER_TIMEOUT,
                f"{config.name} job not finished after {config.job_timeout:g}s",
            )
        try:
            update = poll()
        except EngineError as error:
            if error.code not in _KEEP_WAITING:
                raise
            update = PollUpdate()
        if update.progress is not None and update.progress > last_progress:
            last_progress = update.progress
            control.report(GENERATION_SHARE * update.progress)
        if update.result is not None:
            return update
        interval = min(interval * BACKOFF_FACTOR, config.poll_max_interval)
