"""A reference-page client (only generate and status, no header but the token) sees the bodies it
always saw: Part 3 adds nothing to them."""

from __future__ import annotations

import httpx

from grokimagine.services import Services
from tests.helpers.api import SEED_BODY, FailingEngine
from tests.helpers.customers import Customer, make_worker

ENVELOPE_KEYS = {"code", "message", "data"}
STATUS_KEYS = {
    *("consumed_credits", "created_at", "status", "task_id", "request", "response"),
    # Added before Part 3, kept as they were.
    *("progress", "error", "started_at", "completed_at"),
    # Issue 13: the contract's Part 3 status fields, additive as progress is.
    *("queue_position", "expires_at"),
}
PART_3_HEADERS = {"preference-applied", "idempotent-replayed"}


async def _generate(client: httpx.AsyncClient, customer: Customer, body: dict) -> str:
    response = await client.post("/v1/generate", json=body, headers=customer.headers)
    assert response.status_code == 200
    payload = response.json()
    assert set(payload) == ENVELOPE_KEYS and set(payload["data"]) == {"task_id"}
    assert not PART_3_HEADERS & set(response.headers)
    return payload["data"]["task_id"]


async def _status(client: httpx.AsyncClient, customer: Customer, task_id: str) -> dict:
    response = await client.get("/v1/status", params={"task_id": task_id}, headers=customer.headers)
    assert response.status_code == 200
    payload = response.json()
    assert set(payload) == ENVELOPE_KEYS
    assert not PART_3_HEADERS & set(response.headers)
    return payload["data"]


async def test_generate_and_status_bodies_keep_their_exact_keys(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    task_id = await _generate(client, customer, SEED_BODY)
    pending = await _status(client, customer, task_id)
    assert set(pending) == STATUS_KEYS
    assert pending["request"] == SEED_BODY  # no Part 3 option is echoed unless given
    assert (pending["status"], pending["response"], pending["error"]) == ("pending", [], None)

    assert await make_worker(services).run_once()
    done = await _status(client, customer, task_id)
    assert set(done) == STATUS_KEYS
    assert done["request"] == SEED_BODY
    assert done["status"] == "completed" and len(done["response"]) == 1

    failing = await _generate(client, customer, {"prompt": "p"})
    await make_worker(services, FailingEngine()).run_once()
    failed = await _status(client, customer, failing)
    assert set(failed) == STATUS_KEYS
    assert set(failed["error"]) == {"code", "message"}
    assert failed["request"] == {"mode": "normal", "prompt": "p", "ratio": "1:1"}


async def test_a_reference_client_gets_the_reference_video_size_and_price(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    from sqlalchemy import select

    from grokimagine.storage.schema import tasks

    task_id = await _generate(client, customer, {**SEED_BODY, "ratio": "2:3"})
    assert (await _status(client, customer, task_id))["consumed_credits"] == 40
    row = await services.db.fetch_one(
        select(tasks.c.width, tasks.c.height, tasks.c.num_frames, tasks.c.video_count).where(
            tasks.c.id == task_id
        )
    )
    assert row is not None and tuple(row) == (480, 720, 144, 1)
