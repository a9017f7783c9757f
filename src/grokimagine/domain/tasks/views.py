"""How a task is shown: the status body of the reference page, and the full task resource.

The API, webhook bodies and anything else that shows a task use these, so every surface shows
the same fields.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from grokimagine.domain.billing.task_money import TaskMoney, money_of_tasks, task_money
from grokimagine.domain.clock import iso_utc
from grokimagine.domain.tasks.control import queue_position
from grokimagine.domain.tasks.queue_positions import queue_positions_of
from grokimagine.domain.tasks.records import COMPLETED, TaskRecord
from grokimagine.storage.db import Database
from grokimagine.storage.files import FileStore
from grokimagine.vocabulary import resolution_of


def status_view(
    record: TaskRecord, store: FileStore, url_ttl_seconds: int, position: int | None = None
) -> dict[str, Any]:
    """The ``data`` of ``GET /v1/status``: the reference page's fields, then our additions
    (``position``: the pending task's place in the queue).

    Video URLs are signed afresh on every call, so a client never holds an expired one for long.
    """
    urls = (
        [store.video_url(key, url_ttl_seconds) for key in record.videos]
        if record.status == COMPLETED and record.files_expired_at is None
        else []
    )
    error = (
        {"code": record.error_code, "message": record.error_message or ""}
        if record.error_code
        else None
    )
    view = {
        "consumed_credits": record.consumed_credits,
        "created_at": iso_utc(record.created_at),
        "status": record.status,
        "task_id": record.id,
        "request": record.request,
        "response": urls,
        "progress": record.progress,
        "error": error,
        "started_at": iso_utc(record.started_at),
        "completed_at": iso_utc(record.completed_at),
        "queue_position": position,
        # The same clock reading the signer uses, so the time matches the URLs' own expiry.
        "expires_at": _expiry(url_ttl_seconds) if urls else None,
    }
    if record.files_expired_at is not None:
        # Only then: a reference client's body is unchanged until retention applies.
        view["videos_expired_at"] = iso_utc(record.files_expired_at)
    return view


def _expiry(url_ttl_seconds: int) -> str | None:
    return iso_utc(datetime.fromtimestamp(int(time.time()) + url_ttl_seconds, UTC))


async def task_view(
    record: TaskRecord, db: Database, store: FileStore, url_ttl_seconds: int
) -> dict[str, Any]:
    """The task resource of the Part 3 routes: the status body and every added field."""
    position = await queue_position(db, record)
    money = await task_money(db, record.id, record.price_credits)
    return render_task(record, position, money, store, url_ttl_seconds)


async def task_views(
    records: list[TaskRecord], db: Database, store: FileStore, url_ttl_seconds: int
) -> list[dict[str, Any]]:
    """The task resources of a page of tasks, in a fixed number of queries whatever its size
    (one for the queue positions, one for the ledger rows)."""
    positions = await queue_positions_of(db).positions(records)
    money = await money_of_tasks(db, {record.id: record.price_credits for record in records})
    return [
        render_task(record, positions[record.id], money[record.id], store, url_ttl_seconds)
        for record in records
    ]


def render_task(
    record: TaskRecord,
    position: int | None,
    money: TaskMoney,
    store: FileStore,
    url_ttl_seconds: int,
) -> dict[str, Any]:
    """The task resource from a queue position and money already read (event streams read
    them for many tasks at once)."""
    view = status_view(record, store, url_ttl_seconds, position)
    view.update(
        thumbnail_url=thumbnail_url(record, store, url_ttl_seconds),
        cancel_requested=record.cancel_requested,
        deleted_at=iso_utc(record.deleted_at),
        live=record.live,
        options={
            "n": record.video_count,
            "duration": record.num_frames // record.fps,
            "resolution": resolution_of(record.width, record.height),
            "seed": record.seed,
            "negative_prompt": record.negative_prompt,
        },
        money=money.describe(),
    )
    return view


def video_seconds(record: TaskRecord) -> float:
    """How long the task's video plays: the rendered seconds, plus, for an extend, the source
    it continues (the engine prepends it)."""
    rendered = record.num_frames / record.fps if record.fps else 0.0
    if record.operation == "extend" and record.input_video:
        return float(record.input_video.get("seconds") or 0.0) + rendered
    return rendered


def thumbnail_url(record: TaskRecord, store: FileStore, url_ttl_seconds: int) -> str | None:
    """A signed URL of the poster frame of the task's first video, once there is one."""
    if record.status != COMPLETED or not record.posters or record.files_expired_at is not None:
        return None
    return store.video_url(record.posters[0], url_ttl_seconds)
