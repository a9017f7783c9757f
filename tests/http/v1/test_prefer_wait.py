"""``Prefer: wait=N`` on generate: the finished task if it finishes in time, else the usual answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from grokimagine.services import Services
from tests.helpers.customers import Customer, make_worker

QUICK = {"prompt": "p", "duration": 1}


@pytest.fixture
async def running_worker(services: Services) -> AsyncIterator[None]:
    """An in-process worker, woken by each new task, as ``grokimagine serve`` runs one."""
    worker = make_worker(services)
    services.task_created_listeners.append(worker.wake)
    task = asyncio.create_task(worker.run())
    yield
    worker.stop()
    await asyncio.wait_for(task, 10)


async def test_a_task_that_finishes_in_time_comes_back_finished(
    client: httpx.AsyncClient, customer: Customer, running_worker: None
) -> None:
    response = await client.post(
        "/v1/generate", json=QUICK, headers={**customer.headers, "Prefer": "wait=30"}
    )
    assert response.status_code == 200
    assert response.headers["preference-applied"] == "wait=30"
    data = response.json()["data"]
    assert data["status"] == "completed" and len(data["response"]) == 1
    assert data["task_id"].startswith("task_") and data["expires_at"]


async def test_a_wait_over_60_seconds_is_cut_to_60_and_other_preferences_are_ignored(
    client: httpx.AsyncClient, customer: Customer, running_worker: None
) -> None:
    response = await client.post(
        "/v1/generate",
        json=QUICK,
        headers={**customer.headers, "Prefer": "respond-async, wait=600; foo=bar"},
    )
    assert response.headers["preference-applied"] == "wait=60"
    assert response.json()["data"]["status"] == "completed"


async def test_a_task_still_running_at_the_deadline_gets_the_usual_answer(
    client: httpx.AsyncClient, customer: Customer
) -> None:
    response = await client.post(
        "/v1/generate", json=QUICK, headers={**customer.headers, "Prefer": "wait=1"}
    )
    assert response.status_code == 200
    assert response.headers["preference-applied"] == "wait=1"
    assert set(response.json()["data"]) == {"task_id"}


@pytest.mark.parametrize("prefer", ["wait=soon", "wait=-1", "return=minimal", ""])
async def test_other_prefer_values_change_nothing(
    client: httpx.AsyncClient, customer: Customer, prefer: str
) -> None:
    response = await client.post(
        "/v1/generate", json=QUICK, headers={**customer.headers, "Prefer": prefer}
    )
    assert response.status_code == 200
    assert "preference-applied" not in response.headers
    assert set(response.json()["data"]) == {"task_id"}


async def test_a_replayed_request_waits_for_the_original_task(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    headers = {**customer.headers, "Idempotency-Key": "wait-and-retry"}
    first = await client.post("/v1/generate", json=QUICK, headers=headers)
    task_id = first.json()["data"]["task_id"]
    assert await make_worker(services).run_once()
    retry = await client.post("/v1/generate", json=QUICK, headers={**headers, "Prefer": "wait=5"})
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["data"]["task_id"] == task_id
    assert retry.json()["data"]["status"] == "completed"
