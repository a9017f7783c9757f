"""Retention in the console: once the purge has removed a task's videos, its page says they
expired and offers nothing to play or download; the old links answer 410, never a broken player
or a 404 that reads as a bug."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from sqlalchemy import update

from grokimagine.domain.clock import utcnow
from grokimagine.domain.tasks import retention
from grokimagine.services import Services
from grokimagine.storage.schema import tasks
from tests.helpers.admin import keep_videos_for
from tests.helpers.console import make_user, sign_in
from tests.helpers.customers import BASE_URL, make_worker

PLAYER = re.compile(r'<video [^>]*\bsrc="([^"]+)"')
DOWNLOAD = re.compile(r'href="(/console/tasks/[^"]+/download/0)"')


async def test_the_task_page_says_the_videos_expired_and_old_links_answer_410(
    services: Services, browser_like
) -> None:
    who = await make_user(services, credits=400)
    http = browser_like()
    csrf = await sign_in(http, who)
    made = await http.post(
        "/console/api/generate", json={"prompt": "kept a day"}, headers={"X-CSRF-Token": csrf}
    )
    task_id = made.json()["data"]["task_id"]
    await make_worker(services).run_once()
    before = await http.get(f"/console/tasks/{task_id}")
    player_url = html.unescape(PLAYER.search(before.text)[1]).removeprefix(BASE_URL)
    download_url = DOWNLOAD.search(before.text)[1]
    assert (await http.get(download_url)).status_code == 200
    assert (await http.get(player_url)).status_code == 200

    await keep_videos_for(services, {"free": 1})
    async with services.db.write() as conn:
        await conn.execute(
            update(tasks).where(tasks.c.id == task_id).values(completed_at=utcnow() - timedelta(2))
        )
    report = await retention.purge_expired_files(
        services.db, services.store, services.retention_days, owner="test"
    )
    assert report.expired == [task_id]

    page = await http.get(f"/console/tasks/{task_id}")
    assert page.status_code == 200
    assert 'id="videos-expired"' in page.text and "The videos expired on" in page.text
    assert "The task and its charge stay." in page.text
    assert "<video" not in page.text and "/download/" not in page.text
    assert 'id="extend-edit"' not in page.text  # nothing left to extend or edit
    downloaded = await http.get(download_url)
    assert downloaded.status_code == 410
    assert "<h1>Expired</h1>" in downloaded.text and "This video expired" in downloaded.text
    played = await http.get(player_url)
    assert played.status_code == 410 and played.json()["error"] == "VIDEO_EXPIRED"
