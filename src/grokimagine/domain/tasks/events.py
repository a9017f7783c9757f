"""Following tasks as they change: one watcher per process fans changes out to every stream.

A stream subscribes to a task id; the watcher reads the watched tasks in one batched query when
something may have changed, and hands each subscriber the task's new state. It learns of
changes from :mod:`grokimagine.domain.tasks.signals`: NOTIFY on PostgreSQL (so changes made by
any process reach every API process), this process's announcements on SQLite, and, as a safety
net for changes nobody announced (a SQLite worker in another process, a lost notification), a
full re-read of the watched tasks every ``poll_seconds``. A stream never polls by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from grokimagine.domain.billing.task_money import TaskMoney, money_of_tasks
from grokimagine.domain.tasks.records import FINISHED, PENDING, TaskRecord, record_from_row
from grokimagine.domain.tasks.signals import local_task_changes
from grokimagine.storage.db import Database
from grokimagine.storage.schema import tasks

log = logging.getLogger("grokimagine.tasks")

# Ids per query: well under SQLite's bound-parameter limit.
_CHUNK = 500


# The columns whose change makes an event (with the queue position, read separately).
_STATE = (
    tasks.c.id,
    tasks.c.status,
    tasks.c.attempts,
    tasks.c.progress,
    tasks.c.cancel_requested,
    tasks.c.deleted_at,
)


def _state_of(record: TaskRecord) -> tuple[object, ...]:
    return (
        record.status,
        record.attempts,
        record.progress,
        record.cancel_requested,
        record.deleted_at,
    )


@dataclass(frozen=True)
class TaskSnapshot:
    """A task's state at one moment, with its place in the queue while pending."""

    record: TaskRecord
    queue_position: int | None
    money: TaskMoney  # changes only with the status (a refund): kept across queue moves

    @property
    def finished(self) -> bool:
        """Whether the task reached a final state (nothing follows)."""
        return self.record.status in FINISHED

    @property
    def event_id(self) -> str:
        """Names this state, so a client resuming with ``Last-Event-ID`` skips what it saw.

        Derived from the state rather than counted, so it means the same in every process.
        """
        record = self.record
        position = "" if self.queue_position is None else str(self.queue_position)
        flags = f"{int(record.cancel_requested)}{int(record.deleted_at is not None)}"
        return f"{record.status}.{record.attempts}.{record.progress}.{position}.{flags}"


async def read_snapshots(db: Database, task_ids: Iterable[str]) -> dict[str, TaskSnapshot]:
    """The current state of each of ``task_ids`` that exists: one query for the rows, one for
    the queue positions of the pending ones (per 500 ids)."""
    wanted = list(task_ids)
    records: dict[str, TaskRecord] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        for row in await db.fetch_all(select(tasks).where(tasks.c.id.in_(chunk))):
            records[row.id] = record_from_row(row)
    waiting = {task_id: r.created_at for task_id, r in records.items() if r.status == PENDING}
    positions = await queue_positions(db, waiting)
    money = await money_of_tasks(db, {task_id: r.price_credits for task_id, r in records.items()})
    return {
        task_id: TaskSnapshot(record, positions.get(task_id), money[task_id])
        for task_id, record in records.items()
    }


async def queue_positions(db: Database, waiting: Mapping[str, datetime]) -> dict[str, int]:
    """How many pending tasks are ahead of each of the tasks ``waiting`` (id -> created_at);
    those no longer pending are left out.

    One ranking of the queue up to the newest of them, rather than a count per task: a count
    scans the queue ahead of its task, so counting for many tasks would scan it many times.
    """
    if not waiting:
        return {}
    ahead = (func.rank().over(order_by=tasks.c.created_at) - 1).label("ahead")
    queue = (
        select(tasks.c.id, ahead)
        .where(tasks.c.status == PENDING, tasks.c.created_at <= max(waiting.values()))
        .subquery()
    )
    found: dict[str, int] = {}
    wanted = list(waiting)
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = await db.fetch_all(select(queue).where(queue.c.id.in_(chunk)))
        found.update({row.id: int(row.ahead) for row in rows})
    return found


class Subscription:
    """One stream's view of one task: the latest state not yet taken (older ones are dropped,
    since each event carries the whole task)."""

    def __init__(self, watcher: TaskWatcher, task_id: str) -> None:
        self.task_id = task_id
        self._watcher = watcher
        self._latest: TaskSnapshot | None = None
        self._ready = asyncio.Event()

    def offer(self, snapshot: TaskSnapshot) -> None:
        """Make ``snapshot`` the next state to take."""
        self._latest = snapshot
        self._ready.set()

    async def next(self) -> TaskSnapshot:
        """Wait for a state newer than the last one taken."""
        await self._ready.wait()
        self._ready.clear()
        snapshot = self._latest
        assert snapshot is not None
        return snapshot

    def close(self) -> None:
        """Stop receiving states."""
        self._watcher.unsubscribe(self)


ListenFactory = Callable[[Callable[[str], None], Callable[[], None]], Coroutine[Any, Any, None]]


class TaskWatcher:
    """Reads watched tasks when they may have changed and offers each change to its subscribers.

    ``listen``, if given, runs for the watcher's life and calls its first argument with the id
    of each changed task (a PostgreSQL LISTEN), its second after each (re)connection.
    """

    def __init__(
        self,
        db: Database,
        *,
        poll_seconds: float = 1.0,
        settle_seconds: float = 0.02,
        listen: ListenFactory | None = None,
    ) -> None:
        self.db = db
        self.poll_seconds = poll_seconds
        # A burst of changes (a claim moves every queued task) becomes one read.
        self.settle_seconds = settle_seconds
        self._listen = listen
        self._subscribers: dict[str, set[Subscription]] = {}
        self._known: dict[str, TaskSnapshot] = {}  # task id -> state last offered
        self._dirty: set[str] = set()
        self._full = False
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.reads = 0  # batched reads so far (for benchmarks and tests)

    @property
    def watched(self) -> int:
        """How many tasks have at least one subscriber."""
        return len(self._subscribers)

    def subscribe(self, task_id: str) -> Subscription:
        """Follow ``task_id``; starts the watcher on first use."""
        self._start()
        subscription = Subscription(self, task_id)
        self._subscribers.setdefault(task_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget ``subscription``; a task nobody follows is no longer read."""
        followers = self._subscribers.get(subscription.task_id)
        if followers is None:
            return
        followers.discard(subscription)
        if not followers:
            del self._subscribers[subscription.task_id]
            self._known.pop(subscription.task_id, None)

    def changed(self, task_id: str) -> None:
        """Note that ``task_id`` changed (any task: a claim moves the whole queue)."""
        self._dirty.add(task_id)
        self._wake.set()

    def _everything_changed(self) -> None:
        self._full = True
        self._wake.set()

    def _start(self) -> None:
        if self._tasks:
            return
        local_task_changes.subscribe(self.changed)
        self._tasks.append(asyncio.create_task(self._run()))
        if self._listen is not None:
            self._tasks.append(
                asyncio.create_task(self._listen(self.changed, self._everything_changed))
            )

    async def close(self) -> None:
        """Stop watching; subscribers receive nothing more."""
        local_task_changes.unsubscribe(self.changed)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
            except TimeoutError:
                self._full = True
            if self.settle_seconds:
                await asyncio.sleep(self.settle_seconds)
            self._wake.clear()
            try:
                await self._refresh()
            except Exception:
                log.exception("task watcher: reading the watched tasks failed")

    async def _refresh(self) -> None:
        dirty, self._dirty = self._dirty, set()
        full, self._full = self._full, False
        if not self._subscribers:
            return
        changed = dirty & self._subscribers.keys()
        if full:
            changed |= await self._unheard_changes()
        # Any change may move the queue (a claim, a cancel): the watched tasks that wait in it
        # and did not change themselves only need their new positions.
        waiting = {
            task_id: known.record.created_at
            for task_id, known in self._known.items()
            if known.record.status == PENDING and task_id not in changed
        }
        if not dirty and not full:
            waiting = {}
        if not changed and not waiting:
            return
        self.reads += 1
        fresh = await read_snapshots(self.db, changed) if changed else {}
        positions = await queue_positions(self.db, waiting)
        for task_id, position in positions.items():
            known = self._known.get(task_id)  # gone if its last stream closed meanwhile
            if known is not None:
                fresh[task_id] = replace(known, queue_position=position)
        # Left the queue unannounced (another process, a lost notification): read it whole.
        gone = [task_id for task_id in waiting if task_id not in positions]
        if gone:
            fresh.update(await read_snapshots(self.db, gone))
        for task_id, snapshot in fresh.items():
            followers = self._subscribers.get(task_id)
            known = self._known.get(task_id)
            if not followers or (known is not None and known.event_id == snapshot.event_id):
                continue
            self._known[task_id] = snapshot
            for subscription in followers:
                subscription.offer(snapshot)

    async def _unheard_changes(self) -> set[str]:
        """Watched tasks whose state differs from the one last offered (cheap columns only)."""
        wanted = list(self._subscribers)
        differ: set[str] = set()
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            for row in await self.db.fetch_all(select(*_STATE).where(tasks.c.id.in_(chunk))):
                known = self._known.get(row.id)
                if known is None or _state_of(known.record) != tuple(row[1:]):
                    differ.add(row.id)
        return differ

    def prime(self, snapshot: TaskSnapshot) -> None:
        """Record a state a new subscriber read itself, so the watcher knows the task waits in
        the queue (and re-reads it when the queue moves)."""
        self._known.setdefault(snapshot.record.id, snapshot)
