"""The fakes refuse requests that stray from the documented wire format.

Without this, an engine test passing against a fake would prove little: these show that a
missing or unknown field, a wrong type or a wrong key is answered with the provider's error.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .fake_openai import FakeOpenAIVideos
from .fake_xai import FakeXai
from .helpers import OPENAI_KEY, XAI_KEY

GOOD_XAI: dict[str, Any] = {"model": "grok-imagine-video", "prompt": "a cat", "duration": 6}
GOOD_OPENAI: dict[str, Any] = {"model": "sora-2", "prompt": "a cat", "seconds": "4"}


def _xai_post(base: str, body: object, key: str | None = XAI_KEY) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{base}/v1/videos/generations", json=body, headers=headers)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (GOOD_XAI, 200),
        ({**GOOD_XAI, "seed": 1}, 422),
        ({"model": "grok-imagine-video"}, 422),
        ({**GOOD_XAI, "duration": "6"}, 422),
        ({**GOOD_XAI, "duration": 16}, 422),
        ({**GOOD_XAI, "aspect_ratio": "5:4"}, 422),
        ({**GOOD_XAI, "image": "data:image/png;base64,AAAA"}, 422),
        ({**GOOD_XAI, "image": {"url": "data:image/png;base64,not base64!"}}, 422),
        ({**GOOD_XAI, "image": {"url": "data:image/png;base64,iVBORw0K"}}, 200),
    ],
)
def test_xai_fake_validates_the_body(
    xai: FakeXai, xai_server: tuple[FakeXai, str], body: dict[str, Any], status: int
) -> None:
    response = _xai_post(xai_server[1], body)
    assert response.status_code == status
    if status != 200:
        assert set(response.json()) == {"code", "error"}


def test_xai_fake_checks_the_key_and_content_type(
    xai: FakeXai, xai_server: tuple[FakeXai, str]
) -> None:
    base = xai_server[1]
    assert _xai_post(base, GOOD_XAI, key=None).status_code == 401
    assert _xai_post(base, GOOD_XAI, key="wrong").status_code == 400
    plain = httpx.post(
        f"{base}/v1/videos/generations",
        content=b'{"prompt": "a cat"}',
        headers={"Authorization": f"Bearer {XAI_KEY}", "Content-Type": "text/plain"},
    )
    assert plain.status_code == 415
    assert (
        httpx.get(
            f"{base}/v1/videos/nope", headers={"Authorization": f"Bearer {XAI_KEY}"}
        ).status_code
        == 404
    )


def _openai_post(base: str, body: object, key: str | None = OPENAI_KEY) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{base}/v1/videos", json=body, headers=headers)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (GOOD_OPENAI, 200, None),
        ({**GOOD_OPENAI, "aspect_ratio": "16:9"}, 400, "unknown_parameter"),
        ({"seconds": "4"}, 400, "invalid_value"),
        ({**GOOD_OPENAI, "seconds": 4}, 400, "invalid_value"),
        ({**GOOD_OPENAI, "seconds": "6"}, 400, "invalid_value"),
        ({**GOOD_OPENAI, "size": "480x720"}, 400, "invalid_value"),
        ({**GOOD_OPENAI, "input_reference": {}}, 400, "invalid_value"),
        ({**GOOD_OPENAI, "input_reference": {"image_url": "data:image/png;base64,AA"}}, 200, None),
    ],
)
def test_openai_fake_validates_the_body(
    fake_openai: FakeOpenAIVideos,
    openai_server: tuple[FakeOpenAIVideos, str],
    body: dict[str, Any],
    status: int,
    code: str | None,
) -> None:
    response = _openai_post(openai_server[1], body)
    assert response.status_code == status
    if status == 200:
        assert response.json()["object"] == "video"
    else:
        assert response.json()["error"]["code"] == code


def test_openai_fake_checks_the_key(
    fake_openai: FakeOpenAIVideos, openai_server: tuple[FakeOpenAIVideos, str]
) -> None:
    base = openai_server[1]
    assert _openai_post(base, GOOD_OPENAI, key=None).status_code == 401
    wrong = _openai_post(base, GOOD_OPENAI, key="sk-wrong")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "invalid_api_key")
