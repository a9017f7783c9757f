"""Idempotency keys on task submission: a retried request finds its original task.

The key lives on the task row, under a unique index on (account_id, idempotency_key). Of two
requests racing with one key, the second insert violates the index, its transaction (and its
credit reservation) rolls back, and it answers with the first one's task. A key is bound to a
fingerprint of the request body: the same key with another body is a conflict. After
:data:`IDEMPOTENCY_WINDOW` a key may be used again; the old task then gives it up, in the
transaction that creates the new one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import bindparam, select, update

from grokimagine.domain.clock import utcnow
from grokimagine.storage.db import Database, DbConnection
from grokimagine.storage.schema import tasks

IDEMPOTENCY_WINDOW = timedelta(hours=24)
MAX_KEY_LENGTH = 200  # the column's width


@dataclass(frozen=True)
class IdempotencyKey:
    """A client's key and the fingerprint of the body it came with."""

    key: str
    fingerprint: str


class IdempotencyConflictError(Exception):
    """The key was used, within the window, with a different request body."""


class IdempotencyKeyTakenError(Exception):
    """A concurrent request inserted a task with the same key first."""


def fingerprint(request: Mapping[str, Any]) -> str:
    """SHA-256 of the normalised request, with keys sorted, so field order does not matter."""
    return hashlib.sha256(orjson.dumps(request, option=orjson.OPT_SORT_KEYS)).hexdigest()


_ORIGINAL = select(tasks.c.id, tasks.c.idempotency_hash, tasks.c.created_at).where(
    tasks.c.account_id == bindparam("account_id"),
    tasks.c.idempotency_key == bindparam("key"),
)


async def find_original(db: Database, account_id: str, key: IdempotencyKey) -> str | None:
    """The id of the task made with ``key`` within the window, if any.

    Raises :class:`IdempotencyConflictError` when that task's body differs.
    """
    row = await db.fetch_one(_ORIGINAL, {"account_id": account_id, "key": key.key})
    if row is None or row.created_at < utcnow() - IDEMPOTENCY_WINDOW:
        return None
    if row.idempotency_hash != key.fingerprint:
        raise IdempotencyConflictError(key.key)
    return str(row.id)


async def release_expired_key(conn: DbConnection, account_id: str, key: str) -> None:
    """Take ``key`` off a task older than the window, so that a new task may use it."""
    await conn.execute(
        update(tasks)
        .where(
            tasks.c.account_id == account_id,
            tasks.c.idempotency_key == key,
            tasks.c.created_at < utcnow() - IDEMPOTENCY_WINDOW,
        )
        .values(idempotency_key=None)
    )
