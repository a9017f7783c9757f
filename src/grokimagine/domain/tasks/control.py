"""Tasks as their owner controls them: listed page by page, canceled, deleted, placed in the queue.

Every state change goes through :mod:`grokimagine.domain.tasks.queue`'s compare-and-set
transitions, so a cancel or delete racing with a worker refunds a task at most once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, or_, select, update

from grokimagine.domain.clock import utcnow
from grokimagine.domain.cursors import decode_task_cursor, encode_cursor
from grokimagine.domain.tasks import queue as task_queue
from grokimagine.domain.tasks.queue_positions import queue_positions_of
from grokimagine.domain.tasks.records import (
    FINISHED,
    PENDING,
    PROCESSING,
    TaskRecord,
    find_task,
    record_from_row,
)
from grokimagine.domain.tasks.signals import announce_change
from grokimagine.storage.db import Database
from grokimagine.storage.files import FileStore
from grokimagine.storage.schema import tasks


class TaskNotCancelableError(Exception):
    """The task already reached a final state."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class TaskPage:
    """One page of an account's tasks, newest first, and the cursor of the next page."""

    records: list[TaskRecord]
    next_cursor: str | None


async def list_tasks(
    db: Database,
    account_id: str,
    *,
    limit: int,
    cursor: str | None,
    status: str | None,
    mode: str | None = None,
    search: str | None = None,
) -> TaskPage:
    """An account's tasks that are not deleted, newest first, optionally of one status and mode,
    and matching ``search`` (a task id, or words that all appear in the prompt, any case)."""
    query = select(tasks).where(tasks.c.account_id == account_id, tasks.c.deleted_at.is_(None))
    if search and search.strip():
        query = query.where(_matches(search))
    if status is not None:
        query = query.where(tasks.c.status == status)
    if mode is not None:
        query = query.where(tasks.c.mode == mode)
    if cursor is not None:
        created, task_id = decode_task_cursor(cursor)
        query = query.where(
            or_(
                tasks.c.created_at < created,
                and_(tasks.c.created_at == created, tasks.c.id < task_id),
            )
        )
    rows = await db.fetch_all(
        query.order_by(tasks.c.created_at.desc(), tasks.c.id.desc()).limit(limit + 1)
    )
    records = [record_from_row(row) for row in rows[:limit]]
    more = len(rows) > limit
    last = records[-1] if more else None
    return TaskPage(records, encode_cursor(last.created_at.isoformat(), last.id) if last else None)


MAX_SEARCH_WORDS = 8


def _matches(search: str) -> ColumnElement[bool]:
    """A task whose id is ``search``, or whose prompt holds each of its words (LIKE with the
    words escaped, on lower-cased text: the same on SQLite and PostgreSQL)."""
    words = search.lower().split()[:MAX_SEARCH_WORDS]
    prompt = func.lower(tasks.c.prompt)
    in_prompt = and_(*(prompt.contains(word[:200], autoescape=True) for word in words))
    return or_(tasks.c.id == search.strip(), in_prompt)


async def queue_position(db: Database, record: TaskRecord) -> int | None:
    """How many pending tasks were created before this pending one (0: it is next); ``None``
    for a task not pending. See :mod:`~grokimagine.domain.tasks.queue_positions`."""
    return await queue_positions_of(db).position(record)


async def cancel(db: Database, account_id: str, task_id: str) -> TaskRecord:
    """Cancel a task: a pending one at once (refunded), a processing one at its engine's next step.

    :class:`TaskNotFoundError` for an unknown task; :class:`TaskNotCancelableError` for a
    finished one.
    """
    # A few rounds, because the task may move on between the read and the compare-and-set
    # (a worker claims it, or finishes it).
    for _ in range(3):
        record = await find_task(db, task_id, account_id=account_id)
        if record.status in FINISHED:
            raise TaskNotCancelableError(record.status)
        if record.status == PENDING and await task_queue.cancel_task(
            db, task_id, statuses=(PENDING,)
        ):
            break
        if record.status == PROCESSING and await _ask_worker_to_cancel(db, task_id):
            break
    return await find_task(db, task_id, account_id=account_id)


async def _ask_worker_to_cancel(db: Database, task_id: str) -> bool:
    # The worker's heartbeat sees the flag, stops the engine and refunds the task.
    async with db.write() as conn:
        result = await conn.execute(
            update(tasks)
            .where(tasks.c.id == task_id, tasks.c.status == PROCESSING)
            .values(cancel_requested=True)
        )
        if result.rowcount == 1:
            await announce_change(conn, db.dialect, task_id)
    return result.rowcount == 1


async def delete(db: Database, store: FileStore, account_id: str, task_id: str) -> TaskRecord:
    """Cancel the task if it is not finished, then remove its inputs and videos for good.

    The row stays (marked deleted, without file keys) so that the ledger's rows keep their task
    and ``/v1/status`` still answers. Deleting twice is harmless. :class:`TaskNotFoundError`
    for an unknown task.
    """
    record = await find_task(db, task_id, account_id=account_id)
    if record.status not in FINISHED:
        # Not waiting for the worker: its lease is gone with the status, so it stops at once.
        await task_queue.cancel_task(db, task_id, statuses=(PENDING, PROCESSING))
    async with db.write() as conn:
        await conn.execute(
            update(tasks)
            .where(tasks.c.id == task_id, tasks.c.deleted_at.is_(None))
            .values(deleted_at=utcnow(), videos=[], posters=[], input_images=[])
        )
        await announce_change(conn, db.dialect, task_id)
    await asyncio.to_thread(store.delete_task_files, task_id)
    return await find_task(db, task_id, account_id=account_id)
