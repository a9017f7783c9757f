"""Tasks as OpenAI-shaped clients see them, as videos: found, paged by id, and their files.

A deleted task is no video any more (``/v1/status`` still answers for it; ``/v1/videos``
does not). Every task is a video, whichever surface made it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import and_, or_, select

from grokimagine.domain.tasks import control
from grokimagine.domain.tasks.records import (
    COMPLETED,
    TaskNotFoundError,
    TaskRecord,
    find_task,
    record_from_row,
)
from grokimagine.storage.db import Database
from grokimagine.storage.files import FileStore
from grokimagine.storage.schema import tasks

VARIANTS = ("video", "thumbnail", "spritesheet")


class VideoAssetMissingError(LookupError):
    """The video has no such downloadable asset (yet): not completed, no poster, a variant we
    never make."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class VideoPage:
    """One page of an account's videos and whether more follow."""

    records: list[TaskRecord]
    has_more: bool


@dataclass(frozen=True)
class VideoAsset:
    """A downloadable file of a video: its bytes and media type."""

    data: bytes
    media_type: str


async def find_video(db: Database, account_id: str, video_id: str) -> TaskRecord:
    """The account's task ``video_id`` unless deleted; :class:`TaskNotFoundError` otherwise."""
    record = await find_task(db, video_id, account_id=account_id)
    if record.deleted_at is not None:
        raise TaskNotFoundError(video_id)
    return record


async def list_videos(
    db: Database, account_id: str, *, limit: int, after: str | None, ascending: bool
) -> VideoPage:
    """The account's videos (tasks not deleted) by creation time, after the video ``after``.

    :class:`TaskNotFoundError` when ``after`` is no video of the account.
    """
    query = select(tasks).where(tasks.c.account_id == account_id, tasks.c.deleted_at.is_(None))
    if after is not None:
        anchor = await find_task(db, after, account_id=account_id)
        if ascending:
            query = query.where(
                or_(
                    tasks.c.created_at > anchor.created_at,
                    and_(tasks.c.created_at == anchor.created_at, tasks.c.id > anchor.id),
                )
            )
        else:
            query = query.where(
                or_(
                    tasks.c.created_at < anchor.created_at,
                    and_(tasks.c.created_at == anchor.created_at, tasks.c.id < anchor.id),
                )
            )
    if ascending:
        query = query.order_by(tasks.c.created_at.asc(), tasks.c.id.asc())
    else:
        query = query.order_by(tasks.c.created_at.desc(), tasks.c.id.desc())
    rows = await db.fetch_all(query.limit(limit + 1))
    return VideoPage([record_from_row(row) for row in rows[:limit]], len(rows) > limit)


async def video_asset(
    db: Database, store: FileStore, account_id: str, video_id: str, variant: str
) -> VideoAsset:
    """The video's MP4 (its first video) or its poster frame (``thumbnail``, a JPEG).

    :class:`TaskNotFoundError` for no such video; :class:`VideoAssetMissingError` when the
    asset does not exist.
    """
    record = await find_video(db, account_id, video_id)
    if variant not in VARIANTS[:2]:
        raise VideoAssetMissingError(f"no {variant} is made for videos here")
    if record.status != COMPLETED or not record.videos:
        raise VideoAssetMissingError(f"the video is {record.status}, not completed")
    if variant == "thumbnail":
        if not record.posters:
            raise VideoAssetMissingError("this video has no thumbnail")
        key, media_type = record.posters[0], "image/jpeg"
    else:
        key, media_type = record.videos[0], "video/mp4"
    try:
        data = await asyncio.to_thread(store.get_bytes, key)
    except FileNotFoundError:
        raise VideoAssetMissingError(f"the {variant} file is gone") from None
    return VideoAsset(data, media_type)


async def delete_video(db: Database, store: FileStore, account_id: str, video_id: str) -> None:
    """Delete the video as :func:`control.delete` deletes a task (canceled and refunded first
    if unfinished); :class:`TaskNotFoundError` if it is no video (any more)."""
    await find_video(db, account_id, video_id)
    await control.delete(db, store, account_id, video_id)
