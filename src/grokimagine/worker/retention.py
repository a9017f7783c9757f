"""The retention purge in the worker: every worker process tries it now and then, one at a time
holds its lease (domain/tasks/retention.py), in a task of its own beside the claim loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from grokimagine.domain.tasks.retention import PurgeReport, purge_expired_files
from grokimagine.services import Services

log = logging.getLogger(__name__)

PURGE_INTERVAL_SECONDS = 600.0


class RetentionJob:
    """Starts a purge at most every :data:`PURGE_INTERVAL_SECONDS`, never two at once."""

    def __init__(self, services: Services, owner: str, interval: float = PURGE_INTERVAL_SECONDS):
        self.services = services
        self.owner = owner
        self.interval = interval
        self._last = -interval
        self._running: asyncio.Task[PurgeReport | None] | None = None

    def maybe_start(self) -> None:
        """Start a purge in the background if one is due and none is running."""
        now = time.monotonic()
        if self._running is not None and not self._running.done():
            return
        if now - self._last < self.interval or not self.services.retention_days:
            return
        self._last = now
        self._running = asyncio.create_task(self.run_once())

    async def run_once(self) -> PurgeReport | None:
        """One purge (under the lease); errors are logged, and the next interval retries."""
        try:
            report = await purge_expired_files(
                self.services.db,
                self.services.store,
                self.services.retention_days,
                owner=self.owner,
            )
        except Exception:
            log.exception("retention purge failed; retried in %.0f s", self.interval)
            return None
        if report.expired:
            log.info("retention purge expired the files of %d task(s)", len(report.expired))
        return report

    async def close(self) -> None:
        """Stop a purge in progress (what it finished stays done; the rest waits for the next)."""
        if self._running is not None and not self._running.done():
            self._running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._running
