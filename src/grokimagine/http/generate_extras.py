"""Part 3 on ``POST /v1/generate``: options, callback URL, ``Idempotency-Key`` and ``Prefer: wait``.

A request without these headers and fields takes none of these paths, so a reference-page
client gets exactly the reference page's behaviour.
"""

from __future__ import annotations

import asyncio
import re

from starlette.requests import Request
from starlette.responses import Response

from grokimagine.domain.accounts import Principal
from grokimagine.domain.idempotency import (
    MAX_KEY_LENGTH,
    IdempotencyConflictError,
    IdempotencyKey,
    find_original,
    fingerprint,
)
from grokimagine.domain.tasks import FINISHED, get_task
from grokimagine.engines.capabilities import Capabilities, route_capabilities
from grokimagine.engines.routing import TEST_KEY_ROUTE
from grokimagine.http.envelope import success
from grokimagine.http.errors import ApiError, invalid_request
from grokimagine.http.params import parse_prefer_wait
from grokimagine.http.schemas import GenerateRequest
from grokimagine.http.views import task_view
from grokimagine.net.guard import FetchError, validate_outbound_url
from grokimagine.services import Services

WAIT_POLL_SECONDS = 0.1
_KEY_CHARS = re.compile(r"^[\x21-\x7e]+$")


def engine_route(services: Services, principal: Principal, mode: str) -> list[str]:
    """The engines for a new task: the routes' choice, or the preview engine for test keys."""
    if not principal.live:
        return list(TEST_KEY_ROUTE)
    return services.router.route(principal.plan, mode)


def check_options(body: GenerateRequest, capabilities: Capabilities) -> None:
    """Refuse the options the client set that the serving engines do not offer (400)."""
    given = body.model_fields_set
    if "duration" in given and body.duration not in capabilities.durations:
        offered = ", ".join(str(seconds) for seconds in capabilities.durations)
        raise invalid_request(f"The duration parameter is not valid: offered are {offered}")
    if "resolution" in given and body.resolution not in capabilities.resolutions:
        offered = ", ".join(capabilities.resolutions)
        raise invalid_request(f"The resolution parameter is not valid: offered are {offered}")
    if body.seed is not None and not capabilities.seed:
        raise invalid_request("The seed parameter is not supported by the engines of this mode")
    if body.negative_prompt is not None and not capabilities.negative_prompt:
        raise invalid_request(
            "The negative_prompt parameter is not supported by the engines of this mode"
        )


async def check_callback_url(services: Services, url: str | None) -> None:
    """Refuse a callback URL that webhooks could not reach: scheme, private address (400)."""
    if url is None:
        return
    try:
        await validate_outbound_url(url, services.fetch_allowlist)
    except FetchError as exc:
        raise invalid_request(f"The callback_url parameter is not valid: {exc}") from None


async def check_request(services: Services, principal: Principal, body: GenerateRequest) -> None:
    """Every Part 3 check of a generate body that needs no fetching."""
    route = engine_route(services, principal, body.mode)
    check_options(body, route_capabilities(services.settings, route))
    await check_callback_url(services, body.callback_url)


def idempotency_of(
    request: Request, body: GenerateRequest, principal: Principal
) -> IdempotencyKey | None:
    """The request's ``Idempotency-Key`` with the fingerprint of its body, if it has one."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if len(key) > MAX_KEY_LENGTH or not _KEY_CHARS.match(key):
        raise invalid_request(
            f"the Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} visible ASCII characters"
        )
    # A key used with a live key and again with a test key is a different request.
    request_fields = {**body.model_dump(mode="json"), "live": principal.live}
    return IdempotencyKey(key, fingerprint(request_fields))


async def original_task(
    services: Services, principal: Principal, key: IdempotencyKey | None
) -> str | None:
    """The task an earlier request with this key made, or ``None``; 409 if its body differed."""
    if key is None:
        return None
    try:
        return await find_original(services.db, principal.account_id, key)
    except IdempotencyConflictError:
        raise ApiError(
            409,
            "Idempotency conflict: this Idempotency-Key was used with a different request body",
            "IDEMPOTENCY_CONFLICT",
        ) from None


def preferred_wait(request: Request, longest: int) -> int | None:
    """Seconds from ``Prefer: wait=N`` (RFC 7240), at most ``longest``; ``None`` without one."""
    return parse_prefer_wait(request.headers.get("prefer"), longest)


async def generate_response(
    services: Services, principal: Principal, task_id: str, *, wait: int | None, replayed: bool
) -> Response:
    """``{"task_id"}``, or the finished task when it finishes within the preferred wait."""
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    if wait is None:
        return success({"task_id": task_id}, headers)
    headers["Preference-Applied"] = f"wait={wait}"
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        record = await get_task(services.db, principal.account_id, task_id)
        if record is not None and record.status in FINISHED:
            return success(await task_view(record, services), headers)
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            return success({"task_id": task_id}, headers)
        await asyncio.sleep(min(WAIT_POLL_SECONDS, left))
