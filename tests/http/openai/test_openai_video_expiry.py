"""The Video object's ``expires_at``: null while the account's plan keeps videos until they are
deleted; with retention set, the end of it (Unix seconds after completion); once purged, the
moment ``/v1/status`` names as ``videos_expired_at``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from grokimagine.domain.clock import utcnow
from grokimagine.domain.tasks import retention
from grokimagine.services import Services
from grokimagine.storage.schema import tasks
from tests.helpers.admin import keep_videos_for
from tests.helpers.customers import Customer, make_worker

DAY = 86_400


async def _video(client: httpx.AsyncClient, customer: Customer, video_id: str) -> dict:
    answer = await client.get(f"/v1/videos/{video_id}", headers=customer.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.both_databases
async def test_expires_at_follows_the_plans_retention(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    auth = customer.headers
    made = await client.post("/v1/videos", json={"prompt": "a kite"}, headers=auth)
    video_id = made.json()["id"]
    assert made.json()["expires_at"] is None  # queued: nothing to expire yet
    assert await make_worker(services).run_once()
    done = await _video(client, customer, video_id)
    assert done["status"] == "completed"
    assert done["expires_at"] is None  # no retention: kept until deleted

    await keep_videos_for(services, {"free": 3, "pro": 1})
    assert (await _video(client, customer, video_id))["expires_at"] == (
        done["completed_at"] + 3 * DAY
    )
    await keep_videos_for(services, {"default": 5, "pro": 1})  # the free plan falls under "default"
    kept = await _video(client, customer, video_id)
    assert kept["expires_at"] == done["completed_at"] + 5 * DAY
    listed = (await client.get("/v1/videos", headers=auth)).json()["data"]
    assert [video["expires_at"] for video in listed] == [kept["expires_at"]]

    # Completed six days ago: the next purge deletes its files, and both shapes name that moment.
    async with services.db.write() as conn:
        await conn.execute(
            update(tasks)
            .where(tasks.c.id == video_id)
            .values(completed_at=utcnow() - timedelta(days=6))
        )
    report = await retention.purge_expired_files(
        services.db, services.store, services.retention_days, owner="test"
    )
    assert report.expired == [video_id]
    status = await client.get("/v1/status", params={"task_id": video_id}, headers=auth)
    purged_at = datetime.fromisoformat(status.json()["data"]["videos_expired_at"])
    assert (await _video(client, customer, video_id))["expires_at"] == int(
        purged_at.astimezone(UTC).timestamp()
    )


async def test_a_failed_or_unfinished_video_never_expires(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    await keep_videos_for(services, {"default": 1})
    auth = customer.headers
    made = await client.post("/v1/videos", json={"prompt": "later"}, headers=auth)
    video_id = made.json()["id"]
    assert made.json()["status"] == "queued" and made.json()["expires_at"] is None
    canceled = await client.post(f"/v1/tasks/{video_id}/cancel", headers=auth)
    assert canceled.status_code == 200, canceled.text
    gone = await _video(client, customer, video_id)
    assert (gone["status"], gone["expires_at"]) == ("failed", None)
