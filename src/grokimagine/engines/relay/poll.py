"""Waiting for a provider job: polls spaced by a growing interval, bounded by a deadline.

Progress is reported as the provider's own percentage scaled into ``[0, GENERATION_SHARE]``;
the rest of the bar belongs to downloading the result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from grokimagine.engines.base import EngineError, RenderControl
from grokimagine.engines.relay.client import cancellable_sleep
from grokimagine.engines.relay.config import ProviderConfig
from grokimagine.engines.relay.errors import (
    PROVIDER_RATE_LIMITED,
    PROVIDER_TIMEOUT,
    PROVIDER_UNAVAILABLE,
    relay_error,
)

GENERATION_SHARE = 0.9
BACKOFF_FACTOR = 1.5

T = TypeVar("T")

_KEEP_WAITING = frozenset({PROVIDER_RATE_LIMITED, PROVIDER_UNAVAILABLE})


@dataclass(frozen=True)
class PollUpdate(Generic[T]):
    """One look at a provider job: ``result`` once it is done, and progress in [0, 1] if known."""

    result: T | None = None
    progress: float | None = None


def wait_for_job(
    poll: Callable[[], PollUpdate[T]],
    control: RenderControl,
    config: ProviderConfig,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call ``poll`` until it returns a result, sleeping longer each time; raise on timeout.

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
            return update.result
        interval = min(interval * BACKOFF_FACTOR, config.poll_max_interval)
