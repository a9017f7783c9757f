"""Late results: provider jobs a task stopped waiting for, looked at again for their cost.

A relay task whose job outran ``GROKIMAGINE_RELAY_TIMEOUT`` failed with ``PROVIDER_TIMEOUT`` and
was refunded at once; its job stays on the task as ``timed_out``. A task canceled (or failed for
other reasons) while its job ran leaves the job ``running``. Workers look at such jobs again
now and then, for a day, and record what became of them (``late_done`` with the cost the
provider billed, ``failed`` or ``gone``). The task stays as it ended, refunded: a late video is
never delivered, and only the operator sees the cost (docs/relay.md, "Late results").
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, select, update

from grokimagine.domain.clock import utcnow
from grokimagine.domain.tasks.records import CANCELED, FAILED
from grokimagine.storage.db import Database
from grokimagine.storage.schema import tasks
from grokimagine.vocabulary import JOB_RUNNING, JOB_TIMED_OUT

LATE_RESULT_WINDOW = timedelta(days=1)  # xAI keeps a result's URL about this long
LATE_JOBS_PER_LOOK = 50
# A job in one of these states on a failed or canceled task is one we stopped waiting for.
_UNFINISHED = frozenset({JOB_TIMED_OUT, JOB_RUNNING})
_ENDED = (FAILED, CANCELED)


@dataclass(frozen=True)
class LateJob:
    """A provider job some failed task stopped waiting for."""

    task_id: str
    video: int
    engine: str
    job_id: str


async def late_jobs(db: Database, engines: Collection[str]) -> list[LateJob]:
    """Unfinished jobs of ``engines`` on tasks that failed or were canceled within the last day,
    oldest first."""
    since = utcnow() - LATE_RESULT_WINDOW
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(tasks.c.id, tasks.c.provider_jobs)
                .where(
                    tasks.c.status.in_(_ENDED),
                    tasks.c.completed_at >= since,
                    tasks.c.provider_job_id.is_not(None),
                )
                .order_by(tasks.c.completed_at)
            )
        ).all()
    found = [
        LateJob(row.id, job["video"], job["engine"], job["job_id"])
        for row in rows
        for job in row.provider_jobs or []
        if job.get("state") in _UNFINISHED and job.get("engine") in engines
    ]
    return found[:LATE_JOBS_PER_LOOK]


async def record_late_job(
    db: Database, job: LateJob, *, state: str, cost_usd: float | None
) -> bool:
    """Store what became of a late job on its ended task; ``False`` if nothing changed."""
    if state in _UNFINISHED and cost_usd is None:
        return False  # still running: look again later
    still_failed = and_(tasks.c.id == job.task_id, tasks.c.status.in_(_ENDED))
    async with db.write() as conn:
        row = (
            await conn.execute(select(tasks.c.provider_jobs).where(still_failed).with_for_update())
        ).first()
        if row is None:
            return False
        jobs = [dict(entry) for entry in row.provider_jobs or []]
        for entry in jobs:
            if (entry["video"], entry["engine"], entry["job_id"]) == (
                job.video,
                job.engine,
                job.job_id,
            ) and entry.get("state") in _UNFINISHED:
                entry["state"] = state
                if cost_usd is not None:
                    entry["cost_usd"] = cost_usd
                break
        else:
            return False
        costs = [entry["cost_usd"] for entry in jobs if entry.get("cost_usd") is not None]
        await conn.execute(
            update(tasks)
            .where(still_failed)
            .values(provider_jobs=jobs, provider_cost_usd=sum(costs) if costs else None)
        )
    return True
