"""Idempotency-Key on POST /v1/generate: a retry never creates or charges twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from grokimagine.domain.submission import generate as submission
from grokimagine.services import Services
from grokimagine.storage.schema import ledger, tasks
from tests.helpers.api import SEED_BODY, age_task, balance_of
from tests.helpers.customers import Customer, make_customer


def keyed(customer: Customer, key: str) -> dict[str, str]:
    return {**customer.headers, "Idempotency-Key": key}


async def task_ids(services: Services, account_id: str) -> list[str]:
    rows = await services.db.fetch_all(select(tasks.c.id).where(tasks.c.account_id == account_id))
    return [row.id for row in rows]


async def reservations(services: Services, account_id: str) -> int:
    rows = await services.db.fetch_all(
        select(ledger.c.id).where(ledger.c.account_id == account_id, ledger.c.reason == "reserve")
    )
    return len(rows)


async def test_a_retry_with_the_same_key_and_body_returns_the_original_task(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    first = await client.post("/v1/generate", json=SEED_BODY, headers=keyed(customer, "order-1"))
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    # Same request, fields in another order and defaults spelled out: the same body.
    again = {"ratio": "1:1", "prompt": SEED_BODY["prompt"], "mode": "fun", "n": 1}
    retry = await client.post("/v1/generate", json=again, headers=keyed(customer, "order-1"))
    assert retry.status_code == 200
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert await task_ids(services, customer.account_id) == [first.json()["data"]["task_id"]]
    assert await balance_of(services, customer.account_id) == 360


async def test_the_same_key_with_another_body_is_a_409(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    await client.post("/v1/generate", json=SEED_BODY, headers=keyed(customer, "k"))
    other = await client.post(
        "/v1/generate", json={**SEED_BODY, "prompt": "another"}, headers=keyed(customer, "k")
    )
    assert other.status_code == 409
    assert other.json() == {
        "code": 409,
        "message": "Idempotency conflict: this Idempotency-Key was used with a different request body",
        "error": "IDEMPOTENCY_CONFLICT",
    }
    assert len(await task_ids(services, customer.account_id)) == 1
    assert await balance_of(services, customer.account_id) == 360


async def test_keys_belong_to_one_account(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    other = await make_customer(services)
    mine = await client.post("/v1/generate", json=SEED_BODY, headers=keyed(customer, "shared"))
    theirs = await client.post("/v1/generate", json=SEED_BODY, headers=keyed(other, "shared"))
    assert mine.status_code == theirs.status_code == 200
    assert mine.json()["data"]["task_id"] != theirs.json()["data"]["task_id"]
    assert await balance_of(services, other.account_id) == 360


@pytest.mark.parametrize("race", [2, 8])
async def test_racing_requests_with_one_key_make_one_task_and_one_charge(
    client: httpx.AsyncClient,
    services: Services,
    customer: Customer,
    monkeypatch: pytest.MonkeyPatch,
    race: int,
) -> None:
    # Every request passes the look-up for an earlier task before any of them inserts: the
    # unique index alone must then keep the second task and charge out.
    barrier = asyncio.Barrier(race)
    load_images = submission._load_images

    async def load_then_wait(*args: object) -> object:
        loaded = await load_images(*args)  # type: ignore[arg-type]
        await barrier.wait()
        return loaded

    monkeypatch.setattr(submission, "_load_images", load_then_wait)
    responses = await asyncio.gather(
        *[
            client.post("/v1/generate", json=SEED_BODY, headers=keyed(customer, "race"))
            for _ in range(race)
        ]
    )
    assert [response.status_code for response in responses] == [200] * race
    ids = {response.json()["data"]["task_id"] for response in responses}
    assert len(ids) == 1
    assert await task_ids(services, customer.account_id) == list(ids)
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == race - 1
    assert await reservations(services, customer.account_id) == 1
    assert await balance_of(services, customer.account_id) == 360


async def test_a_key_older_than_a_day_makes_a_new_task(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    first = await client.post("/v1/generate", json=SEED_BODY, headers=keyed(customer, "daily"))
    old_id = first.json()["data"]["task_id"]
    await age_task(services, old_id, timedelta(hours=24, seconds=1))
    # Even with another body: the old use no longer counts.
    body = {**SEED_BODY, "prompt": "tomorrow's"}
    second = await client.post("/v1/generate", json=body, headers=keyed(customer, "daily"))
    assert second.status_code == 200 and "idempotent-replayed" not in second.headers
    new_id = second.json()["data"]["task_id"]
    assert new_id != old_id
    retry = await client.post("/v1/generate", json=body, headers=keyed(customer, "daily"))
    assert retry.json()["data"]["task_id"] == new_id
    assert await balance_of(services, customer.account_id) == 320
    old = await client.get("/v1/status", params={"task_id": old_id}, headers=customer.headers)
    assert old.status_code == 200


async def test_a_live_key_and_a_test_key_do_not_share_a_request(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    from grokimagine.domain.accounts.accounts import create_key

    test_token = (await create_key(services.db, customer.account_id, live=False)).token
    await client.post("/v1/generate", json=SEED_BODY, headers=keyed(customer, "k"))
    test = await client.post(
        "/v1/generate",
        json=SEED_BODY,
        headers={"Authorization": f"Bearer {test_token}", "Idempotency-Key": "k"},
    )
    assert test.status_code == 409


@pytest.mark.parametrize("key", ["", "x" * 201, "naïve", "with space"])
async def test_a_malformed_key_is_a_400(
    client: httpx.AsyncClient, services: Services, customer: Customer, key: str
) -> None:
    response = await client.post(
        "/v1/generate",
        json=SEED_BODY,
        headers={**customer.headers, "Idempotency-Key": key.encode()},
    )
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["message"]
    assert await task_ids(services, customer.account_id) == []


async def test_a_refused_request_does_not_use_up_its_key(
    client: httpx.AsyncClient, services: Services
) -> None:
    poor = await make_customer(services, credits=0)
    refused = await client.post("/v1/generate", json=SEED_BODY, headers=keyed(poor, "retry-me"))
    assert refused.status_code == 402
    async with services.db.write() as conn:
        from grokimagine.domain.billing.credits import grant_credits

        await grant_credits(conn, poor.account_id, 40)
    accepted = await client.post("/v1/generate", json=SEED_BODY, headers=keyed(poor, "retry-me"))
    assert accepted.status_code == 200
