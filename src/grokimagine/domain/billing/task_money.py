"""A task's money: its price at submission, what was charged and refunded, and why (its ledger)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from grokimagine.domain.clock import iso_utc
from grokimagine.storage.db import Database
from grokimagine.storage.schema import ledger

CHARGE_REASONS = ("reserve",)
REFUND_REASONS = ("refund",)


@dataclass(frozen=True)
class TaskMoney:
    """Credits of one task; ``charged - refunded`` is what it costs the account now."""

    price: int | None  # None: a task made before prices were stored
    charged: int
    refunded: int
    ledger: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        """As the task resource shows it."""
        return {
            "price": self.price,
            "charged": self.charged,
            "refunded": self.refunded,
            "ledger": self.ledger,
        }


def money_from_rows(price: int | None, rows: list[Any]) -> TaskMoney:
    """A :class:`TaskMoney` from the task's price and its ledger rows (oldest first)."""
    charged = -sum(row.delta for row in rows if row.reason in CHARGE_REASONS)
    refunded = sum(row.delta for row in rows if row.reason in REFUND_REASONS)
    entries = [
        {
            "id": row.id,
            "delta": row.delta,
            "reason": row.reason,
            "note": row.note,
            "created_at": iso_utc(row.created_at),
        }
        for row in rows
    ]
    return TaskMoney(price=price, charged=charged, refunded=refunded, ledger=entries)


async def task_money(db: Database, task_id: str, price: int | None) -> TaskMoney:
    """The money of ``task_id`` (whose stored price is ``price``), from its ledger rows."""
    rows = await db.fetch_all(
        select(ledger.c.id, ledger.c.delta, ledger.c.reason, ledger.c.note, ledger.c.created_at)
        .where(ledger.c.task_id == task_id)
        .order_by(ledger.c.id)
    )
    return money_from_rows(price, list(rows))


async def money_of_tasks(db: Database, prices: Mapping[str, int | None]) -> dict[str, TaskMoney]:
    """The money of each task of ``prices`` (task id -> stored price), one query per 500 tasks
    (event streams read many tasks at once)."""
    rows_of: dict[str, list[Any]] = {task_id: [] for task_id in prices}
    wanted = list(prices)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = await db.fetch_all(
            select(
                ledger.c.task_id,
                ledger.c.id,
                ledger.c.delta,
                ledger.c.reason,
                ledger.c.note,
                ledger.c.created_at,
            )
            .where(ledger.c.task_id.in_(chunk))
            .order_by(ledger.c.id)
        )
        for row in rows:
            rows_of[row.task_id].append(row)
    return {task_id: money_from_rows(prices[task_id], rows) for task_id, rows in rows_of.items()}
