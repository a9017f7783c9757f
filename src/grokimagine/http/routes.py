"""The reference page's routes: ``POST /v1/generate`` and ``GET /v1/status``."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.responses import Response

from grokimagine.domain.accounts import Principal
from grokimagine.domain.credits import InsufficientCreditsError
from grokimagine.domain.idempotency import IdempotencyKeyTakenError
from grokimagine.domain.images import ImageRejected, LoadedImage, load_images
from grokimagine.domain.tasks import ModeNotAllowedError, NewTask, get_task, submit_task
from grokimagine.http.envelope import success
from grokimagine.http.errors import ApiError, describe_validation_errors, invalid_request
from grokimagine.http.generate_extras import (
    check_request,
    engine_route,
    generate_response,
    idempotency_of,
    original_task,
    preferred_wait,
)
from grokimagine.http.params import ID_SCHEMA, parse_id
from grokimagine.http.schemas import (
    BUSY_RESPONSE,
    ERROR_RESPONSES,
    GENERATE_HEADERS,
    Envelope,
    ErrorBody,
    GenerateData,
    GenerateRequest,
    StatusData,
)
from grokimagine.http.schemas_tasks import TaskData
from grokimagine.http.views import status_view
from grokimagine.services import Services


class DirectRoute(APIRoute):
    """A route whose endpoint takes the ``Request`` and returns a ``Response`` by itself.

    FastAPI still documents it (from the decorator's models), but requests skip its parameter
    and serialisation machinery, which costs more than the rest of a status poll together.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint

        async def handle(request: Request) -> Response:
            return await endpoint(request)

        return handle


router = APIRouter(prefix="/v1", tags=["videos"], route_class=DirectRoute)


def principal_of(request: Request) -> Principal:
    """The caller, admitted by the gate."""
    return request.state.principal


def services_of(request: Request) -> Services:
    """The process's shared services."""
    return request.app.state.services


@router.post(
    "/generate",
    summary="Generate a video",
    response_model=Envelope[GenerateData | TaskData],
    response_description=(
        "`data.task_id`; with `Prefer: wait=N`, the finished task instead when it finishes in"
        " time. A replay of an `Idempotency-Key` carries `Idempotent-Replayed: true`."
    ),
    responses={
        **ERROR_RESPONSES,
        **BUSY_RESPONSE,
        402: {"model": ErrorBody, "description": "Not enough credits"},
        403: {"model": ErrorBody, "description": "Mode not allowed"},
        409: {"model": ErrorBody, "description": "IDEMPOTENCY_CONFLICT: key reused, other body"},
        413: {"model": ErrorBody, "description": "Body or image over its limit"},
    },
    openapi_extra={
        "parameters": GENERATE_HEADERS,
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": GenerateRequest.model_json_schema()}},
        },
    },
)
async def generate(request: Request) -> Response:
    """Queue a text- or image-to-video generation; 40 credits per video."""
    services = services_of(request)
    principal = principal_of(request)
    # Parsed here rather than by FastAPI so that any Content-Type is read as JSON (curl -d
    # without a header) and every failure names its field in our error format.
    try:
        payload = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise invalid_request("the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise invalid_request("the body must be a JSON object")
    try:
        body = GenerateRequest.model_validate(payload)
    except ValidationError as exc:
        raise invalid_request(describe_validation_errors(list(exc.errors()))) from None
    idempotency = idempotency_of(request, body, principal)
    wait = preferred_wait(request, services.settings.prefer_wait_max_seconds)
    original = await original_task(services, principal, idempotency)
    if original is not None:
        return await generate_response(services, principal, original, wait=wait, replayed=True)
    await check_request(services, principal, body)
    new_task = NewTask(
        mode=body.mode,
        prompt=body.prompt,
        ratio=body.ratio,
        images=await _load_images(services, body.images or []),
        route=engine_route(services, principal, body.mode),
        video_count=body.n,
        seed=body.seed,
        negative_prompt=body.negative_prompt,
        duration=body.duration,
        resolution=body.resolution,
        callback_url=body.callback_url,
        idempotency=idempotency,
        echoed_options=body.options_given(),
    )
    try:
        record = await submit_task(services.db, services.store, principal, new_task)
    except IdempotencyKeyTakenError:
        # A concurrent request with the same key won the insert: answer with its task.
        original = await original_task(services, principal, idempotency)
        if original is None:
            raise
        return await generate_response(services, principal, original, wait=wait, replayed=True)
    except ModeNotAllowedError:
        raise ApiError(
            403,
            f"Mode not allowed: {body.mode} is not enabled for this account",
            "MODE_NOT_ALLOWED",
        ) from None
    except InsufficientCreditsError:
        raise ApiError(
            402, "Insufficient credits: the balance is below the price", "INSUFFICIENT_CREDITS"
        ) from None
    services.task_created()
    return await generate_response(services, principal, record.id, wait=wait, replayed=False)


async def _load_images(services: Services, sources: list[str]) -> list[LoadedImage]:
    settings = services.settings
    try:
        return await load_images(
            sources,
            allowlist=services.fetch_allowlist,
            max_bytes=settings.max_image_bytes,
            timeout=settings.image_fetch_timeout,
        )
    except ImageRejected as exc:
        status = exc.status
        error = "PAYLOAD_TOO_LARGE" if status == 413 else "INVALID_REQUEST"
        prefix = "Payload too large" if status == 413 else "Invalid request"
        raise ApiError(status, f"{prefix}: {exc.message}", error) from None


@router.get(
    "/status",
    summary="Get task status",
    response_model=Envelope[StatusData],
    responses={**ERROR_RESPONSES, 404: {"model": ErrorBody, "description": "Unknown task"}},
    # Declared for the docs only: the handler reads the query itself, which spares the
    # hottest route FastAPI's parameter machinery.
    openapi_extra={
        "parameters": [
            {
                "name": "task_id",
                "in": "query",
                "required": True,
                "schema": ID_SCHEMA,
                "description": "The id returned by generate.",
            }
        ]
    },
)
async def status(request: Request) -> Response:
    """The task's state, its original request and, once completed, its video URLs."""
    task_id = parse_id(request.query_params.get("task_id"))
    services = services_of(request)
    record = await get_task(services.db, principal_of(request).account_id, task_id)
    if record is None:
        raise ApiError(404, "Task not found", "TASK_NOT_FOUND")
    return success(status_view(record, services.store, services.settings.url_ttl_seconds))
