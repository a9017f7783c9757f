"""The OpenAI error body our errors are rewritten into, and where the rewriting applies."""

from __future__ import annotations

import orjson
import pytest

from grokimagine.http.openai.errors import error_type, on_surface, openai_error_body


def rewritten(status: int, code: str, message: str) -> dict[str, object]:
    return orjson.loads(openai_error_body(status, code, message))["error"]


def test_the_param_is_named_as_the_openai_shape_names_it() -> None:
    error = rewritten(
        400,
        "INVALID_REQUEST",
        "Invalid request: The duration parameter is not valid: offered are 1, 2",
    )
    assert error == {
        "message": "Invalid request: The seconds parameter is not valid: offered are 1, 2",
        "type": "invalid_request_error",
        "param": "seconds",
        "code": "invalid_request",
    }
    image = rewritten(400, "INVALID_REQUEST", "Invalid request: images[0]: not an image")
    assert (image["param"], image["message"]) == (
        "input_reference",
        "Invalid request: input_reference: not an image",
    )
    nested = rewritten(
        400, "INVALID_REQUEST", "Invalid request: The video[id] parameter is required"
    )
    assert nested["param"] == "video[id]"
    plain = rewritten(404, "TASK_NOT_FOUND", "Task not found")
    assert (plain["param"], plain["code"], plain["type"]) == (
        None,
        "video_not_found",
        "invalid_request_error",
    )


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (402, "insufficient_quota"),
        (403, "permission_error"),
        (404, "invalid_request_error"),
        (409, "invalid_request_error"),
        (413, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "server_error"),
        (503, "server_error"),
    ],
)
def test_each_status_has_its_openai_type(status: int, kind: str) -> None:
    assert error_type(status) == kind


def test_only_the_openai_routes_are_rewritten() -> None:
    assert on_surface("/v1/videos") and on_surface("/v1/videos/task_x/content")
    assert on_surface("/v1/models")
    assert not on_surface("/v1/videosx") and not on_surface("/v1/generate")
    assert not on_surface("/v1/tasks/task_x") and not on_surface("/admin/v1/videos")
