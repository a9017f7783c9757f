"""GET /v1/account and its ledger; gi_test_ keys: same API, preview engine, no charge, own limit."""

from __future__ import annotations

import base64
from datetime import timedelta

import httpx
from pydantic import SecretStr

from grokimagine.domain.accounts import accounts
from grokimagine.domain.billing.credits import grant_credits
from grokimagine.domain.clock import utcnow
from grokimagine.http.app import create_app
from grokimagine.services import Services, build_services
from grokimagine.settings import Settings
from tests.helpers.api import age_task, balance_of, cancel, submit, task_of
from tests.helpers.customers import BASE_URL, Customer, make_worker


async def account_of(client: httpx.AsyncClient, customer: Customer) -> dict:
    response = await client.get("/v1/account", headers=customer.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_the_account_shows_plan_balance_limit_usage_and_secret(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    kept = await submit(client, customer)
    yesterday = await submit(client, customer)
    await age_task(services, yesterday, timedelta(days=1))
    refunded = await submit(client, customer)
    await cancel(client, customer, refunded)

    response = await client.get("/v1/account", headers=customer.headers)
    data = response.json()["data"]
    assert data["account_id"] == customer.account_id
    assert (data["plan"], data["balance"], data["allow_spicy"]) == ("free", 320, False)
    assert data["key"] == {"id": customer.key_id, "kind": "live"}
    # This request is the fifth of the window.
    assert data["rate_limit"]["limit"] == 100 and data["rate_limit"]["remaining"] == 95
    assert str(data["rate_limit"]["reset"]) == response.headers["x-ratelimit-reset"]
    today = utcnow().date()
    assert data["usage"] == [
        {"date": today.isoformat(), "tasks": 2, "credits": 40},
        {"date": (today - timedelta(days=1)).isoformat(), "tasks": 1, "credits": 40},
    ]
    assert kept
    secret = data["webhook_secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:], validate=True)) == 24


async def test_usage_leaves_out_days_older_than_thirty(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    old = await submit(client, customer)
    await age_task(services, old, timedelta(days=31))
    assert (await account_of(client, customer))["usage"] == []


async def test_the_ledger_pages_newest_first_and_sums_to_the_balance(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    first = await submit(client, customer)
    await cancel(client, customer, first)
    await submit(client, customer)
    entries, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/account/ledger", params=params, headers=customer.headers)
        assert response.status_code == 200
        page = response.json()["data"]
        entries += page["entries"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [(e["reason"], e["delta"]) for e in entries] == [
        ("reserve", -40),
        ("refund", 40),
        ("reserve", -40),
        ("grant", 400),
    ]
    assert entries[1]["task_id"] == first and entries[3]["task_id"] is None
    assert sum(e["delta"] for e in entries) == await balance_of(services, customer.account_id)
    bad = await client.get("/v1/account/ledger", params={"cursor": "xyz"}, headers=customer.headers)
    assert bad.status_code == 400 and "cursor" in bad.json()["message"]


async def test_another_accounts_ledger_is_not_visible(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    other = await accounts.create_account(services.db, plan="pro")
    async with services.db.write() as conn:
        await grant_credits(conn, other.id, 999)
    response = await client.get("/v1/account/ledger", headers=customer.headers)
    assert [e["delta"] for e in response.json()["data"]["entries"]] == [400]


async def make_test_key(services: Services, customer: Customer) -> Customer:
    new_key = await accounts.create_key(services.db, customer.account_id, live=False)
    assert new_key.token.startswith("gi_test_")
    return Customer(customer.account_id, new_key.token, new_key.key.id)


async def test_test_keys_run_on_the_preview_engine_and_charge_nothing(
    settings: Settings, services: Services, customer: Customer
) -> None:
    # The routes send every task to xAI; a test key's tasks still go to the preview engine.
    routed = settings.replace(**{"routes": {"default": ["xai"]}, "xai_api_key": SecretStr("k")})
    own = build_services(routed, public_url=BASE_URL)
    try:
        transport = httpx.ASGITransport(app=create_app(own))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
            tester = await make_test_key(own, customer)
            task_id = await submit(http, tester, {"prompt": "p", "n": 4, "seed": 3, "duration": 1})
            assert await balance_of(own, customer.account_id) == 400
            # A worker whose routes name only xAI can build the preview engine for it.
            assert await make_worker(own).run_once()
            done = await task_of(http, tester, task_id)
            assert done["status"] == "completed" and len(done["response"]) == 4
            assert done["live"] is False and done["consumed_credits"] == 0
            pricing = (await http.get("/v1/pricing", headers=tester.headers)).json()["data"]
            assert pricing["charged"] is False and pricing["price_formula"] == "0"
            assert pricing["modes"]["fun"]["seed"] is True  # preview's options, not xAI's
            # Test tasks are the account's tasks: its live key sees them too.
            assert (await task_of(http, customer, task_id))["live"] is False
    finally:
        await own.close()


async def test_test_keys_have_their_own_rate_limit_window(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    tester = await make_test_key(services, customer)
    for _ in range(3):
        await client.get("/v1/pricing", headers=tester.headers)
    test_view = await account_of(client, tester)
    live_view = await account_of(client, customer)
    assert test_view["key"]["kind"] == "test"
    assert test_view["rate_limit"]["remaining"] == 96
    assert live_view["rate_limit"]["remaining"] == 99
