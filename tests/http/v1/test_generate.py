"""POST /v1/generate, per the contract's Parts 1 and 2."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from sqlalchemy import select

from grokimagine.domain.billing.credits import ledger_sum
from grokimagine.services import Services
from grokimagine.storage.schema import tasks
from tests.helpers.api import SEED_BODY, balance_of
from tests.helpers.customers import Customer, make_customer


async def test_the_reference_page_example_returns_a_task_id(
    client: httpx.AsyncClient, customer: Customer
) -> None:
    response = await client.post("/v1/generate", json=SEED_BODY, headers=customer.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["code"] == 200 and body["message"] == "success"
    assert re.fullmatch(r"task_[A-Za-z0-9_-]{20,}", body["data"]["task_id"])


async def test_task_ids_are_unique_and_unguessable(
    client: httpx.AsyncClient, customer: Customer
) -> None:
    ids = set()
    for _ in range(5):
        response = await client.post("/v1/generate", json=SEED_BODY, headers=customer.headers)
        ids.add(response.json()["data"]["task_id"])
    assert len(ids) == 5


async def test_defaults_are_filled_in_and_echoed(
    client: httpx.AsyncClient, customer: Customer
) -> None:
    created = await client.post(
        "/v1/generate", json={"prompt": "  a cat  ", "extra": "ignored"}, headers=customer.headers
    )
    assert created.status_code == 200
    task_id = created.json()["data"]["task_id"]
    status = await client.get("/v1/status", params={"task_id": task_id}, headers=customer.headers)
    assert status.json()["data"]["request"] == {"mode": "normal", "prompt": "a cat", "ratio": "1:1"}


async def test_body_without_content_type_is_read_as_json(
    client: httpx.AsyncClient, customer: Customer
) -> None:
    response = await client.post(
        "/v1/generate",
        content=b'{"prompt": "curl -d without a header"}',
        headers={**customer.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"mode": "fun"}, "Invalid request: The prompt parameter is required"),
        ({"prompt": "   "}, "Invalid request: The prompt parameter is not valid: must not be blank"),
        ({"prompt": "x" * 4001}, "Invalid request: The prompt parameter is not valid: must be at most 4000 characters"),
        ({"prompt": 123}, "Invalid request: The prompt parameter is not valid: input should be a valid string"),
        ({"prompt": "p", "mode": "wild"}, "Invalid request: The mode parameter is not valid: input should be 'fun', 'normal' or 'spicy'"),
        ({"prompt": "p", "ratio": "16:9"}, "Invalid request: The ratio parameter is not valid: input should be '2:3', '3:2' or '1:1'"),
        ({"prompt": "p", "images": [1]}, "Invalid request: The images[0] parameter"),
        ({"prompt": "p", "images": ["https://a.example/x.png"] * 5}, "Invalid request: The images parameter is not valid: at most 4 images are accepted"),
    ],
)  # fmt: skip
async def test_invalid_fields_are_named_in_a_400(
    client: httpx.AsyncClient, customer: Customer, body: dict, message: str
) -> None:
    response = await client.post("/v1/generate", json=body, headers=customer.headers)
    assert response.status_code == 400
    payload = response.json()
    assert payload["code"] == 400 and payload["error"] == "INVALID_REQUEST"
    assert payload["message"].startswith(message)


async def test_a_4000_character_prompt_is_accepted(
    client: httpx.AsyncClient, customer: Customer
) -> None:
    response = await client.post(
        "/v1/generate", json={"prompt": "y" * 4000}, headers=customer.headers
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "Invalid request: the body is not valid JSON"),
        (b"", "Invalid request: the body is not valid JSON"),
        (b'["a", "list"]', "Invalid request: the body must be a JSON object"),
        (b'"a string"', "Invalid request: the body must be a JSON object"),
    ],
)
async def test_a_body_that_is_not_a_json_object_is_a_400(
    client: httpx.AsyncClient, customer: Customer, content: bytes, message: str
) -> None:
    response = await client.post("/v1/generate", content=content, headers=customer.headers)
    assert response.status_code == 400
    assert response.json() == {"code": 400, "message": message, "error": "INVALID_REQUEST"}


async def test_null_mode_and_ratio_take_their_defaults(
    client: httpx.AsyncClient, customer: Customer
) -> None:
    body = {"prompt": "p", "mode": None, "ratio": None, "images": None}
    response = await client.post("/v1/generate", json=body, headers=customer.headers)
    assert response.status_code == 200


async def test_spicy_needs_an_account_allowed_it(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    refused = await client.post(
        "/v1/generate", json={**SEED_BODY, "mode": "spicy"}, headers=customer.headers
    )
    assert refused.status_code == 403
    assert refused.json()["error"] == "MODE_NOT_ALLOWED"
    assert await balance_of(services, customer.account_id) == 400

    allowed = await make_customer(services, allow_spicy=True)
    accepted = await client.post(
        "/v1/generate", json={**SEED_BODY, "mode": "spicy"}, headers=allowed.headers
    )
    assert accepted.status_code == 200


async def test_each_generation_reserves_40_credits(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    await client.post("/v1/generate", json=SEED_BODY, headers=customer.headers)
    await client.post("/v1/generate", json=SEED_BODY, headers=customer.headers)
    assert await balance_of(services, customer.account_id) == 320
    async with services.db.read() as conn:
        assert await ledger_sum(conn, customer.account_id) == 320


async def test_not_enough_credits_is_a_402_and_nothing_is_created(
    client: httpx.AsyncClient, services: Services
) -> None:
    poor = await make_customer(services, credits=39)
    response = await client.post("/v1/generate", json=SEED_BODY, headers=poor.headers)
    assert response.status_code == 402
    assert response.json()["error"] == "INSUFFICIENT_CREDITS"
    async with services.db.read() as conn:
        count = (await conn.execute(select(tasks.c.id))).all()
    assert count == []
    assert await balance_of(services, poor.account_id) == 39


async def test_parallel_submissions_never_overdraw(
    client: httpx.AsyncClient, services: Services
) -> None:
    """Forty requests race for the credits of five videos: five win, the balance ends at zero."""
    racer = await make_customer(services, plan="pro", credits=200)
    responses = await asyncio.gather(
        *[client.post("/v1/generate", json=SEED_BODY, headers=racer.headers) for _ in range(40)]
    )
    codes = sorted(response.status_code for response in responses)
    assert codes.count(200) == 5
    assert codes.count(402) == 35
    assert await balance_of(services, racer.account_id) == 0
    async with services.db.read() as conn:
        assert await ledger_sum(conn, racer.account_id) == 0
        created = (
            await conn.execute(select(tasks.c.id).where(tasks.c.account_id == racer.account_id))
        ).all()
    assert len(created) == 5


async def test_a_body_over_48_mib_is_refused_before_it_is_read(
    client: httpx.AsyncClient, customer: Customer
) -> None:
    big = b'{"prompt": "' + b"a" * (48 * 1024 * 1024 + 10) + b'"}'
    response = await client.post("/v1/generate", content=big, headers=customer.headers)
    assert response.status_code == 413
    assert response.json()["error"] == "PAYLOAD_TOO_LARGE"
    assert "x-ratelimit-remaining" in response.headers


async def test_a_chunked_body_over_the_cap_is_refused_while_streaming(
    services: Services, customer: Customer
) -> None:
    from grokimagine.http.app import create_app

    services.settings.limits.max_body_bytes = 1024
    app = create_app(services)
    chunks_sent = 0

    async def body():
        nonlocal chunks_sent
        for _ in range(1000):
            chunks_sent += 1
            yield b" " * 512

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.post("/v1/generate", content=body(), headers=customer.headers)
    assert response.status_code == 413
    assert response.json()["error"] == "PAYLOAD_TOO_LARGE"
    assert chunks_sent < 10
