"""The customer's pages: overview, history, a task, API keys, billing, webhooks."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from grokimagine.console.charts import daily_chart
from grokimagine.console.customer.billing import money_context
from grokimagine.console.forms import check_address, form_choice, form_text, query_choice, read_form
from grokimagine.console.web import (
    PageError,
    carry_once,
    current_user,
    drop_carried,
    form_user,
    render,
    see_other,
    services_of,
)
from grokimagine.domain.accounts import accounts
from grokimagine.domain.accounts.accounts import NewKey
from grokimagine.domain.accounts.self_service import EmailNotVerifiedError, check_email_verified
from grokimagine.domain.accounts.sessions import SessionUser
from grokimagine.domain.billing import low_balance
from grokimagine.domain.billing.task_money import task_money
from grokimagine.domain.billing.usage import (
    USAGE_DAYS,
    account_details,
    ledger_entries,
    ledger_page,
    usage_by_day,
)
from grokimagine.domain.clock import utcnow
from grokimagine.domain.cursors import InvalidCursorError
from grokimagine.domain.tasks import control as task_control
from grokimagine.domain.tasks.records import FINISHED, TaskNotFoundError, TaskRecord, find_task
from grokimagine.domain.tasks.views import task_view, thumbnail_url, video_seconds
from grokimagine.domain.tasks.webhook_deliveries import deliveries_of_task
from grokimagine.services import Services
from grokimagine.vocabulary import MODES

router = APIRouter(
    prefix="/console", include_in_schema=False, dependencies=[Depends(check_address)]
)

STATUSES = ("pending", "processing", "completed", "failed", "canceled")
HISTORY_PAGE = 24
MAX_KEY_NAME = 100  # the column's length


def card(record: TaskRecord, services: Services) -> dict[str, Any]:
    """What a task's card in a list shows."""
    return {
        "id": record.id,
        "prompt": record.prompt,
        "mode": record.mode,
        "status": record.status,
        "progress": record.progress,
        "ratio": record.ratio,
        "created_at": record.created_at,
        "credits": record.consumed_credits,
        "thumbnail_url": thumbnail_url(record, services.store, services.settings.url_ttl_seconds),
    }


async def _own_task(request: Request, user: SessionUser, task_id: str) -> TaskRecord:
    # Another account's task id is answered exactly like an unknown one.
    try:
        return await find_task(services_of(request).db, task_id, account_id=user.account_id)
    except TaskNotFoundError:
        raise PageError(404, "There is no such task in your account.") from None


@router.get("")
async def overview(request: Request) -> Response:
    """Balance, the last 30 days in a chart, recent tasks."""
    user = await current_user(request)
    services = services_of(request)
    details = await account_details(services.db, user.account_id)
    usage = await usage_by_day(services.db, user.account_id)
    chart = daily_chart(
        {row["date"]: (row["tasks"], row["credits"]) for row in usage},
        days=USAGE_DAYS,
        today=utcnow().date(),
        bar_name="tasks",
        line_name="credits",
    )
    recent = await task_control.list_tasks(
        services.db, user.account_id, limit=6, cursor=None, status=None
    )
    return render(
        request,
        "overview.html",
        user,
        section="overview",
        details=details,
        chart=chart,
        recent=[card(record, services) for record in recent.records],
    )


@router.get("/history")
async def history(request: Request) -> Response:
    """The account's tasks as a grid, newest first, filtered by status and mode."""
    user = await current_user(request)
    services = services_of(request)
    query = request.query_params
    status = query_choice(request, "status", STATUSES)
    mode = query_choice(request, "mode", MODES)
    search = (query.get("q") or "").strip()[:200]
    try:
        page = await task_control.list_tasks(
            services.db,
            user.account_id,
            limit=HISTORY_PAGE,
            cursor=query.get("cursor") or None,
            status=status,
            mode=mode,
            search=search or None,
        )
    except InvalidCursorError:
        raise PageError(400, "That page link is not valid. Start from the first page.") from None
    return render(
        request,
        "history.html",
        user,
        section="history",
        cards=[card(record, services) for record in page.records],
        next_cursor=page.next_cursor,
        paged=bool(query.get("cursor")),
        status=status or "",
        mode=mode or "",
        q=search,
        statuses=STATUSES,
        modes=MODES,
    )


def _timeline(record: TaskRecord) -> list[tuple[str, Any]]:
    steps: list[tuple[str, Any]] = [("Submitted", record.created_at)]
    if record.started_at:
        steps.append(("Started", record.started_at))
    if record.status in FINISHED and record.completed_at:
        steps.append((record.status.capitalize(), record.completed_at))
    elif record.status in FINISHED:
        steps.append((record.status.capitalize(), None))
    if record.deleted_at:
        steps.append(("Deleted", record.deleted_at))
    return steps


@router.get("/tasks/{task_id}")
async def task_page(request: Request, task_id: str) -> Response:
    """One task: the player, the request, its timeline, error, ledger rows and webhooks."""
    user = await current_user(request)
    record = await _own_task(request, user, task_id)
    return await render_task_page(request, user, record)


async def render_task_page(
    request: Request,
    user: SessionUser,
    record: TaskRecord,
    *,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    """The task page of ``record`` (also re-shown with a refused extend or edit form)."""
    services = services_of(request)
    return render(
        request,
        "task.html",
        user,
        status_code=status_code,
        section="history",
        task=await task_view(
            record, services.db, services.store, services.settings.url_ttl_seconds
        ),
        record=record,
        seconds=video_seconds(record),
        timeline=_timeline(record),
        money=await task_money(services.db, record.id, record.price_credits),
        deliveries=await deliveries_of_task(services.db, record.id),
        **extra,
    )


@router.get("/tasks/{task_id}/download/{index}")
async def download(request: Request, task_id: str, index: int) -> Response:
    """The task's video ``index`` as an attachment."""
    user = await current_user(request)
    record = await _own_task(request, user, task_id)
    if not 0 <= index < len(record.videos):
        raise PageError(404, "This task has no such video.")
    if record.files_expired_at is not None:
        raise PageError(410, "This video expired: the operator keeps videos for a limited time.")
    store = services_of(request).store
    data = await asyncio.to_thread(store.get_bytes, record.videos[index])
    return Response(
        data,
        media_type="video/mp4",
        headers={"Content-Disposition": f'attachment; filename="{record.id}-{index}.mp4"'},
    )


@router.post("/tasks/{task_id}/delete")
async def delete_task(request: Request, task_id: str) -> Response:
    """Delete the task's files (cancelling it first if it is still running)."""
    form = await read_form(request)
    user = await form_user(request, form)
    services = services_of(request)
    record = await task_control.delete(services.db, services.store, user.account_id, task_id)
    if record is None:
        raise PageError(404, "There is no such task in your account.")
    return see_other(f"/console/tasks/{task_id}")


@router.post("/tasks/{task_id}/cancel")
async def cancel_task(request: Request, task_id: str) -> Response:
    """Cancel a task that has not finished (refunded)."""
    form = await read_form(request)
    user = await form_user(request, form)
    try:
        record = await task_control.cancel(services_of(request).db, user.account_id, task_id)
    except task_control.TaskNotCancelableError:
        return see_other(f"/console/tasks/{task_id}")
    if record is None:
        raise PageError(404, "There is no such task in your account.")
    return see_other(f"/console/tasks/{task_id}")


# The token of a key just made travels to the page that shows it once (web.carry_once).
NEW_KEY_COOKIE = "gi_new_key"
KEY_LIFETIMES = {"7": "7 days", "30": "30 days", "90": "90 days", "365": "1 year"}


async def _keys_page(request: Request, user: SessionUser, **extra: Any) -> Response:
    keys = await accounts.list_keys(services_of(request).db, user.account_id)
    keys.sort(key=lambda key: (key.revoked_at is not None, key.created_at), reverse=False)
    return render(
        request,
        "keys.html",
        user,
        section="keys",
        keys=keys,
        now=utcnow(),
        lifetimes=KEY_LIFETIMES,
        **extra,
    )


def _shown_key(cookie: str | None, keys: list[accounts.ApiKey]) -> NewKey | None:
    """The key of the new-key cookie, if it names a key of this account that the token fits."""
    key_id, _, token = (cookie or "").partition(":")
    for key in keys:
        if key.id == key_id and token.startswith(key.token_prefix) and key.revoked_at is None:
            return NewKey(key=key, token=token)
    return None


@router.get("/keys")
async def keys_page(request: Request) -> Response:
    """The account's API keys (never their tokens, but for a key just made, once)."""
    user = await current_user(request)
    keys = await accounts.list_keys(services_of(request).db, user.account_id)
    new_key = _shown_key(request.cookies.get(NEW_KEY_COOKIE), keys)
    response = await _keys_page(request, user, new_key=new_key, error="")
    drop_carried(request, response, NEW_KEY_COOKIE, "/console/keys")
    return response


@router.post("/keys")
async def create_key(request: Request) -> Response:
    """Create a named key, then redirect to the keys page, which shows its token this once."""
    form = await read_form(request)
    user = await form_user(request, form)
    name = form_text(form, "name", max_chars=MAX_KEY_NAME)
    if not name:
        return await _keys_page(
            request, user, status_code=400, new_key=None, error="Give the key a name."
        )
    try:
        check_email_verified(
            required=services_of(request).settings.selfservice.verify_email,
            verified=user.email_verified,
        )
    except EmailNotVerifiedError as exc:
        return await _keys_page(request, user, status_code=403, new_key=None, error=str(exc))
    live = form_choice(form, "kind", ("live", "test"), default="live") == "live"
    expires = form.get("expires")
    days = int(expires) if isinstance(expires, str) and expires in KEY_LIFETIMES else None
    new_key = await accounts.create_key(
        services_of(request).db, user.account_id, live=live, name=name, expires_in_days=days
    )
    response = see_other("/console/keys")
    carry_once(
        request, response, NEW_KEY_COOKIE, f"{new_key.key.id}:{new_key.token}", "/console/keys"
    )
    return response


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: str) -> Response:
    """Revoke one of the account's keys (another account's key id does nothing)."""
    form = await read_form(request)
    user = await form_user(request, form)
    await accounts.revoke_key(services_of(request).db, key_id, account_id=user.account_id)
    return see_other("/console/keys")


@router.get("/billing")
async def billing(request: Request) -> Response:
    """The balance and the ledger, page by page."""
    user = await current_user(request)
    services = services_of(request)
    cursor = request.query_params.get("cursor") or None
    try:
        page = await ledger_page(services.db, user.account_id, limit=50, cursor=cursor)
    except InvalidCursorError:
        raise PageError(400, "That page link is not valid. Start from the first page.") from None
    details = await account_details(services.db, user.account_id)
    return render(
        request,
        "billing.html",
        user,
        section="billing",
        details=details,
        entries=page.entries,
        next_cursor=page.next_cursor,
        paged=cursor is not None,
        alert_threshold=await low_balance.threshold_of(services.db, user.account_id),
        alert_state=request.query_params.get("alert", ""),
        **await money_context(request, services, user.account_id),
    )


@router.get("/billing.csv")
async def billing_csv(request: Request) -> Response:
    """Every ledger row as CSV."""
    user = await current_user(request)
    entries = await ledger_entries(services_of(request).db, user.account_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "created_at", "delta", "reason", "task_id", "note"])
    for entry in entries:
        note = entry["note"]
        # A cell starting with = + - @ would run as a formula in a spreadsheet.
        if note[:1] in ("=", "+", "-", "@"):
            note = "'" + note
        writer.writerow(
            [
                entry["id"],
                entry["created_at"],
                entry["delta"],
                entry["reason"],
                entry["task_id"] or "",
                note,
            ]
        )
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="ledger.csv"'},
    )
