"""Signals about tasks: "a task is waiting" for idle workers, "a task changed" for event streams.

On PostgreSQL both are NOTIFY messages sent inside the transaction that makes the change, so a
listener hears of it only once it is committed and visible, and never of a rolled-back one, in
every process. SQLite has no such channel: there the API wakes its in-process worker directly,
changes are announced to this process's listeners, and other processes poll.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import func, select

from grokimagine.storage.db import DbConnection

TASKS_CHANNEL = "grokimagine_tasks"
# Payload: the id of a task whose status, progress or cancel/delete state changed.
TASK_CHANGES_CHANNEL = "grokimagine_task_changes"

log = logging.getLogger("grokimagine.tasks")


async def notify_task_ready(conn: DbConnection, dialect: str, route_head: str | None) -> None:
    """Within ``conn``'s transaction, announce a claimable task (PostgreSQL only)."""
    if dialect == "postgresql":
        await conn.execute(select(func.pg_notify(TASKS_CHANNEL, route_head or "")))


class LocalTaskChanges:
    """This process's listeners to task changes (the SQLite path of :func:`announce_change`)."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[str], None]] = []

    def subscribe(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(task_id)`` on each change announced in this process."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[str], None]) -> None:
        """Stop calling ``listener``."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def announce(self, task_id: str) -> None:
        """Tell every listener that ``task_id`` changed."""
        for listener in list(self._listeners):
            try:
                listener(task_id)
            except Exception:  # a listener's bug must not fail the transaction that changed it
                log.exception("task change listener failed")


local_task_changes = LocalTaskChanges()


async def announce_change(conn: DbConnection, dialect: str, task_id: str) -> None:
    """Within ``conn``'s transaction, announce that ``task_id``'s visible state changed.

    On SQLite the listeners run now, before the commit; that is safe because a SQLite
    transaction here never yields to the event loop (see ``Database``), so whatever they
    schedule runs after the commit.
    """
    if dialect == "postgresql":
        await conn.execute(select(func.pg_notify(TASK_CHANGES_CHANNEL, task_id)))
    else:
        local_task_changes.announce(task_id)
