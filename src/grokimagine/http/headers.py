"""Request headers of ``POST /v1/generate``: ``Idempotency-Key`` and ``Prefer: wait``."""

from __future__ import annotations

import re

from starlette.requests import Request

from grokimagine.domain.idempotency import MAX_KEY_LENGTH
from grokimagine.http.errors import invalid_request

MAX_WAIT_SECONDS = 60
_KEY_CHARS = re.compile(r"^[\x21-\x7e]+$")


def idempotency_key_of(request: Request) -> str | None:
    """The ``Idempotency-Key`` header, checked: 1-200 visible ASCII characters (else 400)."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if len(key) > MAX_KEY_LENGTH or not _KEY_CHARS.match(key):
        raise invalid_request(
            f"the Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} visible ASCII characters"
        )
    return key


def preferred_wait(request: Request) -> int | None:
    """Seconds from ``Prefer: wait=N`` (RFC 7240), at most 60; ``None`` without one."""
    for preference in request.headers.get("prefer", "").split(","):
        name, _, value = preference.split(";")[0].strip().partition("=")
        value = value.strip().strip('"')
        if name.strip().lower() == "wait" and value.isdigit():
            return min(int(value), MAX_WAIT_SECONDS)
    return None
