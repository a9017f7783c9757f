"""One worker keeps a relay provider busy up to its cap, and no further."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select

from grokimagine.engines.relay.xai import XaiEngine
from grokimagine.services import Services
from grokimagine.storage.schema import tasks
from tests.helpers.api import status_of, submit
from tests.helpers.customers import Customer, make_worker
from tests.helpers.workers import wait_until

from .fake_xai import FakeXai, XaiScenario


async def test_a_worker_runs_relay_tasks_up_to_the_provider_cap(
    client: httpx.AsyncClient, services: Services, customer: Customer, xai: FakeXai, xai_settings
) -> None:
    xai.reset(XaiScenario(job_seconds=1.0))
    settings = xai_settings(relay_max_concurrency=3)
    # make_worker serves the engine under the default route's name; give it the relay's cap.
    services.settings.preview_concurrency = settings.relay.max_concurrency
    worker = make_worker(services, XaiEngine(settings))
    task_ids = [await submit(client, customer) for _ in range(6)]
    running = asyncio.create_task(worker.run())
    try:

        async def all_completed() -> bool:
            async with services.db.read() as conn:
                states = (
                    await conn.execute(select(tasks.c.status).where(tasks.c.id.in_(task_ids)))
                ).scalars()
                return list(states) == ["completed"] * 6

        await wait_until(all_completed, 30)
    finally:
        worker.stop()
        await asyncio.wait_for(running, 10)
    assert xai.calls.count("create") == 6
    assert xai.max_active == 3  # three jobs at once: the cap was reached, never passed
    for task_id in task_ids:
        done = await status_of(client, customer, task_id)
        assert done["consumed_credits"] == 40 and len(done["response"]) == 1
