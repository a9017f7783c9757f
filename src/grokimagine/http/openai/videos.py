"""OpenAI's Videos API: ``/v1/videos`` and ``/v1/models``, over the domain's submission,
pricing and task rules (the very functions ``/v1/generate``, ``/v1/extend`` and ``/v1/edit``
call). Every task is a video here and every video a task there."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import Response

from grokimagine.domain.submission.generate import Submission
from grokimagine.domain.submission.models import (
    VideoRequest,
    describe_model,
    describe_models,
    submit_video,
)
from grokimagine.domain.submission.video_operations import submit_video_operation
from grokimagine.domain.tasks import videos
from grokimagine.http.errors import invalid_request
from grokimagine.http.openai import schemas
from grokimagine.http.openai.bodies import body_fields
from grokimagine.http.openai.presenting import video_object
from grokimagine.http.params import ID_SCHEMA, parse_id
from grokimagine.http.v1.generate import DirectRoute, parse_body, principal_of, services_of
from grokimagine.http.v1.headers import idempotency_key_of
from grokimagine.http.v1.schemas import GENERATE_HEADERS


class _VideoIdConvertor(Convertor[str]):
    """A video id in a path: anything but the words that are routes of their own (``POST
    /v1/videos/edits``, ``/extensions``), so a GET there is a 405 naming POST, not a lookup."""

    regex = r"(?!edits$|extensions$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("video_id", _VideoIdConvertor())
router = APIRouter(prefix="/v1", tags=["openai"], route_class=DirectRoute)

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": schemas.OpenAIError, "description": description}
    for status, description in {
        400: "invalid_request_error: a parameter is not valid (`param` names it)",
        401: "authentication_error: missing, unknown or revoked key",
        402: "insufficient_quota: not enough credits",
        403: "permission_error: mode not allowed, or account disabled",
        404: "invalid_request_error: no such video (of this account), or no such asset",
        409: "invalid_request_error: Idempotency-Key reused with another body",
        413: "invalid_request_error: body, image or video over its limit",
        429: "rate_limit_error: over the plan's rate, or too many active tasks",
        500: "server_error",
    }.items()
}
_LIMIT = re.compile(r"[0-9]{1,3}")
_VIDEO_ID = [{"name": "video_id", "in": "path", "required": True, "schema": ID_SCHEMA}]
_HEADERS = [GENERATE_HEADERS[0]]  # Idempotency-Key
_Endpoint = Callable[[Request], Awaitable[Response]]
_Body = TypeVar("_Body", bound=schemas.EditBody)


def _json(payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), media_type="application/json", headers=headers)


def _video_id(request: Request) -> str:
    return parse_id(request.path_params["video_id"], "video_id")


async def _answer(request: Request, submission: Submission) -> Response:
    services = services_of(request)
    principal = principal_of(request)
    record = await videos.find_video(services.db, principal.account_id, submission.task_id)
    headers = {"Idempotent-Replayed": "true"} if submission.replayed else None
    return _json(video_object(services, record, principal.plan), headers)


def _creates_video(
    path: str,
    operation_id: str,
    summary: str,
    body: type[BaseModel],
    files: tuple[str, ...] = (),
    path_parameters: tuple[dict[str, Any], ...] = (),
) -> Callable[[_Endpoint], _Endpoint]:
    """The route of a POST that queues a task and answers its video (or the replay). The body
    parses by hand, so its schema is documented here: ``body``'s fields as multipart form data
    (``files`` as parts) or as JSON."""
    ref = {"$ref": f"#/components/schemas/{body.__name__}"}
    request_body = {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": ref},
            "application/json": {"schema": ref},
        },
        "description": "Multipart (as the SDKs send it, files as parts: "
        + ", ".join(files)
        + ") or JSON.",
    }
    return router.post(
        path,
        operation_id=operation_id,
        summary=summary,
        response_model=schemas.Video,
        responses=_ERRORS,
        openapi_extra={"parameters": [*path_parameters, *_HEADERS], "requestBody": request_body},
    )


async def _video_operation_body(request: Request, model: type[_Body]) -> _Body:
    """The body of an edit or an extension: ``video`` may be an upload, up to a video's limit."""
    limits = services_of(request).settings.limits
    fields = await body_fields(request, {"video": ""}, limits.max_video_bytes)
    return parse_body(model, fields)


async def _submit_order(request: Request, body: schemas.EditBody) -> Response:
    """Queue the edit or extension ``body`` orders, and answer its video."""
    order = body.to_order(idempotency_key_of(request))
    submission = await submit_video_operation(services_of(request), principal_of(request), order)
    return await _answer(request, submission)


@_creates_video(
    "/videos",
    "createVideo",
    "Create a video (OpenAI shape)",
    schemas.CreateVideoBody,
    files=("input_reference",),
)
async def create_video(request: Request) -> Response:
    """Queue a video from a prompt (and an optional image), priced, charged and limited like
    `POST /v1/generate`. `model`, `size` and `seconds` take the values `GET /v1/models` lists;
    `mode` (fun, normal, spicy) is an extra field."""
    limits = services_of(request).settings.limits
    fields = await body_fields(request, {"input_reference": "image_url"}, limits.max_image_bytes)
    body = parse_body(schemas.CreateVideoBody, fields)
    reference = body.input_reference
    if reference is not None and reference.image_url is None:
        raise invalid_request(
            "The input_reference parameter is not valid: upload the image or give image_url"
        )
    video = VideoRequest(
        prompt=body.prompt,
        model=body.model,
        seconds=body.seconds,
        size=body.size,
        mode=body.mode,
        image=reference.image_url if reference is not None else None,
        idempotency_key=idempotency_key_of(request),
    )
    submission = await submit_video(services_of(request), principal_of(request), video)
    return await _answer(request, submission)


@router.get(
    "/videos",
    operation_id="listVideos",
    summary="List videos (OpenAI shape)",
    response_model=schemas.VideoList,
    responses=_ERRORS,
    openapi_extra={
        "parameters": [
            {"name": "after", "in": "query", "required": False, "schema": ID_SCHEMA},
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
            },
            {
                "name": "order",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "enum": ["asc", "desc"], "default": "desc"},
            },
        ]
    },
)
async def list_videos(request: Request) -> Response:
    """The account's videos (tasks not deleted, from either surface), newest first by
    default; `after` is the last id of the previous page."""
    query = request.query_params
    after = query.get("after")
    after = parse_id(after, "after") if after is not None else None
    limit_text = query.get("limit", "20")
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    if not _LIMIT.fullmatch(limit_text) or not 1 <= int(limit_text) <= 100:
        raise invalid_request("The limit parameter is not valid: a whole number from 1 to 100")
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise invalid_request("The order parameter is not valid: asc or desc")
    services = services_of(request)
    principal = principal_of(request)
    page = await videos.list_videos(
        services.db,
        principal.account_id,
        limit=int(limit_text),
        after=after,
        ascending=order == "asc",
    )
    data = [video_object(services, record, principal.plan) for record in page.records]
    return _json(
        {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": page.has_more,
        }
    )


@router.get(
    "/videos/{video_id:video_id}",
    operation_id="retrieveVideo",
    summary="Retrieve a video (OpenAI shape)",
    response_model=schemas.Video,
    responses=_ERRORS,
    openapi_extra={"parameters": _VIDEO_ID},
)
async def retrieve_video(request: Request) -> Response:
    """The video job: its state, progress, size and seconds. Any task id works here."""
    services = services_of(request)
    principal = principal_of(request)
    record = await videos.find_video(services.db, principal.account_id, _video_id(request))
    return _json(video_object(services, record, principal.plan))


@router.delete(
    "/videos/{video_id:video_id}",
    operation_id="deleteVideo",
    summary="Delete a video (OpenAI shape)",
    response_model=schemas.VideoDeleted,
    responses=_ERRORS,
    openapi_extra={"parameters": _VIDEO_ID},
)
async def delete_video(request: Request) -> Response:
    """Delete the video's files, as `DELETE /v1/tasks/{task_id}` does (an unfinished one is
    canceled and refunded first); it then leaves this surface (404)."""
    services = services_of(request)
    video_id = _video_id(request)
    await videos.delete_video(
        services.db, services.store, principal_of(request).account_id, video_id
    )
    return _json({"id": video_id, "object": "video.deleted", "deleted": True})


@router.get(
    "/videos/{video_id}/content",
    operation_id="downloadVideoContent",
    summary="Download a video's file (OpenAI shape)",
    response_class=Response,
    responses={
        **_ERRORS,
        200: {"content": {"video/mp4": {}, "image/jpeg": {}}, "description": "The file"},
    },
    openapi_extra={
        "parameters": [
            *_VIDEO_ID,
            {
                "name": "variant",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "enum": list(videos.VARIANTS), "default": "video"},
                "description": "video (MP4) or thumbnail (JPEG poster); spritesheet: 404.",
            },
        ]
    },
)
async def download_content(request: Request) -> Response:
    """The MP4 of a completed video, or its poster frame (`variant=thumbnail`)."""
    services = services_of(request)
    video_id = _video_id(request)
    variant = request.query_params.get("variant", "video")
    if variant not in videos.VARIANTS:
        raise invalid_request("The variant parameter is not valid: video, thumbnail")
    asset = await videos.video_asset(
        services.db, services.store, principal_of(request).account_id, video_id, variant
    )
    return Response(asset.data, media_type=asset.media_type)


@_creates_video(
    "/videos/{video_id}/remix",
    "remixVideo",
    "Remix a video (OpenAI shape)",
    schemas.RemixBody,
    path_parameters=tuple(_VIDEO_ID),
)
async def remix_video(request: Request) -> Response:
    """A new video: the completed video changed as the new prompt says (an edit, priced as
    `POST /v1/edit` is); `remixed_from_video_id` names the source."""
    video_id = _video_id(request)
    body = parse_body(schemas.RemixBody, await body_fields(request, {}))
    edit = schemas.EditBody(prompt=body.prompt, mode=body.mode, video={"id": video_id})
    return await _submit_order(request, edit)


@_creates_video(
    "/videos/edits", "editVideoOpenAI", "Edit a video (OpenAI shape)", schemas.EditBody, ("video",)
)
async def edit_video(request: Request) -> Response:
    """Change a video (an upload, a URL, or `{id}` of a completed one) as the prompt says."""
    return await _submit_order(request, await _video_operation_body(request, schemas.EditBody))


@_creates_video(
    "/videos/extensions",
    "extendVideoOpenAI",
    "Extend a video (OpenAI shape)",
    schemas.ExtendBody,
    ("video",),
)
async def extend_video(request: Request) -> Response:
    """Continue a video (an upload, a URL, or `{id}` of a completed one) by `seconds`."""
    return await _submit_order(request, await _video_operation_body(request, schemas.ExtendBody))


@router.get(
    "/models",
    operation_id="listModels",
    summary="List models (OpenAI shape)",
    response_model=schemas.ModelList,
    responses=_ERRORS,
)
async def list_models(request: Request) -> Response:
    """The models this caller may ask for: each a route of the operator's, with the sizes,
    seconds and operations its engines declare and the price of a clip."""
    models = describe_models(services_of(request), principal_of(request))
    return _json({"object": "list", "data": models})


@router.get(
    "/models/{model}",
    operation_id="retrieveModel",
    summary="Retrieve a model (OpenAI shape)",
    response_model=schemas.Model,
    responses=_ERRORS,
    openapi_extra={
        "parameters": [
            {
                "name": "model",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "minLength": 1, "maxLength": 64},
            }
        ]
    },
)
async def retrieve_model(request: Request) -> Response:
    """One model of `GET /v1/models`; 404 `model_not_found` for any other id."""
    model = request.path_params["model"]
    return _json(describe_model(services_of(request), principal_of(request), model))
