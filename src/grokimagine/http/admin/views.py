"""How tasks look in the admin API."""

from __future__ import annotations

from typing import Any

from grokimagine.domain.clock import iso_utc
from grokimagine.domain.operator.tasks import TaskDetail
from grokimagine.domain.tasks.records import TaskRecord


def admin_task_view(record: TaskRecord) -> dict[str, Any]:
    """A task of any account, as listings show it."""
    return {
        "task_id": record.id,
        "account_id": record.account_id,
        "key_id": record.key_id,
        "live": record.live,
        "status": record.status,
        "mode": record.mode,
        "prompt": record.prompt,
        "request": record.request,
        "route": record.route,
        "engine": record.engine,
        "attempts": record.attempts,
        "progress": record.progress,
        "error": (
            {"code": record.error_code, "message": record.error_message or ""}
            if record.error_code
            else None
        ),
        "cancel_requested": record.cancel_requested,
        "created_at": iso_utc(record.created_at),
        "started_at": iso_utc(record.started_at),
        "completed_at": iso_utc(record.completed_at),
        "deleted_at": iso_utc(record.deleted_at),
        "price": record.price_credits,
        "consumed_credits": record.consumed_credits,
    }


def admin_task_detail_view(detail: TaskDetail) -> dict[str, Any]:
    """One task with its provider facts and money."""
    return {
        **admin_task_view(detail.record),
        "provider": {"job_ids": detail.provider.job_ids, "cost_usd": detail.provider.cost_usd},
        "money": detail.money.describe(),
    }
