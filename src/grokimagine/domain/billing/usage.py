"""What an account sees of itself: usage per day, its ledger page by page, its webhook secret."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from grokimagine.domain.clock import iso_utc, utcnow
from grokimagine.domain.cursors import decode_ledger_cursor, encode_cursor
from grokimagine.domain.ids import new_webhook_secret
from grokimagine.storage.db import Database
from grokimagine.storage.schema import accounts, ledger, tasks

USAGE_DAYS = 30


@dataclass(frozen=True)
class LedgerPage:
    """Ledger entries, newest first, and the cursor of the next page."""

    entries: list[dict[str, Any]]
    next_cursor: str | None


def _utc_day(db: Database, column: Any) -> Any:
    # SQLite keeps UTC timestamps as text that date() reads; PostgreSQL's date() would use the
    # session's time zone, so the timestamp is first taken to UTC.
    if db.is_sqlite:
        return func.date(column)
    return func.date(func.timezone("UTC", column))


async def usage_by_day(db: Database, account_id: str, days: int = USAGE_DAYS) -> list[dict]:
    """Tasks made and credits consumed (refunds deducted) per UTC day, newest day first."""
    day = _utc_day(db, tasks.c.created_at).label("day")
    since = utcnow().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days - 1)
    rows = await db.fetch_all(
        select(day, func.count().label("tasks"), func.sum(tasks.c.consumed_credits).label("cr"))
        .where(tasks.c.account_id == account_id, tasks.c.created_at >= since)
        .group_by(day)
        .order_by(day.desc())
    )
    return [{"date": str(row.day), "tasks": int(row.tasks), "credits": int(row.cr)} for row in rows]


async def ledger_page(
    db: Database, account_id: str, *, limit: int, cursor: str | None, for_operator: bool = False
) -> LedgerPage:
    """One page of the account's ledger, newest first; ``for_operator`` adds the admin key of
    each grant or deduction."""
    query = select(ledger).where(ledger.c.account_id == account_id)
    if cursor is not None:
        after_id = decode_ledger_cursor(cursor)
        query = query.where(ledger.c.id < after_id)
    rows = await db.fetch_all(query.order_by(ledger.c.id.desc()).limit(limit + 1))
    entries = [
        {**_entry(row), **({"admin_key_id": row.admin_key_id} if for_operator else {})}
        for row in rows[:limit]
    ]
    more = len(rows) > limit
    return LedgerPage(entries, encode_cursor(entries[-1]["id"]) if more else None)


async def account_details(db: Database, account_id: str) -> dict[str, Any]:
    """The account's plan, balance, spicy flag and webhook secret."""
    row = await db.fetch_one(
        select(
            accounts.c.plan, accounts.c.balance, accounts.c.allow_spicy, accounts.c.webhook_secret
        ).where(accounts.c.id == account_id)
    )
    if row is None:
        raise LookupError(account_id)
    return dict(row._mapping)


def _entry(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "delta": row.delta,
        "reason": row.reason,
        "task_id": row.task_id,
        "note": row.note,
        "created_at": iso_utc(row.created_at),
    }


async def ledger_entries(db: Database, account_id: str) -> list[dict[str, Any]]:
    """Every ledger row of the account, oldest first (for an export)."""
    rows = await db.fetch_all(
        select(ledger).where(ledger.c.account_id == account_id).order_by(ledger.c.id)
    )
    return [_entry(row) for row in rows]


async def rotate_webhook_secret(db: Database, account_id: str) -> str:
    """Replace the account's webhook signing secret; the new one signs from now on."""
    secret = new_webhook_secret()
    async with db.write() as conn:
        await conn.execute(
            update(accounts).where(accounts.c.id == account_id).values(webhook_secret=secret)
        )
    return secret


async def account_balance(db: Database, account_id: str) -> int:
    """The account's balance now."""
    row = await db.fetch_one(select(accounts.c.balance).where(accounts.c.id == account_id))
    if row is None:
        raise LookupError(account_id)
    return int(row.balance)
