"""Workers as the database knows them, and the queue as operators watch it."""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from grokimagine.domain.clock import utcnow
from grokimagine.domain.tasks.records import PENDING, PROCESSING
from grokimagine.ops.metrics import FleetSnapshot
from grokimagine.storage.db import Database
from grokimagine.storage.schema import tasks, workers

# Workers not seen for this long are left out of the metrics, and forgotten a while later.
SHOWN_FOR = timedelta(hours=1)
FORGOTTEN_AFTER = timedelta(days=1)


async def register_worker(db: Database, worker_id: str, engines: Collection[str]) -> None:
    """Record a starting worker (and forget workers long gone)."""
    now = utcnow()
    async with db.write() as conn:
        await conn.execute(
            delete(workers).where(
                (workers.c.last_seen_at < now - FORGOTTEN_AFTER) | (workers.c.id == worker_id)
            )
        )
        await conn.execute(
            insert(workers).values(
                id=worker_id, engines=sorted(engines), started_at=now, last_seen_at=now
            )
        )


async def touch_worker(
    db: Database, worker_id: str, nodes: list[dict[str, Any]] | None = None
) -> None:
    """Record that a worker is alive now, and (when given) the GPU nodes it sees."""
    values: dict[str, Any] = {"last_seen_at": utcnow()}
    if nodes is not None:
        values["nodes"] = nodes
    async with db.write() as conn:
        await conn.execute(update(workers).where(workers.c.id == worker_id).values(**values))


async def fleet_snapshot(db: Database) -> FleetSnapshot:
    """Pending tasks per engine, tasks in progress and recent workers, read now."""
    snapshot = FleetSnapshot()
    async with db.read() as conn:
        pending = await conn.execute(
            select(tasks.c.route_head, func.count())
            .where(tasks.c.status == PENDING, tasks.c.deleted_at.is_(None))
            .group_by(tasks.c.route_head)
        )
        for engine, count in pending.all():
            snapshot.pending_by_engine[engine or "default"] = int(count)
        processing = await conn.execute(
            select(func.count()).select_from(tasks).where(tasks.c.status == PROCESSING)
        )
        snapshot.processing = int(processing.scalar_one())
        seen = await conn.execute(
            select(workers.c.id, workers.c.last_seen_at).where(
                workers.c.last_seen_at > utcnow() - SHOWN_FOR
            )
        )
        for worker_id, last_seen in seen.all():
            snapshot.worker_last_seen[worker_id] = last_seen.timestamp()
    return snapshot
