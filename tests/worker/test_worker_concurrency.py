"""One worker runs several tasks at once: each with its own lease, progress, cancel and refund."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import select

from grokimagine.engines.base import GenerationRequest, GenerationResult, RenderControl
from grokimagine.engines.encoding import encode_mp4
from grokimagine.engines.registry import engine_concurrency
from grokimagine.services import Services
from grokimagine.settings import Settings
from grokimagine.storage.schema import tasks
from tests.helpers.api import balance_of, cancel, status_of, submit
from tests.helpers.customers import Customer, make_worker
from tests.helpers.workers import ledger_rows, wait_until


class PromptGatedEngine:
    """Each task waits on a gate of its prompt's own (or a cancel); counts runs at once."""

    name = "gated"

    def __init__(self) -> None:
        self.gates: dict[str, threading.Event] = {}
        self.lock = threading.Lock()
        self.running: Counter[str] = Counter()
        self.runs: Counter[str] = Counter()
        self.most_at_once = 0

    def gate(self, prompt: str) -> threading.Event:
        with self.lock:
            return self.gates.setdefault(prompt, threading.Event())

    def generate(
        self, request: GenerationRequest, output: Path, control: RenderControl
    ) -> GenerationResult:
        gate = self.gate(request.prompt)
        with self.lock:
            self.running[request.prompt] += 1
            self.runs[request.prompt] += 1
            assert self.running[request.prompt] == 1, "a task runs twice at once"
            self.most_at_once = max(self.most_at_once, sum(self.running.values()))
        try:
            control.report(0.5)
            while not gate.wait(0.01):
                control.check_canceled()
            frame = np.zeros((request.height, request.width, 3), np.uint8)
            encode_mp4([frame, frame], output, width=request.width, height=request.height, fps=24)
        finally:
            with self.lock:
                self.running[request.prompt] -= 1
        return GenerationResult(provider_task_id=f"gated-{request.prompt}")


def body(prompt: str) -> dict:
    return {"prompt": prompt, "mode": "normal", "ratio": "1:1"}


async def row_of(services: Services, task_id: str):
    async with services.db.read() as conn:
        return (await conn.execute(select(tasks).where(tasks.c.id == task_id))).one()


def test_engines_declare_how_many_tasks_a_worker_runs_at_once() -> None:
    settings = Settings(preview_concurrency=3, relay_max_concurrency=8)
    assert engine_concurrency(settings, "preview") == 3
    assert engine_concurrency(settings, "xai") == 8
    assert engine_concurrency(settings, "openai-videos") == 8
    assert engine_concurrency(settings, "diffusers") == 1
    assert engine_concurrency(Settings(), "preview") >= 1  # the CPU cores
    assert engine_concurrency(Settings(), "xai") == 32  # relay default: tens
    assert engine_concurrency(settings, "no-such-engine") == 1


async def test_two_tasks_run_at_once_and_each_finishes_cancels_and_refunds_on_its_own(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    services.settings.preview_concurrency = 2
    services.settings.lease_seconds = 0.4  # heartbeats every 0.1 s
    engine = PromptGatedEngine()
    worker = make_worker(services, engine)
    assert worker.slots == {"preview": 2}
    first, second, third = [await submit(client, customer, body(p)) for p in ("a", "b", "c")]
    running = asyncio.create_task(worker.run())
    try:

        async def two_at_halfway() -> bool:
            states = [await status_of(client, customer, t) for t in (first, second)]
            return all(s["status"] == "processing" and s["progress"] == 50 for s in states)

        await wait_until(two_at_halfway)
        # The cap holds: the third waits for a slot.
        assert worker.running == 2
        assert (await status_of(client, customer, third))["status"] == "pending"
        leases = {(await row_of(services, t)).lease_owner for t in (first, second)}
        assert leases == {worker.worker_id}

        # Canceling the first refunds it alone; its slot goes to the third.
        assert (await cancel(client, customer, first)).status_code == 200

        async def first_canceled_third_running() -> bool:
            one = await status_of(client, customer, first)
            three = await status_of(client, customer, third)
            return one["status"] == "canceled" and three["status"] == "processing"

        await wait_until(first_canceled_third_running)
        assert (await status_of(client, customer, second))["status"] == "processing"
        assert await ledger_rows(services, first) == [("reserve", -40), ("refund", 40)]

        engine.gate("b").set()

        async def second_completed() -> bool:
            return (await status_of(client, customer, second))["status"] == "completed"

        await wait_until(second_completed)
        assert (await status_of(client, customer, third))["status"] == "processing"
        engine.gate("c").set()

        async def third_completed() -> bool:
            return (await status_of(client, customer, third))["status"] == "completed"

        await wait_until(third_completed)
    finally:
        worker.stop()
        await asyncio.wait_for(running, 10)
    assert engine.most_at_once == 2
    for task_id in (second, third):
        done = await status_of(client, customer, task_id)
        assert done["consumed_credits"] == 40 and len(done["response"]) == 1
        assert await ledger_rows(services, task_id) == [("reserve", -40)]
    assert await balance_of(services, customer.account_id) == 400 - 80


async def test_stop_hands_every_running_task_back(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    services.settings.preview_concurrency = 3
    engine = PromptGatedEngine()
    worker = make_worker(services, engine)
    task_ids = [await submit(client, customer, body(p)) for p in ("x", "y", "z")]
    running = asyncio.create_task(worker.run())

    async def all_running() -> bool:
        return sum(engine.running.values()) == 3

    await wait_until(all_running)
    worker.stop()  # what SIGTERM does
    await asyncio.wait_for(running, 10)
    for task_id in task_ids:
        row = await row_of(services, task_id)
        assert row.status == "pending" and row.attempts == 0 and row.lease_owner is None
        assert await ledger_rows(services, task_id) == [("reserve", -40)]
    assert await balance_of(services, customer.account_id) == 400 - 120


async def test_two_workers_with_free_slots_never_run_a_task_twice(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    services.settings.preview_concurrency = 4
    engine = PromptGatedEngine()
    prompts = [f"p{i}" for i in range(8)]
    for prompt in prompts:
        engine.gate(prompt).set()
    task_ids = [await submit(client, customer, body(p)) for p in prompts]
    workers = [make_worker(services, engine), make_worker(services, engine)]
    runs = [asyncio.create_task(w.run()) for w in workers]
    try:

        async def all_completed() -> bool:
            states = [(await status_of(client, customer, t))["status"] for t in task_ids]
            return states == ["completed"] * len(task_ids)

        await wait_until(all_completed, 30)
    finally:
        for worker in workers:
            worker.stop()
        await asyncio.wait_for(asyncio.gather(*runs), 10)
    assert engine.runs == Counter(dict.fromkeys(prompts, 1))
    for task_id in task_ids:
        assert await ledger_rows(services, task_id) == [("reserve", -40)]
