"""Tasks across accounts, as operators see and fix them in /admin: filter, inspect, refund,
cancel."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from grokimagine.console.admin.accounts import MAX_REASON, PAGE, bad_cursor, with_message
from grokimagine.console.confirm import ask_first, confirmed
from grokimagine.console.customer.pages import STATUSES
from grokimagine.console.forms import (
    check_address,
    form_text,
    query_choice,
    query_text,
    read_form,
)
from grokimagine.console.web import PageError, admin_user, form_user, render, services_of
from grokimagine.domain.clock import utcnow
from grokimagine.domain.cursors import InvalidCursorError
from grokimagine.domain.operator import tasks as task_admin
from grokimagine.domain.tasks.control import TaskNotCancelableError

router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(check_address)])


def _task_back(task_id: str, *, notice: str = "", error: str = "") -> Response:
    return with_message(f"/admin/tasks/{task_id}", notice, error)


@router.get("/tasks")
async def tasks_page(request: Request) -> Response:
    """Tasks of every account, newest first, filtered by account, status and engine."""
    user = await admin_user(request)
    services = services_of(request)
    query = request.query_params
    status = query_choice(request, "status", STATUSES)
    account = query_text(request, "account", max_chars=64)
    engine = query_text(request, "engine", max_chars=40)
    try:
        page = await task_admin.list_all_tasks(
            services.db,
            limit=PAGE,
            cursor=query.get("cursor") or None,
            account_id=account or None,
            status=status,
            engine=engine or None,
        )
    except InvalidCursorError:
        raise bad_cursor() from None
    return render(
        request,
        "admin/tasks.html",
        user,
        section="admin-tasks",
        records=page.records,
        next_cursor=page.next_cursor,
        account=account,
        status=status or "",
        engine=engine,
        statuses=STATUSES,
        stale_before=utcnow() - timedelta(minutes=10),
    )


@router.get("/tasks/{task_id}")
async def task_page(request: Request, task_id: str) -> Response:
    """One task of any account: engine, attempts, provider ids and cost, its money."""
    user = await admin_user(request)
    try:
        detail = await task_admin.task_detail(services_of(request).db, task_id)
    except task_admin.TaskNotFoundError:
        raise PageError(404, "There is no such task.") from None
    return render(
        request,
        "admin/task.html",
        user,
        section="admin-tasks",
        detail=detail,
        record=detail.record,
        notice=request.query_params.get("notice", ""),
        error=request.query_params.get("error", ""),
    )


@router.post("/tasks/{task_id}/refund")
async def refund(request: Request, task_id: str) -> Response:
    """Refund a completed task exactly what it was charged, once."""
    form = await read_form(request)
    user = await form_user(request, form, admin=True)
    if not confirmed(form):
        return ask_first(
            request,
            user,
            form,
            title=f"Refund task {task_id}?",
            consequence="The account gets back exactly what this task was charged, once.",
            button="Refund task",
            back=f"/admin/tasks/{task_id}",
        )
    try:
        amount = await task_admin.refund_task(
            services_of(request).db,
            user.actor(),
            task_id,
            form_text(form, "reason", max_chars=MAX_REASON),
        )
    except task_admin.TaskNotFoundError:
        raise PageError(404, "There is no such task.") from None
    except task_admin.TaskNotRefundableError as exc:
        return _task_back(task_id, error=f"Not refundable: {exc}")
    return _task_back(task_id, notice=f"Refunded {amount} credits.")


@router.post("/tasks/{task_id}/cancel")
async def cancel(request: Request, task_id: str) -> Response:
    """Cancel a task of any account (refunded)."""
    form = await read_form(request)
    user = await form_user(request, form, admin=True)
    if not confirmed(form):
        return ask_first(
            request,
            user,
            form,
            title=f"Cancel task {task_id}?",
            consequence="The task stops (a running one at its next step) and its credits "
            "go back to the account.",
            button="Cancel task",
            back=f"/admin/tasks/{task_id}",
        )
    try:
        await task_admin.cancel_task(services_of(request).db, user.actor(), task_id)
    except task_admin.TaskNotFoundError:
        raise PageError(404, "There is no such task.") from None
    except TaskNotCancelableError as exc:
        return _task_back(task_id, error=f"Not cancelable: it is {exc.status}")
    return _task_back(task_id, notice="Canceled.")
