"""The gate in front of every ``/v1`` route: authentication, rate limits and the body size cap.

A plain ASGI middleware rather than a FastAPI dependency, for two reasons: unknown routes, wrong
methods and oversized bodies under ``/v1`` get the same treatment and headers as real routes,
and it costs no thread-pool hop on the hot path of status polling.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grokimagine.domain.accounts.accounts import Principal
from grokimagine.domain.billing.plans import DEFAULT_PLAN
from grokimagine.http.edge.auth import Authenticator, bearer_token
from grokimagine.http.edge.hot_routes import HotRoutes
from grokimagine.http.edge.ratelimit import RateLimiter, Window
from grokimagine.http.envelope import error_body

log = logging.getLogger("grokimagine.http")


def rate_identity(principal: Principal) -> tuple[str, ...]:
    """Whose window a request counts in: its account's, with test keys in a window of their own."""
    return ("account", "live" if principal.live else "test", principal.account_id)


class BodyTooLargeError(HTTPException):
    """The request body grew past the cap while it was being read.

    An HTTPException, so that FastAPI's body parsing (admin routes) lets it through as a 413
    instead of calling it a malformed body.
    """

    def __init__(self) -> None:
        super().__init__(413, _TOO_LARGE)


class ApiGate:
    """Admits a ``/v1`` request, or answers it with the right error; stamps rate-limit headers."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticator: Authenticator,
        limiter: RateLimiter,
        plan_limits: dict[str, int],
        auth_failure_limit: int,
        max_body_bytes: int,
        hot_routes: HotRoutes | None = None,
    ) -> None:
        self.app = app
        # Admitted requests to these routes skip the router (hot_routes.py).
        self.hot_routes = hot_routes
        self.authenticator = authenticator
        self.limiter = limiter
        self.plan_limits = plan_limits
        self.auth_failure_limit = auth_failure_limit
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/admin/"):
            # Admin routes authenticate themselves (admin keys); only their bodies are capped
            # here, before anything reads them.
            await self._capped(scope, receive, send, ADMIN_MAX_BODY_BYTES, {})
            return
        if scope["type"] != "http" or not scope["path"].startswith("/v1"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        client = scope.get("client")
        address = client[0] if client else "unknown"

        token = bearer_token(headers.get("authorization"))
        principal = await self.authenticator.principal_for(token) if token else None
        if principal is None:
            # Failures are counted per address, and past the limit an unknown token gets 429
            # instead of 401. A valid key is never refused here: behind a shared NAT, one
            # client's bad tokens must not lock out the others (tokens carry 256 random bits,
            # so a guess that succeeds is not what this limit is for; it bounds the load).
            window = await self.limiter.hit(self.auth_failure_limit, "auth-failures", address)
            if not window.allowed:
                await _send_error(send, 429, "RATE_LIMITED", _TOO_MANY_FAILURES, window.headers())
                return
            message = (
                "Unauthorized: a valid Bearer token is required"
                if token is None
                else "Unauthorized: the token is unknown or revoked"
            )
            await _send_error(send, 401, "UNAUTHORIZED", message, window.headers())
            return

        if principal.disabled:
            await _send_error(send, 403, "ACCOUNT_DISABLED", _DISABLED, {})
            return

        window = await self._hit(principal)
        rate_headers = window.headers()
        if not window.allowed:
            message = "Rate limited: the plan's requests per minute are used up"
            await _send_error(send, 429, "RATE_LIMITED", message, rate_headers)
            return

        scope.setdefault("state", {})["principal"] = principal
        await self._capped(scope, receive, send, self.max_body_bytes, rate_headers)

    async def _capped(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        max_bytes: int,
        rate_headers: dict[str, str],
    ) -> None:
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_bytes):
            await _send_error(send, 413, "PAYLOAD_TOO_LARGE", _TOO_LARGE, rate_headers)
            return
        await self._forward(scope, receive, send, rate_headers, max_bytes)

    async def _hit(self, principal: Principal) -> Window:
        # An account left on a plan the settings no longer define gets the default plan's rate.
        per_minute = self.plan_limits.get(principal.plan) or self.plan_limits[DEFAULT_PLAN]
        return await self.limiter.hit(per_minute, *rate_identity(principal))

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        rate_headers: dict[str, str],
        max_bytes: int,
    ) -> None:
        started = False
        received = 0
        extra = [(name.lower().encode(), value.encode()) for name, value in rate_headers.items()]

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLargeError()
            return message

        async def stamping_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        app = self.app
        if self.hot_routes is not None:
            app = self.hot_routes.app_for(scope, app) or app
        try:
            await app(scope, counting_receive, stamping_send)
        except BodyTooLargeError:
            if started:
                raise
            await _send_error(send, 413, "PAYLOAD_TOO_LARGE", _TOO_LARGE, rate_headers)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await _send_error(send, 500, "INTERNAL_ERROR", _INTERNAL, rate_headers)


# Admin requests carry a few fields of JSON; anything near this is not one.
ADMIN_MAX_BODY_BYTES = 64 * 1024
_TOO_MANY_FAILURES = "Rate limited: too many failed authentications from this address"
_DISABLED = "Account disabled: this account's keys are refused; contact the operator"
_TOO_LARGE = "Payload too large: the request body is over its limit"
_INTERNAL = "Internal error: the request could not be completed"


async def _send_error(
    send: Send, status: int, error: str, message: str, headers: dict[str, Any]
) -> None:
    body = error_body(status, error, message)
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *[(name.lower().encode(), str(value).encode()) for name, value in headers.items()],
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
