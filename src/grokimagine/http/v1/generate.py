"""The reference page's routes: ``POST /v1/generate`` and ``GET /v1/status``."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import orjson
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from grokimagine.domain.accounts.accounts import Principal
from grokimagine.domain.submission.generate import Submission, quote_generation, submit_generation
from grokimagine.domain.submission.video_operations import quote_video_operation
from grokimagine.domain.tasks.control import queue_position
from grokimagine.domain.tasks.records import find_task, wait_until_finished
from grokimagine.domain.tasks.views import status_view, task_view
from grokimagine.http.edge.ratelimit import RateLimiter
from grokimagine.http.envelope import success
from grokimagine.http.errors import describe_validation_errors, invalid_request
from grokimagine.http.openapi.shaping import request_body
from grokimagine.http.params import ID_SCHEMA, parse_id
from grokimagine.http.v1.headers import idempotency_key_of, preferred_wait
from grokimagine.http.v1.schemas import (
    BUSY_RESPONSE,
    ERROR_RESPONSES,
    GENERATE_HEADERS,
    Envelope,
    Error,
    GenerateRequest,
    GenerateResult,
    StatusResponse,
)
from grokimagine.http.v1.task_schemas import QuoteData, Task
from grokimagine.http.v1.video_schemas import EditRequest, ExtendRequest
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
M = TypeVar("M", bound=BaseModel)


class GenerateResponse(Envelope[GenerateResult | Task]):
    """What ``POST /v1/generate`` answers: the task id, or the finished task (``Prefer: wait``)."""


def hot_routes() -> list[APIRoute]:
    """The routes the gate answers without the router (``http/edge/hot_routes.py``): the
    client's status polls and its submissions."""
    return [route for route in router.routes if route.name in ("status", "generate")]  # type: ignore[attr-defined]


def principal_of(request: Request) -> Principal:
    """The caller, admitted by the gate."""
    return request.state.principal


def services_of(request: Request) -> Services:
    """The process's shared services."""
    return request.app.state.services


def limiter_of(request: Request) -> RateLimiter:
    """The API's rate limiter (plan limits, failed authentications)."""
    return request.app.state.limiter


@router.post(
    "/generate",
    operation_id="generate",
    summary="Generate a video",
    response_model=GenerateResponse,
    response_description=(
        "`data.task_id`; with `Prefer: wait=N`, the finished task instead when it finishes in"
        " time. A replay of an `Idempotency-Key` carries `Idempotent-Replayed: true`."
    ),
    responses={
        **ERROR_RESPONSES,
        **BUSY_RESPONSE,
        402: {"model": Error, "description": "Not enough credits"},
        403: {"model": Error, "description": "MODE_NOT_ALLOWED, or ACCOUNT_DISABLED"},
        409: {"model": Error, "description": "IDEMPOTENCY_CONFLICT: key reused, other body"},
        413: {"model": Error, "description": "Body or image over its limit"},
        429: {
            "model": Error,
            "description": "RATE_LIMITED, or TOO_MANY_ACTIVE_TASKS: the plan's pending and"
            " running tasks are all in use (see Retry-After)",
        },
    },
    openapi_extra={
        "parameters": GENERATE_HEADERS,
        "requestBody": request_body(GenerateRequest),
    },
)
async def generate(request: Request) -> Response:
    """Queue a text- or image-to-video generation, priced by the operator's table (by default
    40 credits per 6 s 480p video); `POST /v1/quote` tells the price beforehand."""
    body = await generate_body(request)
    order = body.to_order(idempotency_key_of(request))
    wait = preferred_wait(request, services_of(request).settings.limits.prefer_wait_max_seconds)
    submission = await submit_generation(services_of(request), principal_of(request), order)
    return await submitted(request, submission, wait)


async def submitted(request: Request, submission: Submission, wait: int | None) -> Response:
    """The answer to a submission: its task id, or with ``Prefer: wait`` the finished task."""
    services = services_of(request)
    principal = principal_of(request)
    headers = {"Idempotent-Replayed": "true"} if submission.replayed else {}
    if wait is None:
        return success({"task_id": submission.task_id}, headers)
    headers["Preference-Applied"] = f"wait={wait}"
    record = await wait_until_finished(services.db, principal.account_id, submission.task_id, wait)
    if record is None:
        return success({"task_id": submission.task_id}, headers)
    settings = services.settings
    view = await task_view(record, services.db, services.store, settings.url_ttl_seconds)
    return success(view, headers)


async def generate_body(request: Request) -> GenerateRequest:
    """The generate body of a request, validated; errors in the API's format (the console's
    playground posts the same body)."""
    return parse_body(GenerateRequest, await json_object(request))


async def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object, whatever the Content-Type (curl -d sends none)."""
    # Parsed here rather than by FastAPI so that any Content-Type is read as JSON and every
    # failure names its field in our error format.
    try:
        payload = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise invalid_request("the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise invalid_request("the body must be a JSON object")
    return payload


def parse_body(model: type[M], payload: dict[str, Any]) -> M:
    """``payload`` validated by ``model``; a 400 naming the first offending field otherwise."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise invalid_request(describe_validation_errors(list(exc.errors()))) from None


@router.post(
    "/quote",
    summary="Quote a generation",
    operation_id="quote",
    response_model=Envelope[QuoteData],
    responses={
        **ERROR_RESPONSES,
        403: {"model": Error, "description": "MODE_NOT_ALLOWED, or ACCOUNT_DISABLED"},
        413: {"model": Error, "description": "Body or image over its limit"},
    },
    openapi_extra={"requestBody": request_body(GenerateRequest)},
)
async def quote(request: Request) -> Response:
    """The price of a request, checked exactly as its route checks it (options, images or the
    source video, callback URL, mode); nothing is created or charged. The body is a generate
    body, or with `"operation": "extend"` or `"edit"` the body of `POST /v1/extend` or
    `POST /v1/edit` (the source is loaded and probed: its size and length set the price).
    `affordable` says whether the balance covers it now."""
    payload = await json_object(request)
    operation = payload.get("operation", "generate")
    services, principal = services_of(request), principal_of(request)
    if operation == "generate":
        if "task_id" in payload or "video" in payload:
            # A source video without an operation: pricing it as a generation would be wrong.
            raise invalid_request(
                "The operation parameter is required with a source video: extend or edit"
            )
        order = parse_body(GenerateRequest, payload).to_order()
        estimate = await quote_generation(services, principal, order)
    elif operation in ("extend", "edit"):
        model = ExtendRequest if operation == "extend" else EditRequest
        video_order = parse_body(model, payload).to_order(None)
        estimate = await quote_video_operation(services, principal, video_order)
    else:
        raise invalid_request(
            "The operation parameter is not valid: expected generate, extend or edit"
        )
    return success(estimate.describe())


@router.get(
    "/status",
    operation_id="getStatus",
    summary="Get task status",
    response_model=StatusResponse,
    responses={**ERROR_RESPONSES, 404: {"model": Error, "description": "Unknown task"}},
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
    record = await find_task(services.db, task_id, account_id=principal_of(request).account_id)
    # Counted only while pending: a poll of a running or finished task costs no extra query.
    position = await queue_position(services.db, record)
    ttl = services.settings.url_ttl_seconds
    return success(status_view(record, services.store, ttl, position))
