"""How a task looks in a response."""

from __future__ import annotations

from typing import Any

from grokimagine.domain.clock import iso_utc
from grokimagine.domain.tasks import COMPLETED, TaskRecord
from grokimagine.storage.files import FileStore


def status_view(record: TaskRecord, store: FileStore, url_ttl_seconds: int) -> dict[str, Any]:
    """The ``data`` of ``GET /v1/status``: the reference page's fields, then our additions.

    Video URLs are signed afresh on every call, so a client never holds an expired one for long.
    """
    urls = (
        [store.video_url(key, url_ttl_seconds) for key in record.videos]
        if record.status == COMPLETED
        else []
    )
    error = (
        {"code": record.error_code, "message": record.error_message or ""}
        if record.error_code
        else None
    )
    return {
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
    }
