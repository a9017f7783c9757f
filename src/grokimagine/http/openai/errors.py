"""OpenAI's error envelope on the OpenAI-shaped routes, and only there.

Every error of the service is first written in the GrokImagine body (the gate's 401 and 429,
the domain refusals of ``http/errors.py``, unknown routes, internal errors); this middleware,
wrapped around the gate, rewrites the bodies of ``/v1/videos`` and ``/v1/models`` answers into
``{"error": {"message", "type", "param", "code"}}``, the shape OpenAI's SDKs read.
"""

from __future__ import annotations

import re

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SURFACE_PREFIXES = ("/v1/videos", "/v1/models")

# What the OpenAI shape calls the fields our messages name.
PARAM_NAMES = {
    "duration": "seconds",
    "resolution": "size",
    "ratio": "size",
    "images": "input_reference",
    "task_id": "video",
}
_CODES = {
    "UNAUTHORIZED": "invalid_api_key",
    "TASK_NOT_FOUND": "video_not_found",
}
_PARAM = re.compile(r"\bThe ([A-Za-z_]+)((?:\[[A-Za-z0-9_]+\])*) parameter\b")
# Image and video refusals name the field first: "Invalid request: images[0]: ...".
_FIELD = re.compile(r"^[A-Za-z ]+: ([a-z_]+)(\[[0-9]+\])?: ")


def error_type(status: int) -> str:
    """The OpenAI ``type`` of an error answered with ``status``."""
    if status >= 500:
        return "server_error"
    return {
        401: "authentication_error",
        402: "insufficient_quota",
        403: "permission_error",
        429: "rate_limit_error",
    }.get(status, "invalid_request_error")


def openai_error_body(status: int, code: str, message: str) -> bytes:
    """The OpenAI error body for one of our errors (``code`` as in our envelope)."""
    param = None
    match = _PARAM.search(message)
    if match is not None:
        name = PARAM_NAMES.get(match.group(1), match.group(1))
        param = name + match.group(2)
        message = message[: match.start(1)] + param + message[match.end(2) :]
    elif (field := _FIELD.match(message)) is not None:
        param = PARAM_NAMES.get(field.group(1), field.group(1))
        # One image at most here: its index says nothing.
        message = (
            message[: field.start(1)] + param + message[field.end(2 if field.group(2) else 1) :]
        )
    error = {
        "message": message,
        "type": error_type(status),
        "param": param,
        "code": _CODES.get(code, code.lower()),
    }
    return orjson.dumps({"error": error})


def on_surface(path: str) -> bool:
    """Whether ``path`` is one of the OpenAI-shaped routes (or under one)."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in SURFACE_PREFIXES)


class OpenAIErrorEnvelope:
    """Rewrites error bodies on the OpenAI-shaped routes; everything else passes untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not on_surface(scope["path"]):
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        chunks: list[bytes] = []

        async def rewriting_send(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                if message["status"] >= 400 and _is_json(message):
                    held = message  # sent with the rewritten body
                    return
            elif message["type"] == "http.response.body" and held is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = _rewritten(held["status"], b"".join(chunks))
                headers = [
                    (name, value) for name, value in held["headers"] if name != b"content-length"
                ]
                headers.append((b"content-length", str(len(body)).encode()))
                await send({**held, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, rewriting_send)


def _is_json(message: Message) -> bool:
    return any(
        name == b"content-type" and value.startswith(b"application/json")
        for name, value in message.get("headers", [])
    )


def _rewritten(status: int, body: bytes) -> bytes:
    try:
        ours = orjson.loads(body)
    except orjson.JSONDecodeError:
        ours = None
    if not isinstance(ours, dict) or not isinstance(ours.get("message"), str):
        return openai_error_body(status, "error", "the request could not be completed")
    code = ours.get("error")
    return openai_error_body(status, code if isinstance(code, str) else "error", ours["message"])
