"""Webhook deliveries as rows: written with a task's final state, claimed and sent under a lease.

A delivery row is inserted in the same transaction as the state change it announces, so a
crash can never lose one; the delivery loop (``worker/webhook_sender.py``) claims due rows under a
short lease (several processes may run it) and records each attempt with a compare-and-set on
that lease, so an attempt's result is written at most once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select, update

from grokimagine.domain import ids
from grokimagine.domain.clock import iso_utc, utcnow
from grokimagine.domain.tasks.records import CANCELED, COMPLETED
from grokimagine.domain.tasks.records import FAILED as FAILED_TASK
from grokimagine.storage.db import Database, DbConnection
from grokimagine.storage.schema import webhook_deliveries, webhook_endpoints

EVENTS: dict[str, str] = {
    COMPLETED: "task.completed",
    FAILED_TASK: "task.failed",
    CANCELED: "task.canceled",
}
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
MAX_LOGGED_ATTEMPTS = 30


@dataclass(frozen=True)
class Delivery:
    """A claimed delivery: what to send where, and the attempts so far."""

    id: str
    task_id: str | None  # None: an endpoint's test event
    account_id: str
    event: str
    url: str
    attempts: int
    attempt_log: list[dict[str, Any]]
    created_at: datetime
    endpoint_id: str | None = None  # an account endpoint (its secret signs), else callback_url
    payload: dict[str, Any] | None = None  # a stored body (test events); else the task's view


@dataclass(frozen=True)
class AttemptResult:
    """How one POST went: the receiver's status code, or the error that stopped it."""

    status_code: int | None
    error: str | None
    milliseconds: int

    @property
    def succeeded(self) -> bool:
        """A 2xx answer is a delivery; anything else is retried."""
        return self.status_code is not None and 200 <= self.status_code < 300


async def enqueue_delivery(conn: DbConnection, finished: Mapping[str, Any], status: str) -> None:
    """Insert the deliveries announcing ``status`` for a task row (id, account_id,
    callback_url): one to its callback URL, one to each endpoint of the account that wants the
    event. Call it inside the transaction that sets the task's final state."""
    event = EVENTS[status]
    targets: list[tuple[str, str | None]] = []
    url = finished.get("callback_url")
    if url:
        targets.append((url, None))
    endpoints = await conn.execute(
        select(webhook_endpoints.c.id, webhook_endpoints.c.url, webhook_endpoints.c.events).where(
            webhook_endpoints.c.account_id == finished["account_id"],
            webhook_endpoints.c.deleted_at.is_(None),
        )
    )
    targets += [(row.url, row.id) for row in endpoints if event in (row.events or [])]
    if not targets:
        return
    now = utcnow()
    await conn.execute(
        insert(webhook_deliveries),
        [
            {
                "id": ids.new_delivery_id(),
                "task_id": finished["id"],
                "account_id": finished["account_id"],
                "event": event,
                "url": target,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "attempt_log": [],
                "created_at": now,
                "endpoint_id": endpoint_id,
                "payload": None,
            }
            for target, endpoint_id in targets
        ],
    )


def _due(now: datetime) -> Any:
    return and_(
        webhook_deliveries.c.status == PENDING,
        webhook_deliveries.c.next_attempt_at <= now,
        or_(
            webhook_deliveries.c.lease_expires_at.is_(None),
            webhook_deliveries.c.lease_expires_at < now,
        ),
    )


async def claim_due_deliveries(
    db: Database, owner: str, *, limit: int, lease_seconds: float
) -> list[Delivery]:
    """Claim up to ``limit`` deliveries whose next attempt is due, oldest due first."""
    now = utcnow()
    # A read first: an idle loop then never takes the write lock (SQLite) or row locks.
    if await db.fetch_one(select(webhook_deliveries.c.id).where(_due(now)).limit(1)) is None:
        return []
    due_ids = (
        select(webhook_deliveries.c.id)
        .where(_due(now))
        .order_by(webhook_deliveries.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    async with db.write() as conn:
        rows = (
            await conn.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.id.in_(due_ids.scalar_subquery()), _due(now))
                .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds))
                .returning(*webhook_deliveries.c)
            )
        ).all()
    return [
        Delivery(
            id=row.id,
            task_id=row.task_id,
            account_id=row.account_id,
            event=row.event,
            url=row.url,
            attempts=row.attempts,
            attempt_log=list(row.attempt_log or []),
            created_at=row.created_at,
            endpoint_id=row.endpoint_id,
            payload=row.payload,
        )
        for row in rows
    ]


async def record_attempt(
    db: Database,
    delivery: Delivery,
    owner: str,
    result: AttemptResult,
    next_attempt_at: datetime | None,
) -> bool:
    """Record an attempt: delivered, retried at ``next_attempt_at``, or (``None``) given up.

    ``False`` if this process's lease on the delivery was lost meanwhile.
    """
    now = utcnow()
    entry = {
        "at": iso_utc(now),
        "status_code": result.status_code,
        "error": result.error,
        "ms": result.milliseconds,
    }
    if result.succeeded:
        status, next_at = DELIVERED, None
    elif next_attempt_at is None:
        status, next_at = FAILED, None
    else:
        status, next_at = PENDING, next_attempt_at
    async with db.write() as conn:
        changed = await conn.execute(
            update(webhook_deliveries)
            .where(
                webhook_deliveries.c.id == delivery.id,
                webhook_deliveries.c.status == PENDING,
                webhook_deliveries.c.lease_owner == owner,
            )
            .values(
                status=status,
                attempts=delivery.attempts + 1,
                next_attempt_at=next_at,
                lease_owner=None,
                lease_expires_at=None,
                last_status_code=result.status_code,
                last_error=result.error,
                attempt_log=[*delivery.attempt_log, entry][-MAX_LOGGED_ATTEMPTS:],
                finished_at=None if status == PENDING else now,
            )
        )
    return changed.rowcount == 1


async def deliveries_of_task(db: Database, task_id: str) -> list[dict[str, Any]]:
    """The delivery log of a task, oldest first, as the API shows it."""
    rows = await db.fetch_all(
        select(webhook_deliveries)
        .where(webhook_deliveries.c.task_id == task_id)
        .order_by(webhook_deliveries.c.created_at, webhook_deliveries.c.id)
    )
    return [
        {
            "id": row.id,
            "event": row.event,
            "url": row.url,
            "status": row.status,
            "attempts": row.attempts,
            "next_attempt_at": iso_utc(row.next_attempt_at),
            "last_status_code": row.last_status_code,
            "last_error": row.last_error,
            "created_at": iso_utc(row.created_at),
            "finished_at": iso_utc(row.finished_at),
            "attempt_log": list(row.attempt_log or []),
        }
        for row in rows
    ]


async def deliveries_of_account(
    db: Database, account_id: str, *, limit: int = 50
) -> list[dict[str, Any]]:
    """The account's latest webhook deliveries, newest first."""
    rows = await db.fetch_all(
        select(webhook_deliveries)
        .where(webhook_deliveries.c.account_id == account_id)
        .order_by(webhook_deliveries.c.created_at.desc(), webhook_deliveries.c.id.desc())
        .limit(limit)
    )
    return [
        {
            "id": row.id,
            "task_id": row.task_id,
            "event": row.event,
            "url": row.url,
            "status": row.status,
            "attempts": row.attempts,
            "last_status_code": row.last_status_code,
            "last_error": row.last_error,
            "created_at": iso_utc(row.created_at),
            "next_attempt_at": iso_utc(row.next_attempt_at),
            "endpoint_id": row.endpoint_id,
        }
        for row in rows
    ]
