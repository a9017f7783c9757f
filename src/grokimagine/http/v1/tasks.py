"""Part 3 task routes: list, read, cancel and delete tasks, and read their webhook deliveries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from grokimagine.domain.tasks import control as task_control
from grokimagine.domain.tasks.records import TaskRecord, find_task
from grokimagine.domain.tasks.views import task_view, task_views
from grokimagine.domain.tasks.webhook_deliveries import deliveries_of_task
from grokimagine.http.envelope import success
from grokimagine.http.params import TaskIdPath
from grokimagine.http.v1.generate import principal_of, services_of
from grokimagine.http.v1.schemas import BUSY_RESPONSE, ERROR_RESPONSES, Error
from grokimagine.http.v1.task_schemas import (
    CursorParam,
    DeliveryListResponse,
    TaskListResponse,
    TaskResponse,
    WebhookPayload,
)
from grokimagine.vocabulary import TaskStatus

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])

NOT_FOUND = {404: {"model": Error, "description": "TASK_NOT_FOUND"}}


async def _task_response(request: Request, record: TaskRecord) -> Response:
    services = services_of(request)
    ttl = services.settings.url_ttl_seconds
    return success(await task_view(record, services.db, services.store, ttl))


@router.get(
    "",
    operation_id="listTasks",
    summary="List tasks",
    response_model=TaskListResponse,
    responses=ERROR_RESPONSES,
)
async def list_tasks(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100, description="Tasks per page.")] = 20,
    cursor: CursorParam = None,
    status: Annotated[TaskStatus | None, Query(description="Only tasks in this state.")] = None,
) -> Response:
    """The account's tasks, newest first (deleted ones are left out)."""
    services = services_of(request)
    page = await task_control.list_tasks(
        services.db, principal_of(request).account_id, limit=limit, cursor=cursor, status=status
    )
    ttl = services.settings.url_ttl_seconds
    views = await task_views(page.records, services.db, services.store, ttl)
    return success({"tasks": views, "next_cursor": page.next_cursor})


@router.get(
    "/{task_id}",
    operation_id="getTask",
    summary="Get a task",
    response_model=TaskResponse,
    responses={**ERROR_RESPONSES, **NOT_FOUND},
)
async def read_task(request: Request, task_id: TaskIdPath) -> Response:
    """The task with every Part 3 field: queue position, URL expiry, options, cancel and delete
    state. ``/v1/status`` keeps the reference page's body."""
    services = services_of(request)
    record = await find_task(services.db, task_id, account_id=principal_of(request).account_id)
    return await _task_response(request, record)


@router.post(
    "/{task_id}/cancel",
    operation_id="cancelTask",
    summary="Cancel a task",
    response_model=TaskResponse,
    responses={
        **ERROR_RESPONSES,
        **NOT_FOUND,
        **BUSY_RESPONSE,
        409: {"model": Error, "description": "TASK_NOT_CANCELABLE: already finished"},
    },
)
async def cancel_task(request: Request, task_id: TaskIdPath) -> Response:
    """Cancel a task. A pending task is canceled and refunded at once. A processing task gets
    ``cancel_requested: true`` and stays processing until its engine stops at the next step;
    it is then canceled and refunded (webhook ``task.canceled``)."""
    services = services_of(request)
    record = await task_control.cancel(services.db, principal_of(request).account_id, task_id)
    return await _task_response(request, record)


@router.delete(
    "/{task_id}",
    operation_id="deleteTask",
    summary="Delete a task's files",
    response_model=TaskResponse,
    responses={**ERROR_RESPONSES, **NOT_FOUND, **BUSY_RESPONSE},
)
async def delete_task(request: Request, task_id: TaskIdPath) -> Response:
    """Remove the task's input images and videos from storage; an unfinished task is canceled
    (and refunded) first. The task leaves ``GET /v1/tasks``; ``/v1/status`` still answers, with
    an empty ``response``; the ledger keeps its rows. Deleting again is harmless."""
    services = services_of(request)
    record = await task_control.delete(
        services.db, services.store, principal_of(request).account_id, task_id
    )
    return await _task_response(request, record)


@router.get(
    "/{task_id}/deliveries",
    operation_id="listTaskDeliveries",
    summary="Webhook deliveries of a task",
    response_model=DeliveryListResponse,
    responses={**ERROR_RESPONSES, **NOT_FOUND},
)
async def deliveries(request: Request, task_id: TaskIdPath) -> Response:
    """Every webhook message of the task with its attempts: status codes, errors, next retry."""
    services = services_of(request)
    await find_task(services.db, task_id, account_id=principal_of(request).account_id)
    return success({"deliveries": await deliveries_of_task(services.db, task_id)})


# Documentation only (OpenAPI "webhooks"): what a callback URL receives.
webhooks = APIRouter()

_SIGNATURE_HEADERS = [
    {
        "name": name,
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }
    for name, description in (
        ("webhook-id", "The delivery's id, the same on every retry: deduplicate on it."),
        ("webhook-timestamp", "Unix seconds of this attempt; refuse old ones (replays)."),
        (
            "webhook-signature",
            "v1,<base64 HMAC-SHA256 of id.timestamp.body>, keyed with the base64-decoded part"
            " of the account's webhook_secret (GET /v1/account); Standard Webhooks libraries"
            " verify it.",
        ),
    )
]


@webhooks.post(
    "task-finished",
    summary="A task completed, failed or was canceled",
    openapi_extra={"parameters": _SIGNATURE_HEADERS},
    responses={200: {"description": "Any 2xx acknowledges; other answers are retried."}},
)
def task_finished(body: WebhookPayload) -> None:
    """POSTed to the task's callback_url. Any answer but a 2xx, or none within 10 s, is retried
    with exponential backoff and jitter for 24 hours; every attempt shows in
    ``GET /v1/tasks/{task_id}/deliveries``. Video URLs in ``data`` are signed at each attempt."""
