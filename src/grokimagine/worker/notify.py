"""Wakes a worker within milliseconds of a task's creation: PostgreSQL LISTEN on its own connection.

Notifications only shorten the wait: the worker still polls, so a lost connection or a missed
notification delays a task by at most one polling interval.
"""

from __future__ import annotations

from collections.abc import Callable

from grokimagine.domain.tasks.signals import TASKS_CHANNEL
from grokimagine.storage.listen import libpq_url, listen

__all__ = ["libpq_url", "listen_for_tasks"]


async def listen_for_tasks(
    url: str, on_task: Callable[[], None], *, retry_seconds: float = 1.0
) -> None:
    """Call ``on_task`` for every task announced on the channel, until cancelled.

    Reconnects after any error; after each (re)connection ``on_task`` is called once, for the
    tasks announced while nobody listened.
    """
    await listen(
        url,
        TASKS_CHANNEL,
        lambda _payload: on_task(),
        on_connect=on_task,
        retry_seconds=retry_seconds,
    )
