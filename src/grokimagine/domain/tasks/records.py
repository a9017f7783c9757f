"""Tasks as the API sees them: submitting one (and paying for it) and reading it back."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from grokimagine.domain import ids
from grokimagine.domain.accounts.accounts import Principal
from grokimagine.domain.billing.credits import reserve_credits
from grokimagine.domain.billing.plans import Plan
from grokimagine.domain.clock import utcnow
from grokimagine.domain.media.images import LoadedImage
from grokimagine.domain.media.video_sources import LoadedVideo
from grokimagine.domain.tasks.idempotency import (
    IdempotencyKey,
    IdempotencyKeyTakenError,
    release_expired_key,
)
from grokimagine.domain.tasks.signals import notify_task_ready
from grokimagine.storage.db import Database
from grokimagine.storage.files import FileStore
from grokimagine.storage.schema import accounts, tasks
from grokimagine.vocabulary import (
    DEFAULT_FPS,
    DEFAULT_RESOLUTION,
    DEFAULT_SECONDS,
    SIZES,
    VideoSize,
)

PENDING, PROCESSING, COMPLETED, FAILED, CANCELED = (
    "pending",
    "processing",
    "completed",
    "failed",
    "canceled",
)
FINISHED = (COMPLETED, FAILED, CANCELED)

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
_VIDEO_EXTENSIONS = {"video/mp4": "mp4", "video/webm": "webm"}


class ModeNotAllowedError(Exception):
    """The account may not use this mode."""

    def __init__(self, mode: str) -> None:
        super().__init__(mode)
        self.mode = mode


class TaskNotFoundError(LookupError):
    """No task with this id belongs to the account."""


class AccountDisabledError(Exception):
    """An operator disabled the account: it cannot spend."""


class TooManyActiveTasksError(Exception):
    """The account has as many tasks pending or running as its plan allows."""

    # Seconds a client is told to wait before trying again: about a short video's run.
    retry_after = 5

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} tasks pending or running")
        self.limit = limit


@dataclass(frozen=True)
class NewTask:
    """A generation request after validation, with defaults filled in."""

    mode: str
    prompt: str
    ratio: str
    images: Sequence[LoadedImage] = ()
    video_count: int = 1
    seed: int | None = None
    negative_prompt: str | None = None
    route: Sequence[str] = ()  # engines to try, in order; empty: the worker's default
    duration: int = DEFAULT_SECONDS
    resolution: str = DEFAULT_RESOLUTION
    callback_url: str | None = None
    idempotency: IdempotencyKey | None = None
    # Part 3 options the client gave, echoed in ``request`` (absent ones stay absent, so a
    # reference-page client sees the echo it always saw).
    echoed_options: Mapping[str, Any] = field(default_factory=dict)
    # Extend and edit: the operation, its source video, and the result's size and frames
    # (from the source, not from ratio/resolution/duration).
    operation: str = "generate"
    source_video: LoadedVideo | None = None
    size: VideoSize | None = None
    num_frames: int | None = None


@dataclass
class TaskRecord:
    """A task row, as read back."""

    id: str
    account_id: str
    live: bool
    status: str
    mode: str
    prompt: str
    ratio: str
    request: dict[str, Any]
    input_images: list[dict[str, str]]
    video_count: int
    width: int
    height: int
    num_frames: int
    fps: int
    seed: int
    negative_prompt: str | None
    route: list[str]
    consumed_credits: int
    progress: int
    videos: list[str]
    error_code: str | None
    error_message: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    cancel_requested: bool = False
    callback_url: str | None = None
    deleted_at: datetime | None = None
    posters: list[str] = field(default_factory=list)  # poster frame (JPEG) of each video
    price_credits: int | None = None
    engine: str | None = None  # the engine that ran it
    key_id: str | None = None  # the key that submitted it
    # The relay's provider jobs (for operators, never shown to the customer).
    provider_job_id: str | None = None
    provider_jobs: list[dict[str, Any]] = field(default_factory=list)
    provider_cost_usd: float | None = None
    operation: str = "generate"
    input_video: dict[str, Any] | None = None
    files_expired_at: datetime | None = None  # its files were purged (retention)


# Built once: building a statement costs more than running it on SQLite (submissions are hot).
_INSERT_TASK = insert(tasks)
_COUNT_IN = (
    update(accounts)
    .where(accounts.c.id == bindparam("account"))
    .values(active_tasks=accounts.c.active_tasks + 1)
    .returning(accounts.c.disabled_at, accounts.c.active_tasks)
)
_COUNT_OUT = (
    update(accounts)
    .where(accounts.c.id == bindparam("account"))
    .values(active_tasks=accounts.c.active_tasks - 1)
)


async def _admit(conn: Any, account_id: str, plan: Plan | None) -> None:
    # One UPDATE counts the new task in and takes the account row's lock: submissions of one
    # account queue here (on PostgreSQL; SQLite runs one writer at a time), so the limit cannot
    # be raced past, in any process. A refusal rolls the count back with the transaction.
    row = (await conn.execute(_COUNT_IN, {"account": account_id})).first()
    if row is None or row.disabled_at is not None:
        raise AccountDisabledError(account_id)
    if plan is None or plan.max_active_tasks is None:
        return
    if int(row.active_tasks) > plan.max_active_tasks:
        raise TooManyActiveTasksError(plan.max_active_tasks)


async def count_task_finished(conn: Any, account_id: str) -> None:
    """Within the transaction that moves a task to a final state, take it off the account's
    count of active tasks (see :func:`_admit`)."""
    await conn.execute(_COUNT_OUT, {"account": account_id})


def echo_request(new_task: NewTask) -> dict[str, Any]:
    """The request as the status echoes it: normalised, images as given (data URIs hashed)."""
    echo: dict[str, Any] = {
        "mode": new_task.mode,
        "prompt": new_task.prompt,
        "ratio": new_task.ratio,
    }
    if new_task.images:
        echo["images"] = [image.echo for image in new_task.images]
    if new_task.operation != "generate":
        echo["operation"] = new_task.operation
    if new_task.source_video is not None:
        echo["source"] = dict(new_task.source_video.echo)
    echo.update(new_task.echoed_options)
    return echo


async def submit_task(
    db: Database,
    store: FileStore,
    principal: Principal,
    new_task: NewTask,
    *,
    price: int,
    plan: Plan | None = None,
) -> TaskRecord:
    """Price the task, store the inputs, reserve the credits and create the task, all or nothing.

    ``price`` is the task's quote (``domain/billing/quotes.py``) under the operator's table,
    always given: it is charged and stored on the task. ``plan`` (the account's)
    sets the most tasks pending or running, counted under a lock on the account row. Raises
    :class:`AccountDisabledError`, :class:`TooManyActiveTasksError`,
    :class:`InsufficientCreditsError`, or :class:`IdempotencyKeyTakenError` when a concurrent
    request took the idempotency key first. The other rules of a submission are
    :func:`~grokimagine.domain.submission.generate.submit_generation`'s.
    """
    task_id = ids.new_task_id()
    # Most tasks have no input files: no hop to a thread for them.
    stored_images = (
        await asyncio.to_thread(_store_inputs, store, task_id, new_task.images)
        if new_task.images
        else []
    )
    stored_video = (
        await asyncio.to_thread(_store_video, store, task_id, new_task.source_video)
        if new_task.source_video is not None
        else None
    )
    size = new_task.size or SIZES[new_task.resolution][new_task.ratio]
    idempotency = new_task.idempotency
    values: dict[str, Any] = {
        "id": task_id,
        "account_id": principal.account_id,
        "key_id": principal.key_id,
        "live": principal.live,
        "status": PENDING,
        "mode": new_task.mode,
        "prompt": new_task.prompt,
        "ratio": new_task.ratio,
        "request": echo_request(new_task),
        "input_images": stored_images,
        "video_count": new_task.video_count,
        "width": size.width,
        "height": size.height,
        "num_frames": new_task.num_frames or DEFAULT_FPS * new_task.duration,
        "fps": DEFAULT_FPS,
        "seed": new_task.seed if new_task.seed is not None else secrets.randbelow(2**31),
        "negative_prompt": new_task.negative_prompt,
        "route": list(new_task.route),
        "route_head": new_task.route[0] if new_task.route else None,
        "consumed_credits": price,
        "price_credits": price,
        "progress": 0,
        "videos": [],
        "cancel_requested": False,
        "attempts": 0,
        "created_at": utcnow(),
        "callback_url": new_task.callback_url,
        "idempotency_key": idempotency.key if idempotency else None,
        "idempotency_hash": idempotency.fingerprint if idempotency else None,
        "operation": new_task.operation,
        "input_video": stored_video,
    }
    try:
        async with db.write() as conn:
            if idempotency is not None:
                await release_expired_key(conn, principal.account_id, idempotency.key)
            await _admit(conn, principal.account_id, plan)
            if price:
                await reserve_credits(conn, principal.account_id, price, task_id)
            await conn.execute(_INSERT_TASK, values)
            await notify_task_ready(conn, db.dialect, values["route_head"])
    except IntegrityError as exc:
        await asyncio.to_thread(store.delete_task_files, task_id)
        if idempotency is None:
            raise
        raise IdempotencyKeyTakenError(idempotency.key) from exc
    except BaseException:
        await asyncio.to_thread(store.delete_task_files, task_id)
        raise
    return _record(values)


# Built once: status polling is the hottest path, and building a statement costs more than
# running it on SQLite.
_TASK_OF_ACCOUNT = select(tasks).where(
    tasks.c.id == bindparam("task_id"),
    tasks.c.account_id == bindparam("account_id"),
)


_TASK = select(tasks).where(tasks.c.id == bindparam("task_id"))


async def find_task(db: Database, task_id: str, *, account_id: str | None) -> TaskRecord:
    """The task ``task_id`` of ``account_id`` (deleted ones too), or of any account when
    ``account_id`` is None (operators); :class:`TaskNotFoundError` if there is none."""
    if account_id is None:
        row = await db.lookup(_TASK, {"task_id": task_id})
    else:
        row = await db.lookup(_TASK_OF_ACCOUNT, {"task_id": task_id, "account_id": account_id})
    if row is None:
        raise TaskNotFoundError(task_id)
    return _record(row)


async def wait_until_finished(
    db: Database, account_id: str, task_id: str, seconds: float, poll_seconds: float = 0.1
) -> TaskRecord | None:
    """The task once finished, if it finishes within ``seconds``; else ``None``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        record = await find_task(db, task_id, account_id=account_id)
        if record.status in FINISHED:
            return record
        left = deadline - loop.time()
        if left <= 0:
            return None
        await asyncio.sleep(min(poll_seconds, left))


def record_from_row(row: Row[Any]) -> TaskRecord:
    """A :class:`TaskRecord` from a row of ``tasks``."""
    return _record(row._mapping)


def _record(values: Any) -> TaskRecord:
    return TaskRecord(
        id=values["id"],
        account_id=values["account_id"],
        live=values["live"],
        status=values["status"],
        mode=values["mode"],
        prompt=values["prompt"],
        ratio=values["ratio"],
        request=values["request"],
        input_images=values["input_images"],
        video_count=values["video_count"],
        width=values["width"],
        height=values["height"],
        num_frames=values["num_frames"],
        fps=values["fps"],
        seed=values["seed"],
        negative_prompt=values["negative_prompt"],
        route=values.get("route") or [],
        consumed_credits=values["consumed_credits"],
        progress=values["progress"],
        videos=values["videos"],
        error_code=values.get("error_code"),
        error_message=values.get("error_message"),
        attempts=values["attempts"],
        created_at=values["created_at"],
        started_at=values.get("started_at"),
        completed_at=values.get("completed_at"),
        cancel_requested=bool(values.get("cancel_requested")),
        callback_url=values.get("callback_url"),
        deleted_at=values.get("deleted_at"),
        posters=values.get("posters") or [],
        price_credits=values.get("price_credits"),
        engine=values.get("engine"),
        key_id=values.get("key_id"),
        provider_job_id=values.get("provider_job_id"),
        provider_jobs=list(values.get("provider_jobs") or []),
        provider_cost_usd=values.get("provider_cost_usd"),
        operation=values.get("operation") or "generate",
        input_video=values.get("input_video"),
        files_expired_at=values.get("files_expired_at"),
    )


def _store_inputs(
    store: FileStore, task_id: str, images: Sequence[LoadedImage]
) -> list[dict[str, str]]:
    stored = []
    for index, image in enumerate(images):
        key = f"inputs/{task_id}/{index}.{_EXTENSIONS.get(image.mime, 'bin')}"
        store.put_bytes(key, image.data)
        stored.append({"key": key, "mime": image.mime, "sha256": image.sha256})
    return stored


def _store_video(store: FileStore, task_id: str, video: LoadedVideo) -> dict[str, Any]:
    key = f"inputs/{task_id}/source.{_VIDEO_EXTENSIONS.get(video.mime, 'bin')}"
    store.put_bytes(key, video.data)
    probe = video.probe
    return {
        "key": key,
        "mime": video.mime,
        "sha256": video.sha256,
        "seconds": probe.seconds,
        "width": probe.width,
        "height": probe.height,
        "frames": probe.frames,
    }
