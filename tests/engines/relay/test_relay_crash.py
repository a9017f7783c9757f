"""A worker process SIGKILLed mid-job: the next run resumes the provider's job, never pays twice.

Real ``grokimagine worker`` processes relay to the fake xAI on loopback; the task is submitted
through the API in this process, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from grokimagine.http.app import create_app
from grokimagine.services import Services, build_services
from grokimagine.settings import Settings
from grokimagine.storage.schema import ledger, tasks
from tests.helpers.customers import BASE_URL, Customer, make_customer

from .fake_xai import FakeXai, XaiScenario
from .helpers import XAI_KEY

GROKIMAGINE = Path(sys.executable).parent / "grokimagine"


@pytest.fixture
async def relay_services(
    settings: Settings, xai_server: tuple[FakeXai, str]
) -> AsyncIterator[Services]:
    _, base_url = xai_server
    relayed = settings.replace(engine="xai", xai_api_key=XAI_KEY, xai_base_url=f"{base_url}/v1")
    built = build_services(relayed, public_url=BASE_URL)
    yield built
    await built.close()


@pytest.fixture
def worker_env(relay_services: Services, xai_server: tuple[FakeXai, str]) -> dict[str, str]:
    _, base_url = xai_server
    settings = relay_services.settings
    return {
        **os.environ,
        "GROKIMAGINE_DATA_DIR": str(settings.data_dir),
        "GROKIMAGINE_DATABASE_URL": str(settings.database_url),
        "GROKIMAGINE_ENGINE": "xai",
        "GROKIMAGINE_XAI_API_KEY": XAI_KEY,
        "GROKIMAGINE_XAI_BASE_URL": f"{base_url}/v1",
        "GROKIMAGINE_RELAY_POLL_INTERVAL": "0.05",
        "GROKIMAGINE_RELAY_POLL_MAX_INTERVAL": "0.1",
        "GROKIMAGINE_LEASE_SECONDS": "2",
        "GROKIMAGINE_POLL_SECONDS": "0.1",
        "GROKIMAGINE_LISTEN_NOTIFY": "false",
        "GROKIMAGINE_LOG_FORMAT": "text",
    }


class WorkerProcesses:
    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.env, self.folder, self.started = env, folder, []

    def start(self, name: str) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [str(GROKIMAGINE), "worker"],
            env={**self.env, "GROKIMAGINE_WORKER_NAME": name},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.started.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.folder.glob("*.log")))


@pytest.fixture
def workers(worker_env: dict[str, str], tmp_path: Path) -> Iterator[WorkerProcesses]:
    processes = WorkerProcesses(worker_env, tmp_path)
    yield processes
    for process in processes.started:
        if process.poll() is None:
            process.kill()
        process.wait(10)


async def task_row(services: Services, task_id: str):
    async with services.db.read() as conn:
        return (await conn.execute(select(tasks).where(tasks.c.id == task_id))).one()


async def wait_for(services, task_id, predicate, seconds: float, workers: WorkerProcesses):
    deadline = time.monotonic() + seconds
    while True:
        row = await task_row(services, task_id)
        if predicate(row):
            return row
        if time.monotonic() > deadline:
            raise AssertionError(f"task state not reached: {row.status}\n{workers.logs()[-4000:]}")
        await asyncio.sleep(0.05)


async def test_a_worker_killed_mid_job_is_resumed_with_one_create_and_one_charge(
    relay_services: Services, xai: FakeXai, workers: WorkerProcesses
) -> None:
    xai.reset(XaiScenario(job_seconds=3.0))
    customer: Customer = await make_customer(relay_services)
    app = create_app(relay_services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as api:
        submitted = await api.post(
            "/v1/generate", json={"prompt": "a fox in the snow"}, headers=customer.headers
        )
        assert submitted.status_code == 200, submitted.text
        task_id = submitted.json()["data"]["task_id"]

        first = workers.start("w1")
        accepted = await wait_for(
            relay_services, task_id, lambda row: row.provider_job_id is not None, 30, workers
        )
        # The job id was stored the moment xAI accepted the job, before it finished.
        assert accepted.status == "processing"
        assert xai.calls.count("create") == 1
        job_id = accepted.provider_job_id
        assert job_id in xai.jobs
        assert accepted.provider_jobs == [
            {"video": 0, "engine": "xai", "job_id": job_id, "state": "running", "cost_usd": None}
        ]
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL

        workers.start("w2")
        done = await wait_for(
            relay_services, task_id, lambda row: row.status in ("completed", "failed"), 60, workers
        )
        assert done.status == "completed", workers.logs()[-3000:]
        assert xai.calls.count("create") == 1  # resumed, not paid for twice
        assert len(xai.jobs) == 1
        assert done.attempts == 2
        assert done.provider_job_id == job_id
        assert done.provider_cost_usd == pytest.approx(0.5)
        assert done.provider_jobs[-1]["state"] == "done"
        assert done.consumed_credits == 40
        async with relay_services.db.read() as conn:
            rows = (
                await conn.execute(
                    select(ledger.c.reason, ledger.c.delta).where(ledger.c.task_id == task_id)
                )
            ).all()
        assert [(row.reason, row.delta) for row in rows] == [("reserve", -40)]

        status = (
            await api.get("/v1/status", params={"task_id": task_id}, headers=customer.headers)
        ).json()["data"]
        assert status["status"] == "completed" and len(status["response"]) == 1
        video = await api.get(status["response"][0])
        assert video.status_code == 200 and video.content == xai.mp4
        # The customer never sees what the provider charged the operator.
        assert "provider" not in str(status) and "cost" not in str(status)
