"""Tasks across accounts, as operators see and fix them: filter, inspect, refund once, cancel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from grokimagine.domain.accounts.audit import Actor, record_action
from grokimagine.domain.billing.credits import refund_credits
from grokimagine.domain.billing.task_money import TaskMoney, task_money
from grokimagine.domain.cursors import InvalidCursorError, decode_cursor, encode_cursor
from grokimagine.domain.tasks import control as task_control
from grokimagine.domain.tasks.records import (
    COMPLETED,
    FINISHED,
    TaskNotFoundError,
    TaskRecord,
    find_task,
    record_from_row,
)
from grokimagine.storage.db import Database
from grokimagine.storage.schema import ledger, tasks


class TaskNotRefundableError(Exception):
    """The task cannot be refunded: not completed yet, already refunded, or never charged."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


@dataclass(frozen=True)
class AdminTaskPage:
    """Tasks of every account, newest first, and the cursor of the next page."""

    records: list[TaskRecord]
    next_cursor: str | None


@dataclass(frozen=True)
class ProviderFacts:
    """What the provider said about a task's videos: job ids and cost in USD where known."""

    job_ids: list[str]
    cost_usd: float | None


async def list_all_tasks(
    db: Database,
    *,
    limit: int = 50,
    cursor: str | None = None,
    account_id: str | None = None,
    status: str | None = None,
    engine: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AdminTaskPage:
    """Tasks of all accounts (deleted ones too), newest first, filtered.

    ``engine`` matches the engine that ran the task, or for one not run yet the first engine of
    its route. Raises :class:`InvalidCursorError` for a forged cursor.
    """
    query = select(tasks)
    if account_id is not None:
        query = query.where(tasks.c.account_id == account_id)
    if status is not None:
        query = query.where(tasks.c.status == status)
    if engine is not None:
        query = query.where(
            or_(
                tasks.c.engine == engine,
                and_(tasks.c.engine.is_(None), tasks.c.route_head == engine),
            )
        )
    if since is not None:
        query = query.where(tasks.c.created_at >= since)
    if until is not None:
        query = query.where(tasks.c.created_at < until)
    if cursor is not None:
        created, task_id = decode_cursor(cursor, str, str)
        try:
            moment = datetime.fromisoformat(created)
        except ValueError as exc:
            raise InvalidCursorError(cursor) from exc
        if moment.tzinfo is None:
            raise InvalidCursorError(cursor)
        query = query.where(
            or_(
                tasks.c.created_at < moment,
                and_(tasks.c.created_at == moment, tasks.c.id < task_id),
            )
        )
    rows = await db.fetch_all(
        query.order_by(tasks.c.created_at.desc(), tasks.c.id.desc()).limit(limit + 1)
    )
    records = [record_from_row(row) for row in rows[:limit]]
    last = records[-1] if len(rows) > limit else None
    return AdminTaskPage(
        records, encode_cursor(last.created_at.isoformat(), last.id) if last else None
    )


def provider_facts(row: Any) -> ProviderFacts:
    """Provider job ids and cost of a task row: its own columns where the schema has them,
    else what the worker recorded in ``engine_info``."""
    mapping = row if isinstance(row, dict) else dict(row._mapping)
    if mapping.get("provider_job_id") is not None or mapping.get("provider_cost_usd") is not None:
        # provider_jobs lists every job of the task (one per video, and any replaced one).
        jobs = [str(job["job_id"]) for job in mapping.get("provider_jobs") or []]
        job = mapping.get("provider_job_id")
        cost = mapping.get("provider_cost_usd")
        listed = list(dict.fromkeys(jobs)) or ([job] if job else [])
        return ProviderFacts(listed, float(cost) if cost is not None else None)
    videos = (mapping.get("engine_info") or {}).get("videos") or []
    job_ids = [str(v["provider_task_id"]) for v in videos if v.get("provider_task_id")]
    costs = [v.get("provider_cost_usd") for v in videos]
    known = [float(cost) for cost in costs if cost is not None]
    return ProviderFacts(job_ids, sum(known) if known else None)


@dataclass(frozen=True)
class TaskDetail:
    """One task as an operator inspects it."""

    record: TaskRecord
    engine: str | None
    provider: ProviderFacts
    money: TaskMoney


async def task_detail(db: Database, task_id: str) -> TaskDetail:
    """A task with its engine, attempts, provider job ids and cost, and its money."""
    row = await db.fetch_one(select(tasks).where(tasks.c.id == task_id))
    if row is None:
        raise TaskNotFoundError(task_id)
    record = record_from_row(row)
    return TaskDetail(
        record=record,
        engine=row.engine,
        provider=provider_facts(row),
        money=await task_money(db, task_id, record.price_credits),
    )


async def refund_task(db: Database, actor: Actor, task_id: str, reason: str = "") -> int:
    """Refund a completed task exactly what it was charged, at most once; the credits refunded.

    Failed and canceled tasks were refunded when they ended; unfinished ones are canceled, not
    refunded. Two admins racing: the compare-and-set on ``consumed_credits`` lets one through.
    Raises :class:`TaskNotFoundError` or :class:`TaskNotRefundableError`.
    """
    async with db.write() as conn:
        row = (
            await conn.execute(
                update(tasks)
                .where(
                    tasks.c.id == task_id,
                    tasks.c.status == COMPLETED,
                    tasks.c.consumed_credits > 0,
                )
                .values(consumed_credits=0)
                .returning(tasks.c.account_id)
            )
        ).first()
        if row is None:
            found = (
                await conn.execute(
                    select(tasks.c.status, tasks.c.consumed_credits).where(tasks.c.id == task_id)
                )
            ).first()
            if found is None:
                raise TaskNotFoundError(task_id)
            if found.status not in FINISHED:
                raise TaskNotRefundableError(f"it is {found.status}: cancel it instead")
            if found.status != COMPLETED:
                raise TaskNotRefundableError(f"it is {found.status}, and was refunded then")
            raise TaskNotRefundableError("it was already refunded, or never charged")
        held = (
            await conn.execute(
                select(func.coalesce(func.sum(ledger.c.delta), 0)).where(
                    ledger.c.task_id == task_id
                )
            )
        ).scalar_one()
        amount = -int(held)
        if amount <= 0:
            raise TaskNotRefundableError("it holds no credits")
        note = f"refunded by an operator: {reason}" if reason else "refunded by an operator"
        balance = await refund_credits(conn, row.account_id, amount, task_id, note)
        await record_action(
            conn,
            actor,
            "task.refund",
            "task",
            task_id,
            before={"consumed_credits": amount, "balance": balance - amount},
            after={"consumed_credits": 0, "balance": balance, "refunded": amount},
            note=reason,
        )
    return amount


async def cancel_task(db: Database, actor: Actor, task_id: str) -> TaskRecord:
    """Cancel any account's task as its owner could (refunded when it stops); audited.

    Raises :class:`TaskNotFoundError`, or
    :class:`~grokimagine.domain.tasks.control.TaskNotCancelableError` for a finished one.
    """
    before = await find_task(db, task_id, account_id=None)
    record = await task_control.cancel(db, before.account_id, task_id)
    if record is None:
        raise TaskNotFoundError(task_id)
    async with db.write() as conn:
        await record_action(
            conn,
            actor,
            "task.cancel",
            "task",
            task_id,
            before={"status": before.status},
            after={"status": record.status, "cancel_requested": record.cancel_requested},
        )
    return record
