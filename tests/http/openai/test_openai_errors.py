"""Bad input on /v1/videos gets a clear 4xx in OpenAI's envelope, which the official SDK turns
into its own exception classes; nothing is charged. Other routes keep the GrokImagine body."""

from __future__ import annotations

import base64
import functools
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from PIL import Image

from grokimagine.domain.accounts import accounts
from grokimagine.services import Services
from tests.helpers.live_server import LiveServer, live_server
from tests.helpers.openai_sdk import openai_settings, sdk

# Generous: the machine running the tests may be busy; nothing here waits on a deadline.
http_get = functools.partial(httpx.get, timeout=60)
http_post = functools.partial(httpx.post, timeout=60)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # OpenAI's Sora notice


def balance(server: LiveServer, token: str | None = None) -> int:
    answer = http_get(
        f"{server.url}/v1/account", headers={"Authorization": f"Bearer {token or server.token}"}
    )
    return int(answer.json()["data"]["balance"])


def refused(call: Callable[[], Any], kind: type[openai.APIStatusError]) -> openai.APIStatusError:
    """The SDK's exception for ``call``, checked to be exactly ``kind`` and well formed."""
    with pytest.raises(openai.APIStatusError) as caught:
        call()
    error = caught.value
    assert type(error) is kind, (type(error), error.status_code, error.body)
    body = error.response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert error.message and error.code
    return error


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.both_databases
def test_bad_input_is_a_clear_400_and_free(idle_server: LiveServer) -> None:
    before = balance(idle_server)
    with sdk(idle_server) as client:
        error = refused(
            lambda: client.videos.create(prompt="x", model="sora-2"), openai.BadRequestError
        )
        assert error.param == "model" and "grokimagine-video, preview-fast" in error.message

        error = refused(
            lambda: client.videos.create(prompt="x", size="1792x1024"), openai.BadRequestError
        )
        assert error.param == "size" and "1280x720" in error.message and "720x1280" in error.message

        error = refused(
            lambda: client.videos.create(prompt="x", seconds="12"), openai.BadRequestError
        )
        assert error.param == "seconds" and "offered are 1, 2" in error.message

        error = refused(
            lambda: client.videos.create(prompt="x", seconds="four"), openai.BadRequestError
        )
        assert error.param == "seconds"

        error = refused(lambda: client.videos.create(prompt="  "), openai.BadRequestError)
        assert error.param == "prompt" and error.type == "invalid_request_error"

        not_an_image = ("notes.txt", b"just some words", "text/plain")
        error = refused(
            lambda: client.videos.create(prompt="x", input_reference=not_an_image),
            openai.BadRequestError,
        )
        assert error.param == "input_reference"

        # A private address as the reference (the SDK sends the object as form fields).
        private = {"input_reference": {"image_url": "http://127.0.0.1:9/secret.png"}}
        error = refused(
            lambda: client.videos.create(prompt="x", extra_body=private), openai.BadRequestError
        )
        assert error.param == "input_reference"
        private_video = {"video": "http://10.0.0.1/clip.mp4"}
        refused(
            lambda: client.videos.edit(prompt="x", video=openai.omit, extra_body=private_video),
            openai.BadRequestError,
        )

        error = refused(
            lambda: client.videos.download_content("task_nope", variant="spritesheet"),
            openai.NotFoundError,
        )
        queued = client.videos.create(prompt="waits", seconds="1")
        assert queued.status == "queued"
        error = refused(lambda: client.videos.download_content(queued.id), openai.NotFoundError)
        assert "not completed" in error.message and error.code == "asset_not_found"
        error = refused(lambda: client.videos.list(order="sideways"), openai.BadRequestError)
        assert error.param == "order"
        client.videos.delete(queued.id)  # refunded at once: pending
    assert balance(idle_server) == before


def test_oversized_uploads_are_413(idle_server: LiveServer) -> None:
    before = balance(idle_server)
    with sdk(idle_server) as client:
        huge = ("big.png", b"\x89PNG" + b"\x00" * (50 * 1024 * 1024), "image/png")
        error = refused(
            lambda: client.videos.create(prompt="x", input_reference=huge), openai.APIStatusError
        )
        assert error.status_code == 413
        # Under the body cap but over the image cap (8 MiB by default).
        large = ("large.png", png_bytes() + b"\x00" * (9 * 1024 * 1024), "image/png")
        error = refused(
            lambda: client.videos.create(prompt="x", input_reference=large), openai.APIStatusError
        )
        assert error.status_code == 413 and error.param == "input_reference"
        video = ("big.mp4", b"\x00" * (33 * 1024 * 1024), "video/mp4")  # over 32 MiB
        error = refused(
            lambda: client.videos.extend(prompt="x", seconds="1", video=video),
            openai.APIStatusError,
        )
        assert (error.status_code, error.param) == (413, "video")
    assert balance(idle_server) == before


def test_payment_permission_and_auth_errors(idle_server: LiveServer) -> None:
    async def poor(services: Services) -> str:
        account = await accounts.create_account(services.db, plan="pro", credits_granted=5)
        return (await accounts.create_key(services.db, account.id)).token

    token = str(idle_server.call(poor))
    with sdk(idle_server, token) as client:
        error = refused(lambda: client.videos.create(prompt="x"), openai.APIStatusError)
        assert (error.status_code, error.code, error.type) == (
            402,
            "insufficient_credits",
            "insufficient_quota",
        )
        spicy = {"mode": "spicy"}
        error = refused(
            lambda: client.videos.create(prompt="x", extra_body=spicy),
            openai.PermissionDeniedError,
        )
        assert error.code == "mode_not_allowed"
    assert balance(idle_server, token) == 5
    with sdk(idle_server, "gi_live_unknown") as client:
        refused(lambda: client.videos.create(prompt="x"), openai.AuthenticationError)
    anonymous = http_get(f"{idle_server.url}/v1/models")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["type"] == "authentication_error"


def test_rate_limits_and_server_errors(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = openai_settings(
        database_url, tmp_path, plans={"pro": {"max_active_tasks": 1, "requests_per_minute": 3}}
    )
    with live_server(settings, worker=False) as server, sdk(server) as client:
        client.videos.create(prompt="first", seconds="1")
        error = refused(
            lambda: client.videos.create(prompt="second", seconds="1"), openai.RateLimitError
        )
        assert error.code == "too_many_active_tasks"

        from grokimagine.http.openai import videos as routes

        def broken(*_: object) -> None:
            raise RuntimeError("boom")

        monkeypatch.setattr(routes, "describe_models", broken)
        error = refused(lambda: client.models.list(), openai.InternalServerError)
        assert error.type == "server_error" and "boom" not in error.message

        error = refused(lambda: client.models.list(), openai.RateLimitError)
        assert error.code == "rate_limited"  # the plan's 3 requests a minute are used up


def test_json_bodies_and_other_envelopes(idle_server: LiveServer) -> None:
    auth = {"Authorization": f"Bearer {idle_server.token}"}
    image = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
    made = http_post(
        f"{idle_server.url}/v1/videos",
        headers=auth,
        json={
            "prompt": "json",
            "size": "720x1280",
            "seconds": 2,
            "input_reference": {"image_url": image},
            "mode": "fun",
        },
    )
    assert made.status_code == 200, made.text
    video = made.json()
    assert (video["object"], video["size"], video["seconds"], video["status"]) == (
        "video",
        "720x1280",
        "2",
        "queued",
    )
    status = http_get(f"{idle_server.url}/v1/status", headers=auth, params={"task_id": video["id"]})
    assert status.json()["data"]["request"]["mode"] == "fun"

    # The GrokImagine shape keeps its own error body; the OpenAI shape gets OpenAI's.
    ours = http_get(f"{idle_server.url}/v1/tasks/task_unknown", headers=auth)
    assert ours.json() == {"code": 404, "message": "Task not found", "error": "TASK_NOT_FOUND"}
    theirs = http_get(f"{idle_server.url}/v1/videos/task_unknown", headers=auth)
    assert theirs.status_code == 404
    assert theirs.json()["error"]["code"] == "video_not_found"
    bad_json = http_post(f"{idle_server.url}/v1/videos", headers=auth, content=b"{nope")
    assert (
        bad_json.status_code == 400 and bad_json.json()["error"]["type"] == "invalid_request_error"
    )
    wide = http_post(
        f"{idle_server.url}/v1/generate", headers=auth, json={"prompt": "x", "ratio": "16:9"}
    )
    assert wide.status_code == 400  # /v1/generate keeps the reference page's three ratios


def test_a_model_naming_an_unknown_engine_stops_the_start(tmp_path: Path) -> None:
    from grokimagine.domain.operator.business_settings import check_business_settings
    from grokimagine.settings import Settings

    settings = Settings(data_dir=tmp_path, openai_api_models={"typo": ["previwe"]})
    with pytest.raises(ValueError, match="GROKIMAGINE_OPENAI_API_MODELS: model 'typo'"):
        check_business_settings(settings)


def test_unstorable_text_is_a_400_on_both_databases(idle_server: LiveServer) -> None:
    auth = {"Authorization": f"Bearer {idle_server.token}"}
    for body in (
        {"prompt": "a lone \ud800 surrogate"},
        {"prompt": "a NUL \x00 inside"},
        {"prompt": "x", "input_reference": {"image_url": "https://example.com/\ud800.png"}},
    ):
        answer = http_post(
            f"{idle_server.url}/v1/videos",
            headers={**auth, "Content-Type": "application/json"},
            content=json.dumps(body).encode(),  # escapes the surrogate and the NUL
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["type"] == "invalid_request_error"
    edit = {"prompt": "x", "video": "https://example.com/\x00.mp4"}
    answer = http_post(
        f"{idle_server.url}/v1/videos/edits",
        headers={**auth, "Content-Type": "application/json"},
        content=json.dumps(edit).encode(),
    )
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "video"
