"""The task page's Extend and Edit forms: the API's own request models and use case.

Both post to the console with the session's CSRF token, go through
:func:`submit_video_operation` (what ``POST /v1/extend`` and ``POST /v1/edit`` call) and
land on the new task's page; a refusal is shown on the source task's page.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from grokimagine.console.customer.pages import render_task_page
from grokimagine.console.forms import check_address, read_form
from grokimagine.console.web import PageError, form_user, see_other, services_of
from grokimagine.domain.accounts.sessions import SessionUser
from grokimagine.domain.submission.video_operations import VideoOrder, submit_video_operation
from grokimagine.domain.tasks.records import TaskNotFoundError, find_task
from grokimagine.http.errors import DOMAIN_ERRORS, describe_validation_errors, refusal_for
from grokimagine.http.v1.video_schemas import EditRequest, ExtendRequest

router = APIRouter(
    prefix="/console", include_in_schema=False, dependencies=[Depends(check_address)]
)

_NOT_YOURS = "There is no such task in your account."


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def _body(form: FormData, task_id: str, *, extend: bool) -> dict[str, object]:
    """The form as the API's JSON body; a duration that is not a whole number stays text, so
    the request model refuses it with the API's own sentence."""
    body: dict[str, object] = {"task_id": task_id, "prompt": _text(form, "prompt") or ""}
    mode = _text(form, "mode")
    if mode:
        body["mode"] = mode
    if extend:
        duration = (_text(form, "duration") or "").strip()
        # ASCII digits only: "²".isdigit() is true and int("²") raises (as would 5000 digits).
        whole = duration.isascii() and duration.isdigit() and len(duration) <= 9
        body["duration"] = int(duration) if whole else duration or None
    return body


async def _refused(
    request: Request,
    user: SessionUser,
    task_id: str,
    form: FormData,
    operation: str,
    status: int,
    message: str,
) -> Response:
    # The source task is shown again with the refusal; another account's task stays a 404.
    try:
        record = await find_task(services_of(request).db, task_id, account_id=user.account_id)
    except TaskNotFoundError:
        raise PageError(404, _NOT_YOURS) from None
    return await render_task_page(
        request,
        user,
        record,
        status_code=status,
        video_error={
            "operation": operation,
            "message": message,
            "prompt": _text(form, "prompt") or "",
            "duration": _text(form, "duration") or "",
        },
    )


async def _submit(request: Request, task_id: str, *, extend: bool) -> Response:
    form = await read_form(request)
    user = await form_user(request, form)
    operation = "extend" if extend else "edit"
    model = ExtendRequest if extend else EditRequest
    try:
        order: VideoOrder = model.model_validate(_body(form, task_id, extend=extend)).to_order()
    except ValidationError as exc:
        message = f"Invalid request: {describe_validation_errors(exc.errors())}"
        return await _refused(request, user, task_id, form, operation, 400, message)
    try:
        submission = await submit_video_operation(services_of(request), user.principal(), order)
    except TaskNotFoundError:
        raise PageError(404, _NOT_YOURS) from None
    except tuple(DOMAIN_ERRORS) as exc:
        # The API's own table: the same status and sentence a caller of /v1 would get.
        refusal = refusal_for(exc)
        message = refusal.message(exc)
        return await _refused(request, user, task_id, form, operation, refusal.status, message)
    return see_other(f"/console/tasks/{submission.task_id}")


@router.post("/tasks/{task_id}/extend")
async def extend_task(request: Request, task_id: str) -> Response:
    """Extend the task's video by the form's seconds; to the new task's page."""
    return await _submit(request, task_id, extend=True)


@router.post("/tasks/{task_id}/edit")
async def edit_task(request: Request, task_id: str) -> Response:
    """Edit the task's video as the form's prompt says; to the new task's page."""
    return await _submit(request, task_id, extend=False)
