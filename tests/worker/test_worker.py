"""The worker: leases, retries after a death, refunds exactly once, progress, hand-back."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select, update

from grokimagine.domain.billing.credits import ledger_sum
from grokimagine.domain.tasks import queue as task_queue
from grokimagine.services import Services, build_services
from grokimagine.storage.schema import tasks
from tests.helpers.api import balance_of, status_of, submit
from tests.helpers.customers import Customer, make_worker
from tests.helpers.workers import GatedEngine, ledger_rows, wait_until


async def test_a_task_whose_worker_died_is_run_again_and_charged_once(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    task_id = await submit(client, customer)
    # A worker claims the task and dies: its lease is never renewed.
    claimed = await task_queue.claim_next_task(
        services.db, "dead-worker", lease_seconds=0.1, max_attempts=3
    )
    assert claimed is not None and claimed[0].id == task_id
    assert (await status_of(client, customer, task_id))["status"] == "processing"
    await asyncio.sleep(0.2)

    assert await make_worker(services).run_once()
    done = await status_of(client, customer, task_id)
    assert done["status"] == "completed" and done["consumed_credits"] == 40
    assert await ledger_rows(services, task_id) == [("reserve", -40)]
    # The dead worker's late result cannot overwrite the task.
    _, stale = claimed
    assert not await task_queue.complete_task(services.db, stale, ["x"], "preview", {})
    assert not await task_queue.fail_task(services.db, stale, "ENGINE_FAILED", "late")
    assert await ledger_rows(services, task_id) == [("reserve", -40)]


async def test_a_task_that_kills_every_worker_fails_and_is_refunded_once(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    services.settings.max_attempts = 2
    task_id = await submit(client, customer)
    for attempt in range(2):
        claimed = await task_queue.claim_next_task(
            services.db, f"dying-{attempt}", lease_seconds=0.05, max_attempts=2
        )
        assert claimed is not None
        await asyncio.sleep(0.1)
    assert (
        await task_queue.claim_next_task(services.db, "third", lease_seconds=1, max_attempts=2)
        is None
    )

    sweeps = await asyncio.gather(
        *[task_queue.fail_exhausted_tasks(services.db, max_attempts=2) for _ in range(4)]
    )
    assert [task for swept in sweeps for task in swept] == [task_id]
    failed = await status_of(client, customer, task_id)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "ATTEMPTS_EXHAUSTED"
    assert failed["consumed_credits"] == 0
    assert await ledger_rows(services, task_id) == [("reserve", -40), ("refund", 40)]
    assert await balance_of(services, customer.account_id) == 400
    async with services.db.read() as conn:
        assert await ledger_sum(conn, customer.account_id) == 400


async def test_pending_tasks_survive_a_restart(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    task_id = await submit(client, customer)
    await services.close()
    restarted = build_services(services.settings, public_url="http://testserver")
    try:
        assert await make_worker(restarted).run_once()
    finally:
        await restarted.close()
    assert (await status_of(client, customer, task_id))["status"] == "completed"


async def test_progress_is_recorded_while_the_engine_runs(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    services.settings.lease_seconds = 0.4  # heartbeats every 0.1 s
    engine = GatedEngine()
    task_id = await submit(client, customer)
    running = asyncio.create_task(make_worker(services, engine).run_once())

    async def halfway() -> bool:
        return (await status_of(client, customer, task_id))["progress"] == 50

    await wait_until(halfway)
    processing = await status_of(client, customer, task_id)
    assert processing["status"] == "processing" and processing["started_at"]
    engine.gate.set()
    assert await running
    done = await status_of(client, customer, task_id)
    assert done["status"] == "completed" and done["progress"] == 100


async def test_a_cancel_request_stops_the_engine_and_refunds_once(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    services.settings.lease_seconds = 0.4
    engine = GatedEngine()
    task_id = await submit(client, customer)
    running = asyncio.create_task(make_worker(services, engine).run_once())
    await asyncio.to_thread(engine.halfway.wait, 10)
    async with services.db.write() as conn:
        await conn.execute(update(tasks).where(tasks.c.id == task_id).values(cancel_requested=True))
    assert await running
    canceled = await status_of(client, customer, task_id)
    assert canceled["status"] == "canceled" and canceled["consumed_credits"] == 0
    assert await ledger_rows(services, task_id) == [("reserve", -40), ("refund", 40)]


async def test_a_stopping_worker_hands_its_task_back(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    engine = GatedEngine()
    task_id = await submit(client, customer)
    worker = make_worker(services, engine)
    running = asyncio.create_task(worker.run())
    await asyncio.to_thread(engine.halfway.wait, 10)
    worker.stop()
    await asyncio.wait_for(running, 10)
    handed_back = await status_of(client, customer, task_id)
    assert handed_back["status"] == "pending"
    async with services.db.read() as conn:
        attempts = (
            await conn.execute(select(tasks.c.attempts).where(tasks.c.id == task_id))
        ).scalar_one()
    assert attempts == 0
    assert await make_worker(services).run_once()
    assert (await status_of(client, customer, task_id))["status"] == "completed"


async def test_an_idle_worker_wakes_when_a_task_is_created(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    services.settings.poll_seconds = 30  # only the wake-up can make it start in time
    worker = make_worker(services)
    services.task_created_listeners.append(worker.wake)
    running = asyncio.create_task(worker.run())
    await asyncio.sleep(0.1)
    task_id = await submit(client, customer)

    async def completed() -> bool:
        return (await status_of(client, customer, task_id))["status"] == "completed"

    await wait_until(completed, seconds=20)
    worker.stop()
    await asyncio.wait_for(running, 10)
