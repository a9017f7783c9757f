"""Queue positions without counting the whole queue on every read.

A task's position is how many pending tasks were created before it. Counting them costs a walk
over that part of the queue, so a poll of the newest of 20,000 pending tasks would walk 20,000
index entries, on every poll. Instead each process keeps a *ranking* of the queue, read at most
once per ``max_age`` seconds: every ``STRIDE``-th pending task in (created_at, id) order, with
the number of pending tasks before it in that order. A position is then the rank of the
nearest ranked task older than ours, plus a live count of the pending tasks from that one up to
ours (at most ``STRIDE`` of them, plus any that arrived since the ranking).

Exactness: a task ahead of every ranked one gets a live count, exact (a short queue is never
ranked at all: a count of at most ``STRIDE`` answers). Deeper in the queue the only error is
tasks *ahead of the ranked task* that left the queue (claimed, canceled) or re-entered it
since the ranking was read: at most ``max_age`` seconds of such moves (or 20 times the read's
duration, if longer: the ranking of a long queue on a busy machine); arrivals are always
counted live.

Reading the ranking walks the queue's index once (``ix_tasks_status_created_id`` holds every
column it reads; PostgreSQL numbers the rows itself and sends every 64th): for 20,000 pending
tasks, tens of milliseconds a second at most per process, instead of a walk per poll.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, not_, select

from grokimagine.domain.tasks.records import PENDING, TaskRecord
from grokimagine.storage.db import Database
from grokimagine.storage.schema import tasks

# Ranked tasks are this far apart: a live count walks at most this many entries.
STRIDE = 64
# How old a ranking may be before a read takes a new one.
MAX_AGE_SECONDS = 1.0
READ_SPACING = 20.0

_own = tasks.alias("own")
_mark = tasks.alias("mark")


def _created_of(alias: Any, name: str) -> Any:
    """The creation time of the task whose id is the parameter ``name``."""
    return select(alias.c.created_at).where(alias.c.id == bindparam(name)).scalar_subquery()


def _ahead_of_task(lower: bool) -> Select[tuple[int]]:
    """Pending tasks created before task ``task_id`` (and, with ``lower``, not before task
    ``mark_id`` in (created_at, id) order): built once, with string parameters only, for the
    raw-driver lookup path."""
    condition = and_(tasks.c.status == PENDING, tasks.c.created_at < _created_of(_own, "task_id"))
    if lower:
        since = _created_of(_mark, "mark_id")
        condition = and_(
            condition,
            tasks.c.created_at >= since,
            not_(and_(tasks.c.created_at == since, tasks.c.id < bindparam("mark_id"))),
        )
    return select(func.count().label("ahead")).where(condition)


_AHEAD_SINCE_MARK = _ahead_of_task(lower=True)
# At most STRIDE of the tasks ahead, counted: the exact answer near the head of the queue,
# where most polled tasks are, without the ranking.
_AHEAD_NEAR_HEAD = select(func.count().label("ahead")).select_from(
    select(tasks.c.id)
    .where(tasks.c.status == PENDING, tasks.c.created_at < _created_of(_own, "task_id"))
    .limit(STRIDE)
    .subquery()
)


@dataclass
class QueueRanking:
    """Every ``STRIDE``-th pending task in (created_at, id) order: its id, creation time and
    the number of pending tasks before it in that order; read by ``read_at`` (monotonic s)."""

    read_at: float = float("-inf")
    ids: list[str] = field(default_factory=list)
    created: list[datetime] = field(default_factory=list)
    ahead: list[int] = field(default_factory=list)

    def mark_for(self, created_at: datetime) -> int | None:
        """Index of the newest ranked task created before ``created_at``, if any."""
        index = bisect.bisect_left(self.created, created_at) - 1
        return index if index >= 0 else None


class QueuePositions:
    """One process's ranking of the queue of one database, refreshed when read and stale."""

    def __init__(self, db: Database, max_age: float = MAX_AGE_SECONDS) -> None:
        self.db = db
        self.max_age = max_age
        # A ranking is also kept for this many times as long as its read took, so that reading
        # a long queue never takes more than about 1/20 of the process's time.
        self.spacing = READ_SPACING
        self.refreshes = 0  # rankings read so far (tests and benchmarks)
        self._ranking = QueueRanking()
        self._read_seconds = 0.0
        self._lock = asyncio.Lock()

    def _stale(self) -> bool:
        age = time.monotonic() - self._ranking.read_at
        return age >= self.max_age and age >= self.spacing * self._read_seconds

    async def ranking(self) -> QueueRanking:
        """The ranking, read again first if it is stale (see ``max_age`` and ``spacing``)."""
        if not self._stale():
            return self._ranking
        async with self._lock:  # concurrent readers (PostgreSQL) share one refresh
            if self._stale():
                started = time.monotonic()
                self._ranking = await _read_ranking(self.db)
                # Aged from the end of the read: a slow read is not followed at once by another.
                self._ranking.read_at = time.monotonic()
                self._read_seconds = self._ranking.read_at - started
                self.refreshes += 1
        return self._ranking

    async def position(self, record: TaskRecord) -> int | None:
        """How many pending tasks were created before ``record`` (``None`` unless pending).

        One statement either way: in a queue long enough to have been ranked, a task past a
        ranked one counts from it; otherwise a count of at most ``STRIDE``.
        """
        if record.status != PENDING:
            return None
        if self._ranking.ids:
            ranking = await self.ranking()
            mark = ranking.mark_for(record.created_at)
            if mark is not None:
                return await self._from_mark(ranking, mark, record)
        row = await self.db.lookup(_AHEAD_NEAR_HEAD, {"task_id": record.id})
        near = int(row["ahead"]) if row is not None else 0
        if near < STRIDE:
            return near
        ranking = await self.ranking()  # the queue grew long: rank it
        mark = ranking.mark_for(record.created_at)
        if mark is None:  # ahead of every ranked task: the count stopped at STRIDE
            return near
        return await self._from_mark(ranking, mark, record)

    async def _from_mark(self, ranking: QueueRanking, mark: int, record: TaskRecord) -> int:
        row = await self.db.lookup(
            _AHEAD_SINCE_MARK, {"task_id": record.id, "mark_id": ranking.ids[mark]}
        )
        return ranking.ahead[mark] + (int(row["ahead"]) if row is not None else 0)

    async def positions(self, records: Iterable[TaskRecord]) -> dict[str, int | None]:
        """The position of each record (``None`` for those not pending), in one query."""
        found: dict[str, int | None] = {}
        base: dict[str, int] = {}
        params: dict[str, datetime] = {}
        ranking: QueueRanking | None = None
        for record in records:
            found[record.id] = None
            if record.status != PENDING:
                continue
            ranking = ranking or await self.ranking()
            mark = ranking.mark_for(record.created_at)
            index = len(base)
            base[record.id] = 0 if mark is None else ranking.ahead[mark]
            params[f"since{index}"] = _DAWN if mark is None else ranking.created[mark]
            params[f"mark{index}"] = "" if mark is None else ranking.ids[mark]
            params[f"before{index}"] = record.created_at
        if not base:
            return found
        row = await self.db.fetch_one(_counts_between(len(base)), params)
        assert row is not None
        for task_id, counted in zip(base, row, strict=True):
            found[task_id] = base[task_id] + int(counted)
        return found


# Older than any task: the lower bound of a count that starts at the head of the queue.
_DAWN = datetime(1970, 1, 1, tzinfo=UTC)


@functools.cache
def _counts_between(size: int) -> Select[Any]:
    """``size`` counts of pending tasks from (``since<i>``, ``mark<i>``) in (created_at, id)
    order to ``before<i>``, as one row; built once per size (a page has at most 100 tasks)."""
    return select(
        *(
            select(func.count())
            .where(
                tasks.c.status == PENDING,
                tasks.c.created_at >= bindparam(f"since{index}"),
                tasks.c.created_at < bindparam(f"before{index}"),
                not_(
                    and_(
                        tasks.c.created_at == bindparam(f"since{index}"),
                        tasks.c.id < bindparam(f"mark{index}"),
                    )
                ),
            )
            .scalar_subquery()
            .label(f"ahead{index}")
            for index in range(size)
        )
    )


_ORDER_COLUMNS = (tasks.c.created_at, tasks.c.id)
_QUEUE_IN_ORDER = select(tasks.c.id).where(tasks.c.status == PENDING).order_by(*_ORDER_COLUMNS)
_RANKED = (
    select(
        tasks.c.id,
        tasks.c.created_at,
        (func.row_number().over(order_by=_ORDER_COLUMNS) - 1).label("n"),
    )
    .where(tasks.c.status == PENDING)
    .subquery()
)
# PostgreSQL numbers the queue in C and sends only the kept rows.
_MARKS = select(_RANKED).where(_RANKED.c.n % STRIDE == STRIDE - 1).order_by(_RANKED.c.n)


async def _read_ranking(db: Database) -> QueueRanking:
    if db.dialect == "postgresql":
        rows = await db.fetch_all(_MARKS)
        return QueueRanking(
            ids=[row.id for row in rows],
            created=[row.created_at for row in rows],
            ahead=[int(row.n) for row in rows],
        )
    # SQLite's window functions cost more than reading the ids: the index alone, no timestamps.
    ids = [row[0] for row in await db.fetch_all(_QUEUE_IN_ORDER)]
    marks = ids[STRIDE - 1 :: STRIDE]
    created: dict[str, datetime] = {}
    for start in range(0, len(marks), 500):
        chunk = marks[start : start + 500]
        rows = await db.fetch_all(
            select(tasks.c.id, tasks.c.created_at).where(tasks.c.id.in_(chunk))
        )
        created.update({row.id: row.created_at for row in rows})
    kept = [(index, task_id) for index, task_id in enumerate(marks) if task_id in created]
    return QueueRanking(
        ids=[task_id for _, task_id in kept],
        created=[created[task_id] for _, task_id in kept],
        ahead=[STRIDE * (index + 1) - 1 for index, _ in kept],
    )


_of_database: weakref.WeakKeyDictionary[Database, QueuePositions] = weakref.WeakKeyDictionary()


def queue_positions_of(db: Database) -> QueuePositions:
    """The process's :class:`QueuePositions` for ``db`` (made on first use)."""
    positions = _of_database.get(db)
    if positions is None:
        positions = _of_database[db] = QueuePositions(db)
    return positions
