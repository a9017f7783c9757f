"""Provider jobs of a task: each job a relay engine starts is recorded on the task when the
provider accepts it, so a re-run resumes the job (and its bill) instead of paying for a new one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from grokimagine.domain.tasks.queue import Lease, lease_held
from grokimagine.domain.tasks.records import (
    TaskRecord,
)
from grokimagine.storage.db import Database
from grokimagine.storage.schema import tasks
from grokimagine.vocabulary import RESUMABLE_JOB_STATES


async def record_provider_job(
    db: Database,
    lease: Lease,
    *,
    video: int,
    engine: str,
    job_id: str,
    state: str,
    cost_usd: float | None = None,
    stored_key: str | None = None,
) -> bool:
    """Store a provider job's id, state and cost on the task; ``False`` if the lease was lost.

    Called the moment a provider accepts a job (before its first poll) and at each outcome, so
    that a re-run finds the job and resumes it; ``stored_key`` says its video is in the file
    store already. ``provider_cost_usd`` sums the known costs.
    """
    async with db.write() as conn:
        row = (
            await conn.execute(
                select(tasks.c.provider_jobs).where(lease_held(lease)).with_for_update()
            )
        ).first()
        if row is None:
            return False
        jobs = [dict(job) for job in row.provider_jobs or []]
        entry = next(
            (
                job
                for job in jobs
                if (job["video"], job["engine"], job["job_id"]) == (video, engine, job_id)
            ),
            None,
        )
        if entry is None:
            entry = {"video": video, "engine": engine, "job_id": job_id, "cost_usd": None}
            jobs.append(entry)
        entry["state"] = state
        if cost_usd is not None:
            entry["cost_usd"] = cost_usd
        if stored_key is not None:
            entry["stored_key"] = stored_key
        costs = [job["cost_usd"] for job in jobs if job.get("cost_usd") is not None]
        result = await conn.execute(
            update(tasks)
            .where(lease_held(lease))
            .values(
                provider_jobs=jobs,
                provider_job_id=job_id,
                provider_cost_usd=sum(costs) if costs else None,
            )
        )
    return result.rowcount == 1


def resumable_jobs(record: TaskRecord, video: int) -> dict[str, str]:
    """Engine name -> provider job an earlier run of ``record`` left for video ``video``."""
    found: dict[str, str] = {}
    for job in record.provider_jobs:
        if job.get("video") == video and job.get("state") in RESUMABLE_JOB_STATES:
            found[job["engine"]] = job["job_id"]  # the latest per engine wins
        elif job.get("video") == video:
            found.pop(job["engine"], None)
    return found


def stored_video(record: TaskRecord, video: int) -> dict[str, Any] | None:
    """The provider job whose video ``video`` an earlier run of ``record`` already stored."""
    return next(
        (
            job
            for job in record.provider_jobs
            if job.get("video") == video and job.get("stored_key")
        ),
        None,
    )
