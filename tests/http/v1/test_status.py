"""GET /v1/status: the task's life as a client polling it sees it."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import httpx

from grokimagine.services import Services
from tests.helpers.api import SEED_BODY, FailingEngine, balance_of, status_of, submit
from tests.helpers.customers import Customer, make_customer, make_worker


async def test_a_task_goes_from_pending_to_completed_with_video_urls(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    task_id = await submit(client, customer)
    pending = await status_of(client, customer, task_id)
    assert pending["status"] == "pending"
    assert pending["response"] == []
    assert pending["consumed_credits"] == 40
    assert pending["task_id"] == task_id
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", pending["created_at"])
    assert pending["request"] == SEED_BODY

    assert await make_worker(services).run_once()

    done = await status_of(client, customer, task_id)
    assert done["status"] == "completed"
    assert done["consumed_credits"] == 40
    assert done["progress"] == 100
    assert done["error"] is None
    assert len(done["response"]) == 1
    url = urlparse(done["response"][0])
    assert url.scheme == "http" and url.netloc == "testserver"
    assert url.path == f"/files/videos/{task_id}/0.mp4"
    assert {"expires", "signature"} <= set(parse_qs(url.query))


async def test_each_status_call_signs_the_urls_afresh(
    client: httpx.AsyncClient, services: Services, customer: Customer, monkeypatch
) -> None:
    task_id = await submit(client, customer)
    await make_worker(services).run_once()
    first = (await status_of(client, customer, task_id))["response"][0]
    import time

    later = time.time() + 600
    monkeypatch.setattr(time, "time", lambda: later)
    second = (await status_of(client, customer, task_id))["response"][0]
    expires = [int(parse_qs(urlparse(url).query)["expires"][0]) for url in (first, second)]
    assert expires[1] - expires[0] >= 599
    assert int(later) + services.settings.url_ttl_seconds == expires[1]


async def test_another_account_cannot_see_a_task(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    task_id = await submit(client, customer)
    stranger = await make_customer(services)
    response = await client.get("/v1/status", params={"task_id": task_id}, headers=stranger.headers)
    assert response.status_code == 404
    assert response.json() == {"code": 404, "message": "Task not found", "error": "TASK_NOT_FOUND"}


async def test_unknown_and_missing_task_ids(client: httpx.AsyncClient, customer: Customer) -> None:
    unknown = await client.get(
        "/v1/status", params={"task_id": "task_nope"}, headers=customer.headers
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "TASK_NOT_FOUND"
    missing = await client.get("/v1/status", headers=customer.headers)
    assert missing.status_code == 400
    assert missing.json() == {
        "code": 400,
        "message": "Invalid request: The task_id parameter is required",
        "error": "INVALID_REQUEST",
    }


async def test_a_failed_task_is_refunded_in_full(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    task_id = await submit(client, customer)
    assert await balance_of(services, customer.account_id) == 360
    await make_worker(services, FailingEngine()).run_once()
    failed = await status_of(client, customer, task_id)
    assert failed["status"] == "failed"
    assert failed["consumed_credits"] == 0
    assert failed["response"] == []
    assert failed["error"] == {"code": "ENGINE_FAILED", "message": "the model ran out of memory"}
    assert await balance_of(services, customer.account_id) == 400


async def test_status_tells_the_queue_position_while_pending_and_the_url_expiry_when_done(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    first = await submit(client, customer)
    second = await submit(client, customer)
    assert (await status_of(client, customer, first))["queue_position"] == 0
    waiting = await status_of(client, customer, second)
    assert (waiting["queue_position"], waiting["expires_at"]) == (1, None)

    assert await make_worker(services).run_once()
    done = await status_of(client, customer, first)
    assert done["queue_position"] is None
    expires = int(parse_qs(urlparse(done["response"][0]).query)["expires"][0])
    from datetime import datetime

    stated = datetime.fromisoformat(done["expires_at"].replace("Z", "+00:00")).timestamp()
    assert abs(stated - expires) <= 1
    assert (await status_of(client, customer, second))["queue_position"] == 0
