"""Two API processes and two workers on the real PostgreSQL and Redis, as separate processes."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from grokimagine.domain.accounts import accounts
from grokimagine.storage.db import Database
from grokimagine.storage.schema import accounts as accounts_table
from grokimagine.storage.schema import ledger, tasks
from tests.helpers.cluster import Process, free_port, make_cluster, ready, wait_until
from tests.helpers.customers import Customer

PLAN_LIMIT = 20


async def new_customer(db: Database, credits: int = 400) -> Customer:
    account = await accounts.create_account(db, plan="free", credits_granted=credits)
    key = await accounts.create_key(db, account.id)
    return Customer(account.id, key.token, key.key.id)


async def task_row(db: Database, task_id: str):  # type: ignore[no-untyped-def]
    return await db.fetch_one(select(tasks).where(tasks.c.id == task_id))


async def ledger_of(db: Database, task_id: str) -> list[tuple[str, int]]:
    rows = await db.fetch_all(
        select(ledger.c.reason, ledger.c.delta).where(ledger.c.task_id == task_id)
    )
    return [(row.reason, row.delta) for row in rows]


async def wait_for_row(db: Database, task_id: str, predicate, seconds: float, process=None):  # type: ignore[no-untyped-def]
    """Poll the task's row until ``predicate`` holds; fail early if ``process`` died."""
    deadline = time.monotonic() + seconds
    while True:
        row = await task_row(db, task_id)
        if row is not None and predicate(row):
            return row
        if process is not None and process.popen.poll() is not None:
            raise AssertionError(f"{process.name} exited:\n{process.log()[-3000:]}")
        assert time.monotonic() < deadline, f"task {task_id} stuck as {row and row.status}"
        await asyncio.sleep(0.05)


async def burst(targets: list[str], customer: Customer, count: int) -> list[tuple[str, int]]:
    """``count`` status polls spread in turn over ``targets``, ten at a time: (target, status)."""
    gate = asyncio.Semaphore(10)
    async with httpx.AsyncClient(timeout=30) as http:

        async def one(index: int) -> tuple[str, int]:
            base = targets[index % len(targets)]
            async with gate:
                answer = await http.get(
                    f"{base}/v1/status?task_id=task_none", headers=customer.headers
                )
            return base, answer.status_code

        return await asyncio.gather(*[one(index) for index in range(count)])


def metric_sum(text: str, sample: str, **labels: str) -> float:
    """The sum of the samples named ``sample`` whose labels include ``labels``."""
    return sum(
        value.value
        for family in text_string_to_metric_families(text)
        for value in family.samples
        if value.name == sample and labels.items() <= value.labels.items()
    )


def assert_no_token_in_logs(processes: list[Process], customers: list[Customer]) -> None:
    for process in processes:
        text = process.log()
        for customer in customers:
            assert customer.token not in text, f"a token leaked into {process.name}'s log"


async def test_two_apis_and_two_workers_survive_a_killed_worker_and_share_limits(
    tmp_path: Path, scale_database_url: str, scale_db: Database
) -> None:
    payer = await new_customer(scale_db)
    burster = await new_customer(scale_db)
    metrics_ports = {"w1": free_port(), "w2": free_port()}
    with make_cluster(
        tmp_path,
        scale_database_url,
        engine="slow",
        lease_seconds=2,
        poll_seconds=0.25,
        plan_limits={"free": PLAN_LIMIT},
    ) as cluster:
        api_a, api_b = cluster.api("api-a"), cluster.api("api-b")
        workers = {
            name: cluster.worker(
                name,
                env={
                    "GI_TEST_SLOW_SECONDS": "4",
                    "GROKIMAGINE_METRICS_PORT": str(metrics_ports[name]),
                },
            )
            for name in ("w1", "w2")
        }
        ready(api_a, api_b, *workers.values())

        # A task submitted through A, run by one worker, which is then killed mid-task.
        submitted = httpx.post(
            f"{api_a.base_url}/v1/generate",
            json={"prompt": "a lighthouse in a storm", "mode": "fun"},
            headers=payer.headers,
        )
        assert submitted.status_code == 200, submitted.text
        task_id = submitted.json()["data"]["task_id"]
        running = await wait_for_row(scale_db, task_id, lambda r: r.status == "processing", 30)
        victim_name = running.lease_owner.split(":")[0]
        survivor_name = "w2" if victim_name == "w1" else "w1"
        victim, survivor = workers[victim_name], workers[survivor_name]
        victim.kill(signal.SIGKILL)
        assert victim.popen.wait(10) == -signal.SIGKILL

        # The lease expires; the other worker claims the task again and completes it.
        done = await wait_for_row(
            scale_db, task_id, lambda r: r.status in ("completed", "failed"), 60, survivor
        )
        assert done.status == "completed"
        assert done.attempts == 2
        assert done.lease_owner is None
        assert done.engine == "slow"
        assert done.engine_info["videos"][0]["provider_task_id"] == f"slow-{survivor.popen.pid}"
        assert await ledger_of(scale_db, task_id) == [("reserve", -40)]
        balance = await scale_db.fetch_one(
            select(accounts_table.c.balance).where(accounts_table.c.id == payer.account_id)
        )
        assert balance is not None and balance.balance == 360

        # Any API process serves the result; the signed URL works on the other one too.
        status = httpx.get(
            f"{api_b.base_url}/v1/status?task_id={task_id}", headers=payer.headers
        ).json()["data"]
        assert status["status"] == "completed" and status["consumed_credits"] == 40
        video = httpx.get(status["response"][0])
        assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
        assert video.content[4:8] == b"ftyp"

        # A burst over the plan limit, spread over both processes: exactly the limit passes.
        targets = [api_a.base_url, api_b.base_url]
        answers = await burst(targets, burster, 3 * PLAN_LIMIT)
        accepted = [base for base, code in answers if code != 429]
        assert len(accepted) == PLAN_LIMIT
        assert set(accepted) == set(targets)  # both processes admitted some
        assert {code for _, code in answers} == {404, 429}
        for base in targets:
            refused = httpx.post(
                f"{base}/v1/generate", json={"prompt": "p"}, headers=burster.headers
            )
            assert refused.status_code == 429

        # Operations: readiness, the fleet in the metrics, the survivor's own metrics.
        assert httpx.get(f"{api_b.base_url}/readyz").json()["checks"] == {
            "database": "ok",
            "redis": "ok",
        }
        scraped = httpx.get(f"{api_b.base_url}/metrics").text
        assert (
            f'grokimagine_worker_last_seen_timestamp_seconds{{worker="{survivor_name}:' in scraped
        )
        refused_here = sum(code == 429 for base, code in answers if base == api_b.base_url)
        assert refused_here > 0
        assert (
            metric_sum(scraped, "grokimagine_http_requests_total", route="/v1/status", status="429")
            == refused_here  # this process's own refusals (one process on this port)
        )
        assert metric_sum(scraped, "grokimagine_tasks_processing") == 0
        own = httpx.get(f"http://127.0.0.1:{metrics_ports[survivor_name]}/metrics").text
        assert (
            metric_sum(
                own, "grokimagine_task_duration_seconds_count", engine="slow", outcome="completed"
            )
            == 1
        )

        # Logs: one JSON line per request with its id, and never a token.
        request_lines = [
            json.loads(line)
            for line in api_a.log().splitlines()
            if line.startswith("{") and '"grokimagine.request"' in line
        ]
        assert any(
            line["path"] == "/v1/generate" and line["status"] == 200 for line in request_lines
        )
        assert all(line["request_id"] for line in request_lines)
        assert_no_token_in_logs(cluster.processes, [payer, burster])


async def test_sigterm_hands_the_running_task_back(
    tmp_path: Path, scale_database_url: str, scale_db: Database
) -> None:
    payer = await new_customer(scale_db)
    with make_cluster(tmp_path, scale_database_url, engine="slow", lease_seconds=30) as cluster:
        api = cluster.api("api")
        worker = cluster.worker("w1", env={"GI_TEST_SLOW_SECONDS": "60"})
        ready(api, worker)
        submitted = httpx.post(
            f"{api.base_url}/v1/generate", json={"prompt": "a slow one"}, headers=payer.headers
        )
        task_id = submitted.json()["data"]["task_id"]
        await wait_for_row(scale_db, task_id, lambda r: r.status == "processing", 30, worker)

        worker.kill(signal.SIGTERM)
        assert worker.popen.wait(20) == 0  # stopped at the engine's next step, not after 60 s
        handed_back = await task_row(scale_db, task_id)
        assert handed_back.status == "pending"
        assert handed_back.attempts == 0 and handed_back.lease_owner is None
        assert await ledger_of(scale_db, task_id) == [("reserve", -40)]

        # The next worker runs it to the end; still one charge.
        quick = cluster.worker("w2", env={"GI_TEST_SLOW_SECONDS": "0.1"})
        done = await wait_for_row(scale_db, task_id, lambda r: r.status == "completed", 60, quick)
        assert done.attempts == 1
        assert await ledger_of(scale_db, task_id) == [("reserve", -40)]
        assert_no_token_in_logs(cluster.processes, [payer])


async def test_serve_with_two_processes_on_one_port(
    tmp_path: Path, scale_database_url: str, scale_db: Database
) -> None:
    customer = await new_customer(scale_db)
    with make_cluster(tmp_path, scale_database_url, plan_limits={"free": 10}) as cluster:
        api = cluster.api("api", "--workers", "2")
        ready(api)
        answers = await burst([api.base_url], customer, 40)
        assert sum(code != 429 for _, code in answers) == 10
        # Two processes answered (uvicorn logs each one's start) ...
        wait_until(lambda: api.log().count("Application startup complete") == 2, 30, api)
        # ... and either one's /metrics adds up both processes' counters.
        scraped = httpx.get(f"{api.base_url}/metrics").text
        assert metric_sum(scraped, "grokimagine_http_requests_total", route="/v1/status") == 40
        assert_no_token_in_logs(cluster.processes, [customer])
