"""Telling idle workers that a task is waiting: PostgreSQL NOTIFY, sent on commit.

The notification is sent inside the transaction that makes the task claimable, so a worker is
woken only once the task is visible to it, and never for a task that was rolled back. SQLite
has no such channel: there the API wakes its in-process worker directly, and others poll.
"""

from __future__ import annotations

from sqlalchemy import func, select

from grokimagine.storage.db import DbConnection

TASKS_CHANNEL = "grokimagine_tasks"


async def notify_task_ready(conn: DbConnection, dialect: str, route_head: str | None) -> None:
    """Within ``conn``'s transaction, announce a claimable task (PostgreSQL only)."""
    if dialect == "postgresql":
        await conn.execute(select(func.pg_notify(TASKS_CHANNEL, route_head or "")))
