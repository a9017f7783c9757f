"""Defects of issue 25 that a page shows: an extended task's duration, the live progress on the
task watcher, and no form that posts again on reload."""

from __future__ import annotations

import re
from pathlib import Path

from grokimagine.domain.accounts import accounts
from grokimagine.domain.tasks.records import find_task
from grokimagine.services import Services
from tests.helpers.console import make_user, sign_in
from tests.helpers.customers import make_worker
from tests.helpers.mp4 import decode


async def test_an_extended_tasks_page_shows_the_length_of_its_file(
    services: Services, browser_like, tmp_path: Path
):
    who = await make_user(services, credits=400)
    http = browser_like()
    csrf = await sign_in(http, who)
    made = await http.post(
        "/console/api/generate",
        json={"prompt": "a quiet street", "duration": 2},
        headers={"X-CSRF-Token": csrf},
    )
    source_id = made.json()["data"]["task_id"]
    assert await make_worker(services).run_once()
    extended = await http.post(
        f"/console/tasks/{source_id}/extend",
        data={"prompt": "then it snows", "duration": "6", "csrf_token": csrf},
    )
    assert extended.status_code == 303, extended.text
    assert await make_worker(services).run_once()
    page = await http.get(extended.headers["location"])
    # The file is the 2 s source and the 6 s added: 8 s, not the 6 s rendered.
    record = await find_task(
        services.db, page.url.path.rsplit("/", 1)[1], account_id=who.account_id
    )
    assert record is not None and record.status == "completed"
    video = tmp_path / "extended.mp4"
    video.write_bytes(services.store.get_bytes(record.videos[0]))
    decoded = decode(video)
    seconds = len(decoded.frames) / decoded.fps
    assert abs(seconds - 8) < 0.5, seconds
    assert re.search(r"\b8 s at \d+ fps \(extended by 6 s\)", page.text), page.text
    source_page = await http.get(f"/console/tasks/{source_id}")
    assert re.search(r"\b2 s at \d+ fps</dd>", source_page.text)


async def test_the_consoles_live_progress_is_a_stream_of_the_task_watcher(
    services: Services, app, browser_like, monkeypatch
):
    who = await make_user(services)
    http = browser_like()
    csrf = await sign_in(http, who)
    made = await http.post(
        "/console/api/generate", json={"prompt": "watch me"}, headers={"X-CSRF-Token": csrf}
    )
    task_id = made.json()["data"]["task_id"]
    watcher = app.state.task_watcher
    subscribed: list[str] = []
    subscribe = watcher.subscribe

    def spy(watched_id: str):
        subscribed.append(watched_id)
        return subscribe(watched_id)

    monkeypatch.setattr(watcher, "subscribe", spy)
    assert await make_worker(services).run_once()
    # (httpx's ASGI transport hands the body over once the stream ends: the task is done.)
    async with http.stream("GET", f"/console/api/tasks/{task_id}/events") as stream:
        text = "".join([chunk async for chunk in stream.aiter_text()])
    # The page's one stream is a subscriber of the app's watcher, which reads the changes for
    # every stream at once; the console no longer polls the database on its own.
    assert subscribed == [task_id]
    assert watcher.watched == 0  # and the subscription ended with the stream
    assert "event: task" in text and '"status":"completed"' in text
    assert '"progress":100' in text and f'"task_id":"{task_id}"' in text


async def test_another_accounts_task_has_no_stream(services: Services, browser_like):
    owner, stranger = await make_user(services), await make_user(services)
    owner_http, stranger_http = browser_like(), browser_like()
    csrf = await sign_in(owner_http, owner)
    await sign_in(stranger_http, stranger)
    made = await owner_http.post(
        "/console/api/generate", json={"prompt": "mine"}, headers={"X-CSRF-Token": csrf}
    )
    task_id = made.json()["data"]["task_id"]
    answer = await stranger_http.get(f"/console/api/tasks/{task_id}/events")
    assert answer.status_code == 404 and answer.json()["error"] == "TASK_NOT_FOUND"


async def test_reloading_after_create_key_makes_no_second_key(services: Services, browser_like):
    who = await make_user(services)
    http = browser_like()
    csrf = await sign_in(http, who)
    created = await http.post(
        "/console/keys", data={"name": "laptop", "kind": "live", "csrf_token": csrf}
    )
    assert created.status_code == 303
    # What a browser's reload repeats is the GET it was redirected to.
    for _ in range(2):
        assert (await http.get(created.headers["location"])).status_code == 200
    assert [key.name for key in await accounts.list_keys(services.db, who.account_id)] == ["laptop"]
