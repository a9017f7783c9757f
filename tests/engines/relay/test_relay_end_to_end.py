"""The xai engine behind the real API and worker: the client never knows a relay served it.

A task submitted over /v1/generate is served by the fake xAI; the video is then fetched from
our own storage through our signed URL, after xAI's URL has expired. A failed relay fails the
task with the relay's error code and refunds the credits.
"""

from __future__ import annotations

import httpx
from sqlalchemy import select

from grokimagine.engines.relay.errors import (
    CONTENT_REJECTED,
    PROVIDER_TIMEOUT,
    PROVIDER_UNAVAILABLE,
)
from grokimagine.engines.relay.xai import XaiEngine
from grokimagine.services import Services
from grokimagine.storage.schema import tasks
from tests.helpers.api import balance_of, status_of, submit
from tests.helpers.customers import Customer, make_worker

from .fake_xai import FakeXai, XaiScenario


async def test_a_relayed_video_is_served_from_our_storage(
    client: httpx.AsyncClient, services: Services, customer: Customer, xai: FakeXai, xai_settings
) -> None:
    xai.reset(XaiScenario(polls_before_done=2, url_ttl=0.5))
    task_id = await submit(client, customer)

    assert await make_worker(services, XaiEngine(xai_settings())).run_once()

    done = await status_of(client, customer, task_id)
    assert done["status"] == "completed"
    assert done["consumed_credits"] == 40
    assert xai.bodies[0]["aspect_ratio"] == "1:1"
    job = next(iter(xai.jobs.values()))
    assert job.downloaded  # xAI's single-use URL is spent: what follows comes from us
    video = await client.get(done["response"][0])
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    assert video.content == xai.mp4


async def test_a_refused_relay_fails_the_task_and_refunds_it(
    client: httpx.AsyncClient, services: Services, customer: Customer, xai: FakeXai, xai_settings
) -> None:
    xai.reset(XaiScenario(outcome="moderated"))
    before = await balance_of(services, customer.account_id)
    task_id = await submit(client, customer)

    assert await make_worker(services, XaiEngine(xai_settings())).run_once()

    failed = await status_of(client, customer, task_id)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == CONTENT_REJECTED
    assert failed["consumed_credits"] == 0
    assert await balance_of(services, customer.account_id) == before


async def test_a_provider_outage_fails_the_task_and_refunds_it(
    client: httpx.AsyncClient, services: Services, customer: Customer, xai: FakeXai, xai_settings
) -> None:
    xai.reset(XaiScenario(create_status=503))
    before = await balance_of(services, customer.account_id)
    task_id = await submit(client, customer)

    assert await make_worker(services, XaiEngine(xai_settings(relay_retries=2))).run_once()

    failed = await status_of(client, customer, task_id)
    assert (failed["status"], failed["error"]["code"]) == ("failed", PROVIDER_UNAVAILABLE)
    assert failed["consumed_credits"] == 0
    assert await balance_of(services, customer.account_id) == before


async def task_row(services: Services, task_id: str):
    async with services.db.read() as conn:
        return (await conn.execute(select(tasks).where(tasks.c.id == task_id))).one()


async def test_empty_202_polls_and_unknown_statuses_lead_to_a_completed_task(
    client: httpx.AsyncClient, services: Services, customer: Customer, xai: FakeXai, xai_settings
) -> None:
    xai.reset(
        XaiScenario(empty_202_polls=2, text_202_polls=1, odd_statuses=("queued", "rendering"))
    )
    task_id = await submit(client, customer)

    assert await make_worker(services, XaiEngine(xai_settings())).run_once()

    done = await status_of(client, customer, task_id)
    assert done["status"] == "completed" and done["consumed_credits"] == 40
    row = await task_row(services, task_id)
    job_id = next(iter(xai.jobs))
    # The operator sees the job and its cost on the task; the customer's status does not.
    assert (row.provider_job_id, row.provider_cost_usd) == (job_id, 0.5)
    # make_worker serves the engine under the default route's name, "preview".
    assert row.provider_jobs == [
        {
            "video": 0,
            "engine": "preview",
            "job_id": job_id,
            "state": "done",
            "cost_usd": 0.5,
            "stored_key": f"videos/{task_id}/0.mp4",  # stored the moment it was fetched
        }
    ]
    assert "cost" not in str(done) and job_id not in str(done)


async def test_a_timed_out_relay_keeps_its_job_id_and_refunds_the_task(
    client: httpx.AsyncClient, services: Services, customer: Customer, xai: FakeXai, xai_settings
) -> None:
    xai.reset(XaiScenario(outcome="never"))
    before = await balance_of(services, customer.account_id)
    task_id = await submit(client, customer)

    engine = XaiEngine(xai_settings(relay_timeout=0.5))
    worker = make_worker(services, engine)
    assert await worker.run_once()

    failed = await status_of(client, customer, task_id)
    assert (failed["status"], failed["error"]["code"]) == ("failed", PROVIDER_TIMEOUT)
    assert failed["consumed_credits"] == 0
    assert await balance_of(services, customer.account_id) == before
    row = await task_row(services, task_id)
    job_id = next(iter(xai.jobs))
    assert row.provider_job_id == job_id  # kept, so a late result can be looked up
    assert [job["state"] for job in row.provider_jobs] == ["timed_out"]

    # A late result: the job finishes at xAI after we stopped waiting. A worker's look at it
    # records its state and what xAI billed; the task stays failed and refunded.
    assert await worker.check_late_results() == 0  # still running at xAI
    assert [job["state"] for job in (await task_row(services, task_id)).provider_jobs] == [
        "timed_out"
    ]
    xai.scenario.outcome = "done"
    assert await worker.check_late_results() == 1
    late = await task_row(services, task_id)
    assert [job["state"] for job in late.provider_jobs] == ["late_done"]
    assert late.provider_cost_usd == 0.5
    assert await worker.check_late_results() == 0  # looked at once it has an outcome
    still = await status_of(client, customer, task_id)
    assert (still["status"], still["consumed_credits"]) == ("failed", 0)
    assert await balance_of(services, customer.account_id) == before
    assert not xai.jobs[job_id].downloaded  # a late video is never delivered
