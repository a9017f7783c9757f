"""``POST /v1/extend`` and ``POST /v1/edit``: a task made from a source video."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from grokimagine.domain.submission.video_operations import submit_video_operation
from grokimagine.http.openapi.shaping import request_body
from grokimagine.http.v1.generate import (
    DirectRoute,
    GenerateResponse,
    json_object,
    parse_body,
    principal_of,
    services_of,
    submitted,
)
from grokimagine.http.v1.headers import idempotency_key_of, preferred_wait
from grokimagine.http.v1.schemas import ERROR_RESPONSES, GENERATE_HEADERS, Error
from grokimagine.http.v1.video_schemas import EditRequest, ExtendRequest

router = APIRouter(prefix="/v1", tags=["videos"], route_class=DirectRoute)

_RESPONSES = {
    **ERROR_RESPONSES,
    402: {"description": "Not enough credits"},
    403: {"description": "Mode not allowed"},
    404: {"model": Error, "description": "TASK_NOT_FOUND: task_id is no task of this account"},
    409: {"model": Error, "description": "IDEMPOTENCY_CONFLICT: key reused, other body"},
    413: {"description": "Body over its limit"},
}


def _openapi(model: type[ExtendRequest] | type[EditRequest]) -> dict[str, object]:
    return {"parameters": GENERATE_HEADERS, "requestBody": request_body(model)}


async def _submit(request: Request, model: type[ExtendRequest] | type[EditRequest]) -> Response:
    """Queue the extension or edit ``model``'s body orders; the task's id (or, with ``Prefer:
    wait``, the task once finished)."""
    body = parse_body(model, await json_object(request))
    order = body.to_order(idempotency_key_of(request))
    wait = preferred_wait(request, services_of(request).settings.limits.prefer_wait_max_seconds)
    submission = await submit_video_operation(services_of(request), principal_of(request), order)
    return await submitted(request, submission, wait)


@router.post(
    "/extend",
    operation_id="extendVideo",
    summary="Extend a video",
    response_model=GenerateResponse,
    response_description="`data.task_id`; the finished task's video is the source followed by"
    " the added seconds, as one file.",
    responses=_RESPONSES,
    openapi_extra=_openapi(ExtendRequest),
)
async def extend(request: Request) -> Response:
    """Continue a video (a task's, or one given by URL) by `duration` seconds."""
    return await _submit(request, ExtendRequest)


@router.post(
    "/edit",
    operation_id="editVideo",
    summary="Edit a video",
    response_model=GenerateResponse,
    response_description="`data.task_id`; the finished task's video is the source changed as"
    " the prompt says, as long as the source.",
    responses=_RESPONSES,
    openapi_extra=_openapi(EditRequest),
)
async def edit(request: Request) -> Response:
    """Change a video (a task's, or one given by URL) as the prompt says."""
    return await _submit(request, EditRequest)
