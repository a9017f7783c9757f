"""Retention: the files of finished tasks (result videos, posters, uploaded sources) are kept for
the days the operator set per plan (business settings ``retention_days``), then purged.

The purge deletes a task's files, then marks it (``files_expired_at``) in one conditional
UPDATE: killed between the two, the next run deletes the same (already gone, a no-op on local
files and S3 alike) and marks it; a marked task is never selected again. The task row, its
money and its audit stay. One process at a time runs it, under a lease any process may claim.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, false, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from grokimagine.domain.clock import utcnow
from grokimagine.domain.tasks.records import COMPLETED, FINISHED, TaskRecord
from grokimagine.storage.db import Database
from grokimagine.storage.files import FileStore
from grokimagine.storage.schema import accounts, job_leases, tasks

PURGE_JOB = "retention-purge"
DEFAULT_KEY = "default"


@dataclass(frozen=True)
class PurgeReport:
    """What one purge run did: whether it held the lease, and the tasks it expired."""

    ran: bool
    expired: list[str]


def _due(retention_days: dict[str, int], now: datetime) -> ColumnElement[bool]:
    """Finished tasks whose plan's retention has run out (plans without one: never)."""
    named = {plan: days for plan, days in retention_days.items() if plan != DEFAULT_KEY}
    clauses: list[ColumnElement[bool]] = [
        and_(accounts.c.plan == plan, tasks.c.completed_at < now - timedelta(days=days))
        for plan, days in named.items()
    ]
    if DEFAULT_KEY in retention_days:
        cutoff = now - timedelta(days=retention_days[DEFAULT_KEY])
        others = accounts.c.plan.not_in(list(named)) if named else accounts.c.plan.is_not(None)
        clauses.append(and_(others, tasks.c.completed_at < cutoff))
    return or_(*clauses) if clauses else false()


def videos_expire_at(
    record: TaskRecord, plan: str, retention_days: Mapping[str, int]
) -> datetime | None:
    """When a task's videos stop being downloadable, for an account on ``plan``: the purge's
    moment once it ran (what ``videos_expired_at`` says), before that the end of the plan's
    retention (the purge's next run after it deletes them, as :func:`_due` selects). ``None``
    where they are kept until the task is deleted, and for a task that made no video."""
    if record.status != COMPLETED:
        return None
    if record.files_expired_at is not None:
        return record.files_expired_at
    days = retention_days.get(plan, retention_days.get(DEFAULT_KEY))
    if days is None or record.completed_at is None:
        return None
    return record.completed_at + timedelta(days=days)


def _candidates(retention_days: dict[str, int], now: datetime, limit: int) -> Any:
    return (
        select(tasks.c.id, tasks.c.account_id)
        .join(accounts, accounts.c.id == tasks.c.account_id)
        .where(
            tasks.c.status.in_(FINISHED),
            tasks.c.files_expired_at.is_(None),
            tasks.c.completed_at.is_not(None),
            _due(retention_days, now),
        )
        .order_by(tasks.c.completed_at, tasks.c.id)
        .limit(limit)
    )


async def due_for_purge(
    db: Database, retention_days: dict[str, int], *, now: datetime | None = None, limit: int = 1000
) -> list[tuple[str, str]]:
    """``(task_id, account_id)`` of tasks the next purge will expire, oldest first."""
    rows = await db.fetch_all(_candidates(retention_days, now or utcnow(), limit))
    return [(row.id, row.account_id) for row in rows]


async def claim_job(db: Database, job: str, owner: str, seconds: float) -> bool:
    """Take (or extend) the lease of ``job`` for ``seconds``; whether ``owner`` holds it."""
    now = utcnow()
    async with db.write() as conn:
        taken = await conn.execute(
            update(job_leases)
            .where(
                job_leases.c.name == job,
                or_(
                    job_leases.c.owner == owner,
                    job_leases.c.expires_at.is_(None),  # released
                    job_leases.c.expires_at < now,
                ),
            )
            .values(owner=owner, expires_at=now + timedelta(seconds=seconds))
        )
        if taken.rowcount == 1:
            return True
        exists = await conn.execute(select(job_leases.c.name).where(job_leases.c.name == job))
        if exists.first() is not None:
            return False
    try:
        async with db.write() as conn:
            await conn.execute(
                insert(job_leases).values(
                    name=job, owner=owner, expires_at=now + timedelta(seconds=seconds)
                )
            )
    except IntegrityError:  # another process made the row (and holds the lease) first
        return False
    return True


async def release_job(db: Database, job: str, owner: str) -> None:
    """Give the lease back, so that another process need not wait for it to expire."""
    async with db.write() as conn:
        await conn.execute(
            update(job_leases)
            .where(job_leases.c.name == job, job_leases.c.owner == owner)
            .values(owner=None, expires_at=None)
        )


async def purge_expired_files(
    db: Database,
    store: FileStore,
    retention_days: dict[str, int],
    *,
    owner: str,
    batch: int = 50,
    lease_seconds: float = 300.0,
    now: datetime | None = None,
) -> PurgeReport:
    """Delete the files of every task past its plan's retention, in batches, and mark each
    (``files_expired_at``); a no-op without the lease or without retention set."""
    if not retention_days or not await claim_job(db, PURGE_JOB, owner, lease_seconds):
        return PurgeReport(ran=False, expired=[])
    expired: list[str] = []
    try:
        while True:
            moment = now or utcnow()
            found = await due_for_purge(db, retention_days, now=moment, limit=batch)
            for task_id, _ in found:
                # Files first: a mark without its deletion would leave files nobody purges.
                await asyncio.to_thread(store.delete_task_files, task_id)
                async with db.write() as conn:
                    marked = await conn.execute(
                        update(tasks)
                        .where(tasks.c.id == task_id, tasks.c.files_expired_at.is_(None))
                        .values(files_expired_at=utcnow())
                    )
                if marked.rowcount == 1:
                    expired.append(task_id)
            if len(found) < batch:
                break
            if not await claim_job(db, PURGE_JOB, owner, lease_seconds):  # heartbeat
                break
    finally:
        await release_job(db, PURGE_JOB, owner)
    return PurgeReport(ran=True, expired=expired)


@dataclass(frozen=True)
class AccountStorage:
    """What one account keeps in the file store, and what the next purge will free of it."""

    account_id: str
    tasks: int
    bytes: int
    next_purge_bytes: int


async def storage_by_account(
    db: Database, store: FileStore, retention_days: dict[str, int]
) -> list[AccountStorage]:
    """Bytes stored per account (largest first) and what the next purge frees. Walks the whole
    store (a listing per page view): an operator's page, not a hot path."""
    sizes = await asyncio.to_thread(store.task_sizes)
    owners: dict[str, str] = {}
    wanted = sorted(sizes)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = await db.fetch_all(
            select(tasks.c.id, tasks.c.account_id).where(tasks.c.id.in_(chunk))
        )
        owners.update({row.id: row.account_id for row in rows})
    due = {task_id for task_id, _ in await due_for_purge(db, retention_days, limit=100_000)}
    totals: dict[str, list[int]] = {}
    for task_id, size in sizes.items():
        account_id = owners.get(task_id)
        if account_id is None:
            continue
        line = totals.setdefault(account_id, [0, 0, 0])
        line[0] += 1
        line[1] += size
        line[2] += size if task_id in due else 0
    found = [AccountStorage(account, *values) for account, values in totals.items()]
    return sorted(found, key=lambda item: -item.bytes)


async def files_expired(db: Database, task_id: str) -> bool:
    """Whether a task's files were purged by retention (for the download route's answer)."""
    row = await db.fetch_one(select(tasks.c.files_expired_at).where(tasks.c.id == task_id))
    return row is not None and row.files_expired_at is not None
