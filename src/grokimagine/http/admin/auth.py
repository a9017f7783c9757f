"""Admin authentication: a ``gi_admin_`` bearer token, looked up on every request (no cache, so
a revoked admin key stops at once). API keys are never accepted here."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from grokimagine.domain.accounts.admin_keys import authenticate_admin
from grokimagine.domain.accounts.audit import Actor
from grokimagine.http.edge.ratelimit import RateLimiter
from grokimagine.http.errors import ApiError
from grokimagine.services import Services

admin_bearer = HTTPBearer(
    scheme_name="AdminKey",
    description="An admin key: `Authorization: Bearer gi_admin_...` (made with"
    " `grokimagine admin-keys create`). API keys are refused here, as admin keys are on /v1.",
    auto_error=False,
)


async def admin_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(admin_bearer)],
) -> Actor:
    """The admin key making the request; 401 otherwise, 429 after too many failures."""
    services: Services = request.app.state.services
    limit = services.settings.limits.auth_failure_limit
    address = request.client.host if request.client else "unknown"
    limiter: RateLimiter = request.app.state.limiter
    blocked = await limiter.peek(limit, "admin-auth-failures", address)
    if not blocked.allowed:
        raise ApiError(
            429,
            "Rate limited: too many failed authentications from this address",
            "RATE_LIMITED",
            blocked.headers(),
        )
    token = credentials.credentials if credentials else None
    actor = await authenticate_admin(services.db, token) if token else None
    if actor is None:
        window = await limiter.hit(limit, "admin-auth-failures", address)
        message = (
            "Unauthorized: an admin key is required (Authorization: Bearer gi_admin_...)"
            if token is None
            else "Unauthorized: the admin key is unknown or revoked"
        )
        raise ApiError(401, message, "UNAUTHORIZED", window.headers())
    return actor


AdminActor = Annotated[Actor, Depends(admin_actor)]
