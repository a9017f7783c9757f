"""Serves stored videos under signed, expiring URLs, with HTTP Range support (RFC 9110)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, Response
from starlette.types import Receive, Scope, Send

from grokimagine.domain.tasks.retention import files_expired
from grokimagine.http.errors import ApiError
from grokimagine.http.params import parse_byte_range, parse_expires, parse_signature
from grokimagine.storage.files import LocalFileStore, is_valid_key

router = APIRouter(tags=["files"])

_NOT_FOUND = "Not found: no such file"


class _RangedFileResponse(FileResponse):
    """A file response whose ``Range`` header is the one we parsed (or none): Starlette's own
    parser would answer bad ranges in plain text, and RFC 9110 says to ignore them."""

    def __init__(self, *args: object, range_header: bytes | None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._range_header = range_header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(name, value) for name, value in scope["headers"] if name != b"range"]
        if self._range_header is not None:
            headers.append((b"range", self._range_header))
        await super().__call__({**scope, "headers": headers}, receive, send)


@router.api_route("/files/{key:path}", methods=["GET", "HEAD"], include_in_schema=False)
async def serve_file(request: Request, key: str) -> Response:
    """A video (or its poster frame), if the URL's signature is valid and unexpired."""
    store = request.app.state.services.store
    if (
        not isinstance(store, LocalFileStore)
        or not key.startswith("videos/")
        or not is_valid_key(key)
    ):
        raise ApiError(404, _NOT_FOUND, "NOT_FOUND")
    query = request.query_params
    expires = parse_expires(query.get("expires"))
    signature = parse_signature(query.get("signature"))
    if expires is None or signature is None or not store.signer.verify(key, expires, signature):
        await _count_failure(request)
        raise ApiError(403, "Forbidden: the URL's signature is invalid or expired", "FORBIDDEN")
    path = store.path_of(key)
    try:
        size = path.stat().st_size if path.is_file() else 0
    except OSError:
        size = 0
    if size == 0:
        if await files_expired(request.app.state.services.db, key.split("/")[1]):
            raise ApiError(
                410,
                "Video expired: the operator's retention period for this task's videos is over",
                "VIDEO_EXPIRED",
            )
        # A video that was never written, or was cut short to nothing, is not a video.
        raise ApiError(404, _NOT_FOUND, "NOT_FOUND")
    byte_range = parse_byte_range(request.headers.get("range"), size)
    range_header = (
        None if byte_range is None else f"bytes={byte_range.start}-{byte_range.end}".encode()
    )
    media_type = "image/jpeg" if key.endswith(".jpg") else "video/mp4"
    return _RangedFileResponse(path, media_type=media_type, range_header=range_header)


async def _count_failure(request: Request) -> None:
    """Count a bad signature against the address; past the limit, answer 429 instead of 403.

    Only failures are limited: a valid URL is served to anyone holding it (browsers behind one
    NAT share an address), and checking an HMAC costs less than counting it.
    """
    services = request.app.state.services
    client = request.client
    window = await request.app.state.limiter.hit(
        services.settings.limits.signature_failure_limit,
        "signature-failures",
        client.host if client else "unknown",
    )
    if not window.allowed:
        raise ApiError(
            429,
            "Rate limited: too many invalid signed URLs from this address",
            "RATE_LIMITED",
            window.headers(),
        )
