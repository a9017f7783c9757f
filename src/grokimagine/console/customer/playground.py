"""The playground page and the same-origin JSON the page's script calls (session cookie + CSRF).

Generate takes exactly the body of ``POST /v1/generate`` (images as data URIs read in the
browser) and goes through the same validation and submission as the API.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from grokimagine.console.forms import check_address
from grokimagine.console.web import current_user, fetch_user, render, services_of
from grokimagine.domain.accounts.self_service import check_email_verified
from grokimagine.domain.billing.usage import account_details
from grokimagine.domain.submission.generate import price_list, quote_generation, submit_generation
from grokimagine.domain.tasks.records import TaskNotFoundError, find_task
from grokimagine.domain.tasks.views import task_view
from grokimagine.http.envelope import success
from grokimagine.http.errors import ApiError
from grokimagine.http.v1.generate import generate_body
from grokimagine.http.v1.task_events import watched_task_stream

router = APIRouter(
    prefix="/console", include_in_schema=False, dependencies=[Depends(check_address)]
)


def _client_version() -> str:
    """The version of the SDK and CLI installed beside the server (what the snippets call)."""
    try:
        return version("grokimagine-client")
    except PackageNotFoundError:
        return ""


def _prefill(request_echo: dict[str, Any] | None) -> dict[str, Any]:
    """The form's starting values: a past task's request ("generate again") or the defaults."""
    echo = request_echo or {}
    return {
        "prompt": echo.get("prompt", ""),
        "mode": echo.get("mode", "normal"),
        "ratio": echo.get("ratio", "1:1"),
        "n": echo.get("n", 1),
        "duration": echo.get("duration", 6),
        "resolution": echo.get("resolution", "480p"),
        "seed": echo.get("seed", ""),
        "negative_prompt": echo.get("negative_prompt", ""),
    }


@router.get("/playground")
async def playground(request: Request) -> Response:
    """Prompt, mode, ratio, images and options; the price before Generate; live progress."""
    user = await current_user(request)
    services = services_of(request)
    echo = None
    again = request.query_params.get("from")
    if again:
        try:
            echo = (await find_task(services.db, again, account_id=user.account_id)).request
        except TaskNotFoundError:
            echo = None
    details = await account_details(services.db, user.account_id)
    return render(
        request,
        "playground.html",
        user,
        section="playground",
        pricing=price_list(services, user.principal()),
        prefill=_prefill(echo),
        balance=details["balance"],
        api_base=str(request.base_url).rstrip("/"),
        client_version=_client_version(),
    )


@router.post("/api/quote")
async def quote(request: Request) -> Response:
    """The price of a generate body for this account, checked as generate would check it."""
    user = await fetch_user(request)
    order = (await generate_body(request)).to_order(None)
    estimate = await quote_generation(services_of(request), user.principal(), order)
    return success(estimate.describe())


@router.post("/api/generate")
async def generate(request: Request) -> Response:
    """Submit a generate body for this account through the API's own submission function.

    Refusals (credits, mode, a disabled account, options) come back in the API's error format.
    """
    user = await fetch_user(request)
    check_email_verified(
        required=services_of(request).settings.selfservice.verify_email,
        verified=user.email_verified,
    )
    order = (await generate_body(request)).to_order(None)
    submission = await submit_generation(services_of(request), user.principal(), order)
    return success({"task_id": submission.task_id})


async def _live_view(request: Request, account_id: str, task_id: str) -> dict[str, Any] | None:
    services = services_of(request)
    try:
        record = await find_task(services.db, task_id, account_id=account_id)
    except TaskNotFoundError:
        return None
    view = await task_view(record, services.db, services.store, services.settings.url_ttl_seconds)
    return {
        "task_id": record.id,
        "status": view["status"],
        "progress": view["progress"],
        "queue_position": view["queue_position"],
        "response": view["response"],
        "thumbnail_url": view["thumbnail_url"],
        "error": view["error"],
        "cancel_requested": view["cancel_requested"],
    }


@router.get("/api/tasks/{task_id}")
async def task_state(request: Request, task_id: str) -> Response:
    """The task's live state (status, queue position, progress, URLs) as JSON."""
    user = await current_user(request)
    view = await _live_view(request, user.account_id, task_id)
    if view is None:
        raise ApiError(404, "Task not found", "TASK_NOT_FOUND")
    return success(view)


@router.get("/api/tasks/{task_id}/events")
async def task_events(request: Request, task_id: str) -> Response:
    """The task's changes as server-sent events (``task``), from the app's one task watcher
    (the stream of ``GET /v1/tasks/{id}/events``), until it ends."""
    user = await current_user(request)
    return await watched_task_stream(
        request, user.account_id, task_id, request.headers.get("last-event-id")
    )
