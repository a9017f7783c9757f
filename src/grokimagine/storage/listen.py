"""PostgreSQL LISTEN on a connection of its own: how one process hears another's NOTIFY."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import URL

log = logging.getLogger("grokimagine.storage")

# A quiet connection is checked this often, so a half-open one is noticed and replaced.
CHECK_SECONDS = 30.0


def libpq_url(url: URL) -> str:
    """The plain ``postgresql://`` URL psycopg connects to, from the SQLAlchemy one."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def listen(
    url: str,
    channel: str,
    on_message: Callable[[str], None],
    *,
    on_connect: Callable[[], None] | None = None,
    retry_seconds: float = 1.0,
) -> None:
    """Call ``on_message(payload)`` for every NOTIFY on ``channel``, until cancelled.

    Reconnects after any error; after each (re)connection ``on_connect`` is called, for what
    was announced while nobody listened.
    """
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await conn.execute(f"LISTEN {channel}")
                if on_connect is not None:
                    on_connect()
                while True:
                    async for message in conn.notifies(timeout=CHECK_SECONDS):
                        on_message(message.payload)
                    await conn.execute("SELECT 1")
        except psycopg.Error as exc:
            log.warning("notifications on %s interrupted (%s); reconnecting", channel, exc)
            await asyncio.sleep(retry_seconds)
