"""GPU fleet engines behind the real API and worker: a node lost mid-job costs the customer
nothing extra, and a failed render is refunded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from grokimagine.engines.relay.errors import PROVIDER_FAILED
from grokimagine.engines.relay.fleet_engine import SglangEngine, VllmOmniEngine
from grokimagine.services import Services
from grokimagine.storage.schema import accounts, ledger, tasks
from tests.helpers.customers import Customer, make_worker

from .fake_sglang import FakeSglang, SglangScenario
from .fake_vllm_omni import FakeVllmOmni, VllmScenario
from .helpers import VLLM_KEY, fast_settings
from .tcp_proxy import RestartableNode

BODY = {"mode": "normal", "prompt": "a red fox running through snow", "ratio": "2:3"}
WAIT = 20.0


async def _submit(client: httpx.AsyncClient, customer: Customer) -> str:
    response = await client.post("/v1/generate", json=BODY, headers=customer.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]["task_id"]


async def _status(client: httpx.AsyncClient, customer: Customer, task_id: str) -> dict[str, Any]:
    response = await client.get("/v1/status", params={"task_id": task_id}, headers=customer.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def _ledger(services: Services, task_id: str) -> list[tuple[str, int]]:
    rows = await services.db.fetch_all(
        select(ledger.c.reason, ledger.c.delta)
        .where(ledger.c.task_id == task_id)
        .order_by(ledger.c.id)
    )
    return [(row.reason, row.delta) for row in rows]


async def _balance(services: Services, account_id: str) -> int:
    row = await services.db.fetch_one(select(accounts.c.balance).where(accounts.c.id == account_id))
    assert row is not None
    return int(row.balance)


@pytest.fixture
async def two_nodes(sample_mp4: bytes) -> AsyncIterator[list[RestartableNode]]:
    nodes = [RestartableNode(FakeSglang(sample_mp4)) for _ in range(2)]
    yield nodes
    for node in nodes:
        await asyncio.to_thread(node.close)


async def test_a_node_lost_mid_job_moves_it_once_and_the_customer_pays_once(
    client: httpx.AsyncClient,
    services: Services,
    customer: Customer,
    two_nodes: list[RestartableNode],
) -> None:
    first, second = two_nodes
    first.fake.reset(SglangScenario(outcome="never"))
    second.fake.reset(SglangScenario(render_seconds=0.1))
    settings = fast_settings(
        sglang_nodes=[first.url, second.url], sglang_probe_seconds=0.05, relay_retries=1
    )
    engine = SglangEngine(settings)
    engine.pool.mark_down(engine.pool.by_name(second.name), "held back by the test")
    try:
        before = await _balance(services, customer.account_id)
        task_id = await _submit(client, customer)
        run = asyncio.create_task(make_worker(services, engine).run_once())

        async def job_recorded() -> bool:
            row = await services.db.fetch_one(
                select(tasks.c.provider_jobs).where(tasks.c.id == task_id)
            )
            return bool(row and row.provider_jobs)

        for _ in range(int(WAIT / 0.05)):
            if await job_recorded():
                break
            await asyncio.sleep(0.05)
        assert await job_recorded(), "the first node never took the job"
        engine.pool.start_probing()
        assert await asyncio.to_thread(
            engine.pool.wait_until, lambda: engine.pool.by_name(second.name).healthy, WAIT
        )
        await asyncio.to_thread(first.stop)  # the GPU host dies mid-render
        assert await asyncio.wait_for(run, WAIT)
    finally:
        await asyncio.to_thread(engine.close)

    done = await _status(client, customer, task_id)
    assert done["status"] == "completed" and done["consumed_credits"] == 40
    assert await _ledger(services, task_id) == [("reserve", -40)]  # charged once
    assert await _balance(services, customer.account_id) == before - 40
    row = await services.db.fetch_one(
        select(tasks.c.provider_jobs, tasks.c.engine_info).where(tasks.c.id == task_id)
    )
    assert row is not None
    states = [(job["job_id"].rpartition("@")[2], job["state"]) for job in row.provider_jobs]
    assert states == [(first.name, "gone"), (second.name, "done")]
    (video_info,) = row.engine_info["videos"]
    assert (video_info["node"], video_info["moved_from"]) == (second.name, first.name)
    video = await client.get(done["response"][0])
    assert video.status_code == 200 and video.content == second.fake.mp4


async def test_a_failed_render_fails_the_task_and_refunds_it(
    client: httpx.AsyncClient, services: Services, customer: Customer, sample_mp4: bytes
) -> None:
    node = RestartableNode(FakeVllmOmni(sample_mp4, api_key=VLLM_KEY))
    node.fake.reset(VllmScenario(outcome="failed", render_seconds=0.05))
    engine = VllmOmniEngine(fast_settings(vllm_omni_nodes=[node.url], vllm_omni_api_key=VLLM_KEY))
    try:
        before = await _balance(services, customer.account_id)
        task_id = await _submit(client, customer)
        assert await make_worker(services, engine).run_once()
    finally:
        await asyncio.to_thread(engine.close)
        await asyncio.to_thread(node.close)

    failed = await _status(client, customer, task_id)
    assert (failed["status"], failed["error"]["code"]) == ("failed", PROVIDER_FAILED)
    assert failed["consumed_credits"] == 0
    assert await _balance(services, customer.account_id) == before
    assert [reason for reason, _ in await _ledger(services, task_id)] == ["reserve", "refund"]
