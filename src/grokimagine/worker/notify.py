"""Wakes a worker within milliseconds of a task's creation: PostgreSQL LISTEN on its own connection.

Notifications only shorten the wait: the worker still polls, so a lost connection or a missed
notification delays a task by at most one polling interval.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import URL

from grokimagine.domain.task_signals import TASKS_CHANNEL

log = logging.getLogger("grokimagine.worker")

# A quiet connection is checked this often, so a half-open one is noticed and replaced.
CHECK_SECONDS = 30.0


def libpq_url(url: URL) -> str:
    """The plain ``postgresql://`` URL psycopg connects to, from the SQLAlchemy one."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def listen_for_tasks(
    url: str, on_task: Callable[[], None], *, retry_seconds: float = 1.0
) -> None:
    """Call ``on_task`` for every task announced on the channel, until cancelled.

    Reconnects after any error; after each (re)connection ``on_task`` is called once, for the
    tasks announced while nobody listened.
    """
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await conn.execute(f"LISTEN {TASKS_CHANNEL}")
                on_task()
                while True:
                    async for _ in conn.notifies(timeout=CHECK_SECONDS):
                        on_task()
                    await conn.execute("SELECT 1")
        except psycopg.Error as exc:
            log.warning("task notifications interrupted (%s); reconnecting", exc)
            await asyncio.sleep(retry_seconds)
