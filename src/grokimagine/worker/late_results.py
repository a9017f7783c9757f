"""Looks again at provider jobs that timed out on our side, to record their final state and cost.

See :mod:`grokimagine.domain.tasks.late_jobs`: the customer was refunded when the task timed
out; this only tells the operator what the provider did with the job, and what it billed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from concurrent.futures import Executor

from grokimagine.domain.tasks import late_jobs
from grokimagine.engines.routing import EngineRouter
from grokimagine.storage.db import Database

log = logging.getLogger("grokimagine.worker")

LATE_RESULT_CHECK_SECONDS = 60.0  # how often a worker looks at timed-out jobs


async def check_late_results(
    db: Database, router: EngineRouter, engines: Collection[str], executor: Executor
) -> int:
    """Poll each timed-out job of ``engines`` once and record what became of it; return how
    many changed."""
    loop = asyncio.get_running_loop()
    changed = 0
    for job in await late_jobs.late_jobs(db, engines):
        try:
            # Plugins need not subclass Engine; one without job_outcome has no provider jobs.
            look = getattr(router.engine(job.engine), "job_outcome", None)
            if look is None:
                continue
            outcome = await loop.run_in_executor(executor, look, job.job_id)
        except Exception:
            log.exception("late result of job %s (task %s): look failed", job.job_id, job.task_id)
            continue
        if outcome is None:
            continue
        if await late_jobs.record_late_job(db, job, state=outcome.state, cost_usd=outcome.cost_usd):
            changed += 1
            log.info(
                "task %s: late provider job %s is %s (cost %s USD)",
                job.task_id,
                job.job_id,
                outcome.state,
                outcome.cost_usd,
            )
    return changed
