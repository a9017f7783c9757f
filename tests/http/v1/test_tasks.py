"""GET /v1/tasks, cancel and delete: what a client controls of its tasks, and what it pays."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from grokimagine.domain.tasks import queue as task_queue
from grokimagine.services import Services
from tests.helpers.api import balance_of, cancel, status_of, submit, task_of
from tests.helpers.customers import BASE_URL, Customer, make_customer, make_worker
from tests.helpers.workers import GatedEngine, ledger_rows


async def listing(client: httpx.AsyncClient, customer: Customer, **params: object) -> dict:
    response = await client.get("/v1/tasks", params=params, headers=customer.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def start_gated_task(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> tuple[GatedEngine, str, asyncio.Task[bool]]:
    """Submit a task and run it on a worker until its engine is halfway (heartbeats: 0.1 s)."""
    services.settings.lease_seconds = 0.4
    engine = GatedEngine()
    task_id = await submit(client, customer)
    running = asyncio.create_task(make_worker(services, engine).run_once())
    await asyncio.to_thread(engine.halfway.wait, 10)
    return engine, task_id, running


async def test_the_list_pages_through_every_task_newest_first(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    created = [await submit(client, customer, {"prompt": f"task {i}"}) for i in range(5)]
    stranger = await make_customer(services)
    await submit(client, stranger)

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await listing(client, customer, **params)
        pages += 1
        seen += [task["task_id"] for task in page["tasks"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == created[::-1]
    first = (await listing(client, customer, limit=1))["tasks"][0]
    assert first["request"]["prompt"] == "task 4" and first["queue_position"] == 4


async def test_the_list_filters_by_status(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    oldest = await submit(client, customer)
    newer = await submit(client, customer)
    assert await make_worker(services).run_once()  # the oldest runs first
    completed = await listing(client, customer, status="completed")
    assert [task["task_id"] for task in completed["tasks"]] == [oldest]
    pending = await listing(client, customer, status="pending")
    assert [task["task_id"] for task in pending["tasks"]] == [newer]
    assert (await listing(client, customer, status="failed"))["tasks"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"status": "done"}, "status"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "WyJ4Il0"}, "cursor"),  # valid base64 and JSON, but not ours
    ],
)
async def test_bad_list_parameters_are_400s_naming_them(
    client: httpx.AsyncClient, customer: Customer, params: dict, field: str
) -> None:
    response = await client.get("/v1/tasks", params=params, headers=customer.headers)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "INVALID_REQUEST" and f"The {field} parameter" in body["message"]


async def test_a_pending_task_is_canceled_and_refunded_at_once(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    task_id = await submit(client, customer)
    assert await balance_of(services, customer.account_id) == 360
    response = await cancel(client, customer, task_id)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["status"] == "canceled" and data["consumed_credits"] == 0
    assert data["error"]["code"] == "CANCELED"
    assert await balance_of(services, customer.account_id) == 400
    assert await ledger_rows(services, task_id) == [("reserve", -40), ("refund", 40)]
    assert not await make_worker(services).run_once()  # nothing left to run

    again = await cancel(client, customer, task_id)
    assert again.status_code == 409
    assert again.json() == {
        "code": 409,
        "message": "Task not cancelable: it is already canceled",
        "error": "TASK_NOT_CANCELABLE",
    }
    assert (await status_of(client, customer, task_id))["status"] == "canceled"


async def test_a_processing_task_stops_at_the_next_step_and_is_refunded_exactly_once(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    _, task_id, running = await start_gated_task(client, customer, services)

    response = await cancel(client, customer, task_id)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["status"] == "processing" and data["cancel_requested"] is True
    # Asked twice, and from two clients at once: still one refund.
    await asyncio.gather(*[cancel(client, customer, task_id) for _ in range(3)])
    assert await running
    canceled = await task_of(client, customer, task_id)
    assert canceled["status"] == "canceled" and canceled["consumed_credits"] == 0
    assert canceled["response"] == [] and canceled["completed_at"]
    assert await ledger_rows(services, task_id) == [("reserve", -40), ("refund", 40)]
    assert await balance_of(services, customer.account_id) == 400
    assert (await cancel(client, customer, task_id)).status_code == 409


async def test_a_completed_task_cannot_be_canceled(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    task_id = await submit(client, customer)
    await make_worker(services).run_once()
    response = await cancel(client, customer, task_id)
    assert response.status_code == 409
    assert response.json()["message"] == "Task not cancelable: it is already completed"
    assert await balance_of(services, customer.account_id) == 360


async def test_a_cancel_whose_worker_died_is_finished_by_the_next_worker(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    task_id = await submit(client, customer)
    claimed = await task_queue.claim_next_task(
        services.db, "dying", lease_seconds=0.1, max_attempts=3
    )
    assert claimed is not None
    assert (await cancel(client, customer, task_id)).json()["data"]["cancel_requested"]
    await asyncio.sleep(0.2)  # the lease runs out, nobody renews it
    assert not await make_worker(services).run_once()
    canceled = await status_of(client, customer, task_id)
    assert canceled["status"] == "canceled" and canceled["consumed_credits"] == 0
    assert await ledger_rows(services, task_id) == [("reserve", -40), ("refund", 40)]


async def test_unknown_and_foreign_tasks_are_404s(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    task_id = await submit(client, customer)
    stranger = await make_customer(services)
    for who, target in ((customer, "task_unknown"), (stranger, task_id)):
        for method, path in (
            ("GET", f"/v1/tasks/{target}"),
            ("POST", f"/v1/tasks/{target}/cancel"),
            ("DELETE", f"/v1/tasks/{target}"),
            ("GET", f"/v1/tasks/{target}/deliveries"),
        ):
            response = await client.request(method, path, headers=who.headers)
            assert response.status_code == 404, (method, path)
            assert response.json()["error"] == "TASK_NOT_FOUND"
    assert (await status_of(client, customer, task_id))["status"] == "pending"


async def test_deleting_a_completed_task_removes_its_files_but_not_its_ledger(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    task_id = await submit(client, customer)
    await make_worker(services).run_once()
    video_url = (await status_of(client, customer, task_id))["response"][0]
    assert (await client.get(video_url.removeprefix(BASE_URL))).status_code == 200

    response = await client.delete(f"/v1/tasks/{task_id}", headers=customer.headers)
    assert response.status_code == 200
    assert response.json()["data"]["deleted_at"]
    assert (await client.get(video_url.removeprefix(BASE_URL))).status_code == 404
    files = services.settings.data_dir / "files"
    assert not list(files.rglob(f"*{task_id}*"))
    status = await status_of(client, customer, task_id)
    assert (status["status"], status["response"], status["consumed_credits"]) == (
        "completed",
        [],
        40,
    )
    assert (await listing(client, customer))["tasks"] == []
    assert await ledger_rows(services, task_id) == [("reserve", -40)]
    again = await client.delete(f"/v1/tasks/{task_id}", headers=customer.headers)
    assert again.status_code == 200
    assert again.json()["data"]["deleted_at"] == response.json()["data"]["deleted_at"]


async def test_deleting_a_pending_task_cancels_and_refunds_it(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    task_id = await submit(client, customer)
    response = await client.delete(f"/v1/tasks/{task_id}", headers=customer.headers)
    assert response.json()["data"]["status"] == "canceled"
    assert await balance_of(services, customer.account_id) == 400
    assert not await make_worker(services).run_once()


async def test_deleting_a_running_task_stops_it_and_leaves_no_files(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    engine, task_id, running = await start_gated_task(client, customer, services)
    response = await client.delete(f"/v1/tasks/{task_id}", headers=customer.headers)
    assert response.json()["data"]["status"] == "canceled"
    engine.gate.set()  # even if the engine finishes now, its result is dropped
    assert await running
    status = await status_of(client, customer, task_id)
    assert status["status"] == "canceled" and status["response"] == []
    assert not list((services.settings.data_dir / "files").rglob(f"*{task_id}*"))
    assert await ledger_rows(services, task_id) == [("reserve", -40), ("refund", 40)]
