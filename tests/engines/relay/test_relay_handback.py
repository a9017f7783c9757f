"""A relay task handed back by a stopping worker (SIGTERM) resumes its provider job elsewhere."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select

from grokimagine.domain.tasks.provider_jobs import resumable_jobs
from grokimagine.domain.tasks.records import TaskRecord
from grokimagine.engines.relay.xai import XaiEngine
from grokimagine.services import Services
from grokimagine.storage.schema import ledger, tasks
from tests.helpers.api import status_of, submit
from tests.helpers.customers import Customer, make_worker
from tests.helpers.workers import wait_until

from .fake_xai import FakeXai, XaiScenario


async def task_row(services: Services, task_id: str):
    async with services.db.read() as conn:
        return (await conn.execute(select(tasks).where(tasks.c.id == task_id))).one()


async def test_a_handed_back_relay_task_resumes_its_job_on_the_next_worker(
    client: httpx.AsyncClient, services: Services, customer: Customer, xai: FakeXai, xai_settings
) -> None:
    xai.reset(XaiScenario(job_seconds=1.5))
    services.settings.lease_seconds = 0.4
    task_id = await submit(client, customer)
    engine = XaiEngine(xai_settings())
    first = make_worker(services, engine)
    running = asyncio.create_task(first.run())

    async def job_stored() -> bool:
        return (await task_row(services, task_id)).provider_job_id is not None

    await wait_until(job_stored)
    first.stop()  # what SIGTERM does
    await asyncio.wait_for(running, 10)
    handed_back = await task_row(services, task_id)
    assert handed_back.status == "pending" and handed_back.attempts == 0
    assert [job["state"] for job in handed_back.provider_jobs] == ["running"]

    assert await make_worker(services, engine).run_once()
    done = await status_of(client, customer, task_id)
    assert done["status"] == "completed" and done["consumed_credits"] == 40
    assert xai.calls.count("create") == 1
    row = await task_row(services, task_id)
    assert row.provider_job_id == handed_back.provider_job_id
    async with services.db.read() as conn:
        reasons = (
            await conn.execute(select(ledger.c.reason).where(ledger.c.task_id == task_id))
        ).all()
    assert [reason for (reason,) in reasons] == ["reserve"]


def _record(jobs: list[dict]) -> TaskRecord:
    record = object.__new__(TaskRecord)
    object.__setattr__(record, "provider_jobs", jobs)
    return record


def test_resumable_jobs_are_the_latest_live_job_per_video_and_engine() -> None:
    jobs = [
        {"video": 0, "engine": "xai", "job_id": "a", "state": "gone"},
        {"video": 0, "engine": "xai", "job_id": "b", "state": "running"},
        {"video": 1, "engine": "xai", "job_id": "c", "state": "done"},
        {"video": 1, "engine": "openai-videos", "job_id": "d", "state": "failed"},
        {"video": 2, "engine": "xai", "job_id": "e", "state": "timed_out"},
    ]
    record = _record(jobs)
    assert resumable_jobs(record, 0) == {"xai": "b"}
    assert resumable_jobs(record, 1) == {"xai": "c"}
    assert resumable_jobs(record, 2) == {}
    assert resumable_jobs(record, 3) == {}


async def test_a_stopped_two_video_task_keeps_its_first_video_and_resumes_the_second(
    client: httpx.AsyncClient, services: Services, customer: Customer, xai: FakeXai, xai_settings
) -> None:
    # xAI's result URLs serve once: fetching video 0 again would fail the task.
    xai.reset(XaiScenario(job_seconds=0.8))
    services.settings.lease_seconds = 0.4
    response = await client.post(
        "/v1/generate", json={"prompt": "two foxes", "n": 2}, headers=customer.headers
    )
    assert response.status_code == 200, response.text
    task_id = response.json()["data"]["task_id"]
    engine = XaiEngine(xai_settings())
    first = make_worker(services, engine)
    running = asyncio.create_task(first.run())

    async def second_job_running() -> bool:
        jobs = (await task_row(services, task_id)).provider_jobs or []
        return any(job["video"] == 1 for job in jobs)

    await wait_until(second_job_running)
    first.stop()
    await asyncio.wait_for(running, 10)
    handed_back = await task_row(services, task_id)
    assert handed_back.status == "pending"
    states = {
        job["video"]: (job["state"], job.get("stored_key")) for job in handed_back.provider_jobs
    }
    assert states == {0: ("done", f"videos/{task_id}/0.mp4"), 1: ("running", None)}

    assert await make_worker(services, engine).run_once()
    done = await status_of(client, customer, task_id)
    assert done["status"] == "completed" and done["consumed_credits"] == 80
    assert len(done["response"]) == 2
    assert xai.calls.count("create") == 2  # one job per video, none twice
    for url in done["response"]:
        assert (await client.get(url)).content == xai.mp4
    row = await task_row(services, task_id)
    assert row.provider_cost_usd == 1.0


async def test_a_canceled_relay_tasks_job_cost_is_recorded_when_it_ends(
    client: httpx.AsyncClient, services: Services, customer: Customer, xai: FakeXai, xai_settings
) -> None:
    xai.reset(XaiScenario(outcome="never"))
    services.settings.lease_seconds = 0.4
    task_id = await submit(client, customer)
    worker = make_worker(services, XaiEngine(xai_settings()))
    running = asyncio.create_task(worker.run())
    try:

        async def job_stored() -> bool:
            return (await task_row(services, task_id)).provider_job_id is not None

        await wait_until(job_stored)
        canceled = await client.post(f"/v1/tasks/{task_id}/cancel", headers=customer.headers)
        assert canceled.status_code == 200

        async def task_canceled() -> bool:
            return (await task_row(services, task_id)).status == "canceled"

        await wait_until(task_canceled)
    finally:
        worker.stop()
        await asyncio.wait_for(running, 10)
    assert [job["state"] for job in (await task_row(services, task_id)).provider_jobs] == [
        "running"
    ]
    # xAI finishes the job anyway (it has no cancel call) and bills it: the operator sees it.
    xai.scenario.outcome = "done"
    assert await make_worker(services, XaiEngine(xai_settings())).check_late_results() == 1
    row = await task_row(services, task_id)
    assert [job["state"] for job in row.provider_jobs] == ["late_done"]
    assert (row.status, row.consumed_credits, row.provider_cost_usd) == ("canceled", 0, 0.5)
