"""Bearer tokens: shown once, stored hashed, refused in the error format when wrong."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from grokimagine.domain.accounts import accounts
from grokimagine.http.app import create_app
from grokimagine.services import Services
from grokimagine.storage.schema import api_keys
from tests.helpers.customers import Customer, make_customer


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Token gi_live_abcdefghijklmnopqrstuvwxyz"},
        {"Authorization": "Bearer gi_live_not-a-real-token-at-all-000000"},
        {"Authorization": "Bearer something-else"},
    ],
)
async def test_missing_malformed_and_unknown_tokens_are_401(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.post("/v1/generate", json={"prompt": "p"}, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "UNAUTHORIZED"
    assert response.json()["code"] == 401
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(
        response.headers
    )


async def test_a_revoked_key_stops_working(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    before = await client.get("/v1/status", params={"task_id": "task_x"}, headers=customer.headers)
    assert before.status_code == 404
    assert await accounts.revoke_key(services.db, customer.key_id)
    after = await client.get("/v1/status", params={"task_id": "task_x"}, headers=customer.headers)
    assert after.status_code == 401


async def test_tokens_are_stored_only_as_hashes(services: Services, customer: Customer) -> None:
    assert customer.token.startswith("gi_live_")
    async with services.db.read() as conn:
        rows = (await conn.execute(select(api_keys))).all()
    stored = " ".join(str(value) for row in rows for value in row)
    assert customer.token not in stored
    assert customer.token[12:] not in stored


async def test_guessing_from_one_address_is_cut_off(services: Services) -> None:
    services.settings.limits.auth_failure_limit = 5
    app = create_app(services)
    real = await make_customer(services)
    guesser = httpx.ASGITransport(app=app, client=("198.51.100.9", 1234))
    other = httpx.ASGITransport(app=app, client=("198.51.100.10", 1234))
    async with httpx.AsyncClient(transport=guesser, base_url="http://t") as http:
        codes = []
        for attempt in range(7):
            bad = {"Authorization": f"Bearer gi_live_guess{attempt:030d}"}
            codes.append((await http.get("/v1/status?task_id=t", headers=bad)).status_code)
        assert codes == [401] * 5 + [429] * 2
        blocked = await http.get(
            "/v1/status?task_id=t", headers={"Authorization": "Bearer gi_live_" + "x" * 40}
        )
        assert blocked.status_code == 429
        assert blocked.json()["error"] == "RATE_LIMITED"
        assert int(blocked.headers["retry-after"]) >= 1
        # A valid key behind the same address (a shared NAT) is never refused by this limit.
        fine = await http.get("/v1/status?task_id=t", headers=real.headers)
        assert fine.status_code == 404
    async with httpx.AsyncClient(transport=other, base_url="http://t") as http:
        fine = await http.get("/v1/status?task_id=t", headers=real.headers)
        assert fine.status_code == 404
