"""A lock held across processes and hosts for one-time jobs, such as making the demo account."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import text

from grokimagine.storage.db import Database


@contextlib.asynccontextmanager
async def exclusive(db: Database, name: str) -> AsyncIterator[None]:
    """Hold the lock ``name`` for the block, against every process using this database.

    PostgreSQL: a session advisory lock on a connection of its own. SQLite: an exclusive
    ``flock`` on a file beside the database (a SQLite database has only one host).
    """
    if not db.is_sqlite:
        async with db.postgres_engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(hashtext(:name))"), {"name": name})
            try:
                yield
            finally:
                await conn.execute(
                    text("SELECT pg_advisory_unlock(hashtext(:name))"), {"name": name}
                )
        return
    database = db.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(Path(f"{database}.{name}.lock"), "a+b") as handle:
        # flock blocks, so it waits in a thread while the event loop goes on.
        await asyncio.to_thread(fcntl.flock, handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
