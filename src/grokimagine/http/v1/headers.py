"""Request headers of ``POST /v1/generate``: ``Idempotency-Key`` and ``Prefer: wait``."""

from __future__ import annotations

import re

from starlette.requests import Request

from grokimagine.domain.tasks.idempotency import MAX_KEY_LENGTH
from grokimagine.http.errors import invalid_request
from grokimagine.http.params import MAX_WAIT_SECONDS, parse_prefer_wait

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


def preferred_wait(request: Request, longest: int = MAX_WAIT_SECONDS) -> int | None:
    """Seconds from ``Prefer: wait=N`` (RFC 7240), at most ``longest``; ``None`` without one."""
    return parse_prefer_wait(request.headers.get("prefer"), longest)
