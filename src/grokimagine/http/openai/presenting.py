"""A task presented as OpenAI's Video object."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from grokimagine.domain.submission.models import model_of_task
from grokimagine.domain.tasks.records import TaskRecord
from grokimagine.domain.tasks.retention import videos_expire_at
from grokimagine.services import Services

# Our task states in OpenAI's four; a canceled task is a failed video with code "canceled".
STATUSES = {
    "pending": "queued",
    "processing": "in_progress",
    "completed": "completed",
    "failed": "failed",
    "canceled": "failed",
}


def _unix(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def _seconds(record: TaskRecord) -> str:
    """The clip's length; an extension's is the stitched total (the source, then the rest)."""
    seconds = record.num_frames / max(record.fps, 1)
    source = record.input_video or {}
    if record.operation == "extend" and isinstance(source.get("seconds"), int | float):
        seconds += source["seconds"]
    return str(max(1, round(seconds)))


def video_object(services: Services, record: TaskRecord, plan: str) -> dict[str, Any]:
    """The task as ``openai.types.Video`` reads it, for an account on ``plan`` (whose retention
    sets ``expires_at``)."""
    error = None
    if record.status == "canceled":
        error = {"code": "canceled", "message": "canceled on request"}
    elif record.status == "failed":
        error = {
            "code": (record.error_code or "internal_error").lower(),
            "message": record.error_message or "the video failed",
        }
    source = record.request.get("source")
    remixed_from = None
    if record.operation == "edit" and isinstance(source, dict):
        remixed_from = source.get("task_id")
    finished = record.status in ("completed", "failed", "canceled")
    return {
        "id": record.id,
        "object": "video",
        "created_at": _unix(record.created_at),
        "completed_at": _unix(record.completed_at) if finished else None,
        "expires_at": _unix(videos_expire_at(record, plan, services.retention_days)),
        "model": model_of_task(services, record.request),
        "progress": 100 if record.status == "completed" else record.progress,
        "prompt": record.prompt,
        "seconds": _seconds(record),
        "size": f"{record.width}x{record.height}",
        "status": STATUSES.get(record.status, "failed"),
        "error": error,
        "remixed_from_video_id": remixed_from,
    }
