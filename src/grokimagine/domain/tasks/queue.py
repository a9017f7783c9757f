"""Tasks as the worker sees them: claimed under a lease, then finished exactly once.

Every transition is a compare-and-set: an UPDATE whose WHERE clause names the state it expects
(status, lease owner, attempt). Only the transaction whose UPDATE matched may refund, so a task is
never refunded or completed twice, whatever the races between workers, sweeps and cancels.

Claims are fair across accounts: among the runnable tasks, the next one belongs to the account
served longest ago (an account never served first), oldest task first within it. So one
account's burst of a hundred tasks takes turns with a quiet account's single task instead of
starving it (round-robin over the accounts with pending work).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from grokimagine.domain.billing.credits import refund_credits
from grokimagine.domain.clock import utcnow
from grokimagine.domain.tasks.records import (
    CANCELED,
    COMPLETED,
    FAILED,
    PENDING,
    PROCESSING,
    TaskRecord,
    count_task_finished,
    record_from_row,
)
from grokimagine.domain.tasks.signals import announce_change, notify_task_ready
from grokimagine.domain.tasks.webhook_deliveries import enqueue_delivery
from grokimagine.storage.db import Database
from grokimagine.storage.schema import ledger, tasks

# What a final state change returns: enough to refund the task and announce it by webhook.
_FINISHED_COLUMNS = (tasks.c.id, tasks.c.account_id, tasks.c.callback_url)


@dataclass(frozen=True)
class Lease:
    """A worker's claim on a task: valid while owner and attempt still match the row."""

    task_id: str
    owner: str
    attempt: int


@dataclass(frozen=True)
class LeaseState:
    """What a heartbeat learns: whether the lease still holds and whether cancel was asked."""

    held: bool
    cancel_requested: bool


def _claimable(
    now: Any, max_attempts: int, engines: Collection[str] | None = None, unrouted: bool = True
) -> Any:
    expired = and_(tasks.c.status == PROCESSING, tasks.c.lease_expires_at < now)
    condition = and_(
        or_(tasks.c.status == PENDING, expired),
        tasks.c.attempts < max_attempts,
        tasks.c.cancel_requested.is_(False),
        tasks.c.deleted_at.is_(None),
    )
    if engines is None:
        return condition
    # A task with no route runs on any worker's default engine.
    served = tasks.c.route_head.in_(sorted(engines))
    if unrouted:
        served = or_(served, tasks.c.route_head.is_(None))
    return and_(condition, served)


def _fair_account(now: Any, claimable: Any) -> Any:
    """The account whose turn it is: of those with a claimable task, the one whose last claim
    is oldest (never served: first), ties to the oldest waiting task.

    Grouping first costs one ``ix_tasks_account_started`` lookup per waiting account, not one
    per waiting task. ``now`` caps the times, so a clock step back cannot bury an account.
    """
    waiting = (
        select(tasks.c.account_id, func.min(tasks.c.created_at).label("oldest"))
        .where(claimable)
        .group_by(tasks.c.account_id)
        .subquery()
    )
    earlier = aliased(tasks)
    last_served = (
        select(func.max(earlier.c.started_at))
        .where(earlier.c.account_id == waiting.c.account_id, earlier.c.started_at <= now)
        .scalar_subquery()
    )
    return (
        select(waiting.c.account_id)
        .order_by(last_served.asc().nulls_first(), waiting.c.oldest, waiting.c.account_id)
        .limit(1)
        .scalar_subquery()
    )


async def claim_next_task(
    db: Database,
    owner: str,
    *,
    lease_seconds: float,
    max_attempts: int,
    engines: Collection[str] | None = None,
    unrouted: bool = True,
) -> tuple[TaskRecord, Lease] | None:
    """Claim a runnable task (pending, or processing with an expired lease), fairly: the oldest
    task of the account served longest ago.

    With ``engines``, only a task whose route starts with one of them (or, with ``unrouted``,
    has no route).
    """
    now = utcnow()
    claimable = _claimable(now, max_attempts, engines, unrouted)
    oldest = select(tasks.c.id).where(claimable).order_by(tasks.c.created_at, tasks.c.id)
    # The oldest task of the account whose turn it is; if other workers hold every one of
    # its tasks (PostgreSQL skips locked rows), the oldest task of anyone.
    candidates = (oldest.where(tasks.c.account_id == _fair_account(now, claimable)), oldest)
    row = None
    async with db.write() as conn:
        for candidate in candidates:
            # Workers on PostgreSQL skip each other's rows instead of queueing on them.
            locked = candidate.limit(1).with_for_update(skip_locked=True).scalar_subquery()
            row = (
                await conn.execute(
                    update(tasks)
                    .where(tasks.c.id == locked, claimable)
                    .values(
                        status=PROCESSING,
                        lease_owner=owner,
                        lease_expires_at=now + timedelta(seconds=lease_seconds),
                        attempts=tasks.c.attempts + 1,
                        started_at=now,
                        progress=0,
                    )
                    .returning(*tasks.c)
                )
            ).first()
            if row is not None:
                await announce_change(conn, db.dialect, row.id)
                break
    if row is None:
        return None
    record = record_from_row(row)
    return record, Lease(task_id=record.id, owner=owner, attempt=record.attempts)


def lease_held(lease: Lease) -> Any:
    """The condition that ``lease`` still holds its task (a re-claimed task has a new attempt)."""
    return and_(
        tasks.c.id == lease.task_id,
        tasks.c.status == PROCESSING,
        tasks.c.lease_owner == lease.owner,
        tasks.c.attempts == lease.attempt,
    )


async def renew_lease(
    db: Database, lease: Lease, *, lease_seconds: float, progress: int | None = None
) -> LeaseState:
    """Extend the lease and record progress (``None``: unchanged); tells whether it is held."""
    values: dict[str, Any] = {"lease_expires_at": utcnow() + timedelta(seconds=lease_seconds)}
    if progress is not None:
        values["progress"] = progress
    async with db.write() as conn:
        row = (
            await conn.execute(
                update(tasks)
                .where(lease_held(lease))
                .values(**values)
                .returning(tasks.c.cancel_requested)
            )
        ).first()
        if row is not None and progress is not None:
            await announce_change(conn, db.dialect, lease.task_id)
    if row is None:
        return LeaseState(held=False, cancel_requested=False)
    return LeaseState(held=True, cancel_requested=bool(row.cancel_requested))


async def complete_task(
    db: Database,
    lease: Lease,
    videos: list[str],
    engine: str,
    info: dict,
    posters: list[str] | None = None,
) -> bool:
    """Mark the task completed with its videos (and their poster frames); ``False`` if the
    lease was lost meanwhile."""
    async with db.write() as conn:
        result = await conn.execute(
            update(tasks)
            .where(lease_held(lease))
            .values(
                status=COMPLETED,
                videos=videos,
                posters=posters or [],
                progress=100,
                engine=engine,
                engine_info=info,
                completed_at=utcnow(),
                lease_owner=None,
                lease_expires_at=None,
            )
            .returning(*_FINISHED_COLUMNS)
        )
        finished = result.first()
        if finished is not None:
            await count_task_finished(conn, finished.account_id)
            await enqueue_delivery(conn, finished._mapping, COMPLETED)
            await announce_change(conn, db.dialect, lease.task_id)
    return finished is not None


async def fail_task(db: Database, lease: Lease, code: str, message: str) -> bool:
    """Mark the task failed and refund it; ``False`` if the lease was lost meanwhile."""
    return await _finish_with_refund(db, lease_held(lease), FAILED, code, message)


async def cancel_running_task(db: Database, lease: Lease) -> bool:
    """Mark a task whose engine stopped on a cancel as canceled, and refund it."""
    return await _finish_with_refund(
        db, lease_held(lease), CANCELED, "CANCELED", "canceled on request"
    )


async def cancel_task(db: Database, task_id: str, *, statuses: tuple[str, ...]) -> bool:
    """Cancel and refund ``task_id`` at once if its status is one of ``statuses``."""
    condition = and_(tasks.c.id == task_id, tasks.c.status.in_(statuses))
    return await _finish_with_refund(db, condition, CANCELED, "CANCELED", "canceled on request")


async def cancel_abandoned_tasks(db: Database) -> list[str]:
    """Cancel and refund tasks whose cancel was asked but that no live worker holds.

    A worker that died (or was stopped) after a cancel request leaves its task pending or with an
    expired lease, and claims skip such tasks; this sweep finishes them.
    """
    now = utcnow()
    abandoned = and_(
        tasks.c.cancel_requested.is_(True),
        or_(
            tasks.c.status == PENDING,
            and_(tasks.c.status == PROCESSING, tasks.c.lease_expires_at < now),
        ),
    )
    ids = [row.id for row in await db.fetch_all(select(tasks.c.id).where(abandoned))]
    message = "canceled on request"
    return [
        task_id
        for task_id in ids
        if await _finish_with_refund(
            db, and_(tasks.c.id == task_id, abandoned), CANCELED, "CANCELED", message
        )
    ]


async def is_deleted(db: Database, task_id: str) -> bool:
    """Whether the task was deleted by its owner."""
    row = await db.fetch_one(select(tasks.c.deleted_at).where(tasks.c.id == task_id))
    return row is not None and row.deleted_at is not None


async def release_task(db: Database, lease: Lease) -> bool:
    """Hand a task back to the queue without counting the attempt (worker shutting down)."""
    async with db.write() as conn:
        row = (
            await conn.execute(
                update(tasks)
                .where(lease_held(lease))
                .values(
                    status=PENDING,
                    attempts=tasks.c.attempts - 1,
                    lease_owner=None,
                    lease_expires_at=None,
                    progress=0,
                )
                .returning(tasks.c.route_head)
            )
        ).first()
        if row is not None:
            await notify_task_ready(conn, db.dialect, row.route_head)
            await announce_change(conn, db.dialect, lease.task_id)
    return row is not None


async def fail_exhausted_tasks(db: Database, *, max_attempts: int) -> list[str]:
    """Fail and refund tasks whose last allowed run died (lease expired, no attempts left)."""
    now = utcnow()
    async with db.read() as conn:
        ids = (
            (
                await conn.execute(
                    select(tasks.c.id).where(
                        tasks.c.status == PROCESSING,
                        tasks.c.lease_expires_at < now,
                        tasks.c.attempts >= max_attempts,
                    )
                )
            )
            .scalars()
            .all()
        )
    failed = []
    for task_id in ids:
        condition = and_(
            tasks.c.id == task_id,
            tasks.c.status == PROCESSING,
            tasks.c.lease_expires_at < now,
            tasks.c.attempts >= max_attempts,
        )
        message = f"the task's worker stopped {max_attempts} times; credits refunded"
        if await _finish_with_refund(db, condition, FAILED, "ATTEMPTS_EXHAUSTED", message):
            failed.append(task_id)
    return failed


async def _finish_with_refund(
    db: Database, condition: Any, status: str, code: str, message: str
) -> bool:
    async with db.write() as conn:
        row = (
            await conn.execute(
                update(tasks)
                .where(condition)
                .values(
                    status=status,
                    error_code=code,
                    error_message=message,
                    consumed_credits=0,
                    completed_at=utcnow(),
                    lease_owner=None,
                    lease_expires_at=None,
                )
                .returning(*_FINISHED_COLUMNS)
            )
        ).first()
        if row is None:
            return False
        await count_task_finished(conn, row.account_id)
        await _refund_task(conn, row.id, row.account_id)
        await enqueue_delivery(conn, row._mapping, status)
        await announce_change(conn, db.dialect, row.id)
    return True


async def _refund_task(conn: AsyncConnection, task_id: str, account_id: str) -> None:
    reserved = (
        await conn.execute(
            select(func.coalesce(func.sum(ledger.c.delta), 0)).where(ledger.c.task_id == task_id)
        )
    ).scalar_one()
    # The task's own ledger rows say what it still holds: negative while reserved, zero once
    # refunded (and always zero on a test key).
    if reserved < 0:
        await refund_credits(conn, account_id, -int(reserved), task_id)
