"""A video made through the OpenAI shape (/v1/videos) shows in the console like any task: in
the history, on its own page, with the size its model made."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from grokimagine.domain.accounts import accounts
from grokimagine.services import Services
from tests.helpers.console import make_user, sign_in


async def test_a_video_of_the_openai_shape_is_a_console_task(
    services: Services, browser_like: Callable[[], httpx.AsyncClient]
) -> None:
    who = await make_user(services, credits=400)
    key = await accounts.create_key(services.db, who.account_id)
    api = browser_like()
    made = await api.post(
        "/v1/videos",
        data={"prompt": "a kite made in the openai shape", "size": "1280x720", "seconds": "2"},
        headers={"Authorization": f"Bearer {key.token}"},
    )
    assert made.status_code == 200, made.text
    video_id = made.json()["id"]

    http = browser_like()
    await sign_in(http, who)
    history = await http.get("/console/history")
    assert video_id in history.text
    page = await http.get(f"/console/tasks/{video_id}")
    assert page.status_code == 200
    assert "a kite made in the openai shape" in page.text
    assert "<dd>1280×720, 2 s at 24 fps</dd>" in page.text
