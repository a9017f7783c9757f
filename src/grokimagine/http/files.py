"""Serves stored videos under signed, expiring URLs, with HTTP Range support."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, Response

from grokimagine.http.errors import ApiError
from grokimagine.storage.files import LocalFileStore, is_valid_key

router = APIRouter(tags=["files"])


@router.api_route("/files/{key:path}", methods=["GET", "HEAD"], include_in_schema=False)
async def serve_file(request: Request, key: str) -> Response:
    """A video (or its poster frame), if the URL's signature is valid and unexpired."""
    store = request.app.state.services.store
    if (
        not isinstance(store, LocalFileStore)
        or not key.startswith("videos/")
        or not is_valid_key(key)
    ):
        raise ApiError(404, "Not found: no such file", "NOT_FOUND")
    query = request.query_params
    if not store.signer.verify(key, query.get("expires"), query.get("signature")):
        raise ApiError(403, "Forbidden: the URL's signature is invalid or expired", "FORBIDDEN")
    path = store.path_of(key)
    if not path.is_file():
        raise ApiError(404, "Not found: no such file", "NOT_FOUND")
    media_type = "image/jpeg" if key.endswith(".jpg") else "video/mp4"
    return FileResponse(path, media_type=media_type)
