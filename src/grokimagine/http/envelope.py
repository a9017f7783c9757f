"""The response bodies of the reference page: the success envelope and the error body."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


def success(data: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """``{"code": 200, "message": "success", "data": ...}``."""
    body = orjson.dumps({"code": 200, "message": "success", "data": data})
    return Response(body, media_type="application/json", headers=headers)


def error_body(status: int, error: str, message: str) -> bytes:
    """``{"code": <status>, "message": ..., "error": ...}`` as JSON bytes."""
    return orjson.dumps({"code": status, "message": message, "error": error})


def error_response(
    status: int, error: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    """An error in the reference page's error body."""
    return Response(
        error_body(status, error, message),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )
