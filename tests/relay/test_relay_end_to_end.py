"""The xai engine behind the real API and worker: the client never knows a relay served it.

A task submitted over /v1/generate is served by the fake xAI; the video is then fetched from
our own storage through our signed URL, after xAI's URL has expired. A failed relay fails the
task with the relay's error code and refunds the credits.
"""

from __future__ import annotations

import httpx

from grokimagine.engines.relay.errors import CONTENT_REJECTED, PROVIDER_UNAVAILABLE
from grokimagine.engines.relay.xai import XaiEngine
from grokimagine.services import Services
from tests.conftest import Customer, make_worker
from tests.test_generate import balance_of
from tests.test_status import status_of, submit

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
