"""Quotes before charges: POST /v1/quote validates like generate and answers the price; the
charge equals the quote and a refund gives back exactly the charge, on both databases."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from grokimagine.domain.accounts import accounts
from grokimagine.domain.accounts.audit import CLI
from grokimagine.domain.billing.price_table import PriceTableError
from grokimagine.domain.operator import business_settings
from grokimagine.domain.operator.business_settings import check_business_settings
from grokimagine.services import Services
from grokimagine.settings import Settings
from grokimagine.storage.schema import tasks
from tests.helpers.admin import admin_headers, app_with, balance, data, error, ledger_total
from tests.helpers.api import data_uri, generated, mp4_bytes
from tests.helpers.customers import Customer, make_customer, make_worker

REFERENCE = {"mode": "fun", "prompt": "a beautiful landscape with mountains", "ratio": "1:1"}


async def task_count(services: Services) -> int:
    row = await services.db.fetch_one(select(func.count()).select_from(tasks))
    return int(row[0]) if row is not None else 0


async def generate(client: httpx.AsyncClient, customer: Customer, body: dict) -> str:
    return data(await client.post("/v1/generate", json=body, headers=customer.headers))["task_id"]


async def test_the_reference_request_is_quoted_and_charged_40_and_refunded_40(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    quote = data(await client.post("/v1/quote", json=REFERENCE, headers=customer.headers))
    assert quote == {
        "price": 40,
        "credits_per_video": 40,
        "n": 1,
        "duration": 6,
        "resolution": "480p",
        "charged": True,
        "balance": 400,
        "affordable": True,
    }
    assert await task_count(services) == 0 and await balance(services, customer.account_id) == 400

    task_id = await generate(client, customer, REFERENCE)
    assert await balance(services, customer.account_id) == 360
    status = data(await client.get(f"/v1/status?task_id={task_id}", headers=customer.headers))
    assert status["consumed_credits"] == 40 and "money" not in status  # the reference body
    money = data(await client.get(f"/v1/tasks/{task_id}", headers=customer.headers))["money"]
    assert (money["price"], money["charged"], money["refunded"]) == (40, 40, 0)
    assert [(row["reason"], row["delta"]) for row in money["ledger"]] == [("reserve", -40)]

    canceled = data(await client.post(f"/v1/tasks/{task_id}/cancel", headers=customer.headers))
    assert canceled["money"]["refunded"] == 40 and canceled["money"]["price"] == 40
    assert [(r["reason"], r["delta"]) for r in canceled["money"]["ledger"]] == [
        ("reserve", -40),
        ("refund", 40),
    ]
    assert await balance(services, customer.account_id) == 400
    assert await ledger_total(services, customer.account_id) == 400


async def test_a_10_s_720p_video_costs_what_the_table_says_and_quote_charge_refund_agree(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    body = {**REFERENCE, "duration": 10, "resolution": "720p", "n": 2}
    quote = data(await client.post("/v1/quote", json=body, headers=customer.headers))
    assert quote["price"] == 2 * 94 and quote["credits_per_video"] == 94
    task_id = await generate(client, customer, body)
    assert await balance(services, customer.account_id) == 400 - 188
    money = data(await client.get(f"/v1/tasks/{task_id}", headers=customer.headers))["money"]
    assert money["price"] == money["charged"] == quote["price"]
    data(await client.post(f"/v1/tasks/{task_id}/cancel", headers=customer.headers))
    money = data(await client.get(f"/v1/tasks/{task_id}", headers=customer.headers))["money"]
    assert money["refunded"] == money["charged"] == 188
    assert await balance(services, customer.account_id) == 400

    # Too dear now: the quote says so, and generate refuses without charging.
    dear = {**body, "n": 4}
    quote = data(await client.post("/v1/quote", json=dear, headers=customer.headers))
    assert quote["price"] == 376 and quote["affordable"] is True
    await generate(client, customer, dear)
    quote = data(await client.post("/v1/quote", json=dear, headers=customer.headers))
    assert quote["affordable"] is False and quote["balance"] == 24
    refused = await client.post("/v1/generate", json=dear, headers=customer.headers)
    error(refused, 402, "INSUFFICIENT_CREDITS")
    assert await balance(services, customer.account_id) == 24


async def test_an_admin_refund_of_a_completed_task_returns_exactly_its_charge(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    body = {**REFERENCE, "duration": 2, "resolution": "720p"}
    price = data(await client.post("/v1/quote", json=body, headers=customer.headers))["price"]
    assert price == 4 + 9 * 2
    task_id = await generate(client, customer, body)
    assert await make_worker(services).run_once()
    operator = await admin_headers(services)
    refund = data(await client.post(f"/admin/v1/tasks/{task_id}/refund", headers=operator))
    assert refund == {"task_id": task_id, "refunded": price}
    task = data(await client.get(f"/v1/tasks/{task_id}", headers=customer.headers))
    assert task["status"] == "completed" and task["consumed_credits"] == 0
    assert (task["money"]["charged"], task["money"]["refunded"]) == (price, price)
    assert await balance(services, customer.account_id) == 400


async def test_a_custom_table_prices_by_engine_and_tier_and_never_reprices_old_tasks(
    settings: Settings, services: Services
) -> None:
    table = {
        "default": {"480p": {"per_second": 5}, "720p": {"tiers": {"6": 70, "10": 110}}},
        "engines": {"preview": {"480p": {"base": 10, "per_second": "2.5"}}},
    }
    async with app_with(settings, pricing_table=json.dumps(table)) as (own, client):
        customer = await make_customer(own, credits=1000)
        body = {**REFERENCE, "duration": 3}
        # The preview engine serves this account: its own 480p rule, rounded up.
        quote = data(await client.post("/v1/quote", json=body, headers=customer.headers))
        assert quote["price"] == 18  # 10 + 7.5
        early = await generate(client, customer, body)
        tiered = {**REFERENCE, "resolution": "720p", "duration": 7}
        assert (
            data(await client.post("/v1/quote", json=tiered, headers=customer.headers))["price"]
            == 110
        )
        over = await client.post(
            "/v1/quote", json={**tiered, "duration": 10, "n": 1}, headers=customer.headers
        )
        assert data(over)["price"] == 110
        pricing = data(await client.get("/v1/pricing", headers=customer.headers))
        assert pricing["modes"]["fun"]["prices"]["480p"] == {"base": 10, "per_second": 2.5}
        assert "engines" not in pricing["table"]  # engine names stay private
    assert await balance(services, customer.account_id) == 1000 - 18

    # The operator changes the table (in the database: the environment only seeded it); the
    # task already submitted keeps its price and refund.
    cheaper = {"default": {"480p": {"per_second": 1}, "720p": {"per_second": 1}}}
    async with app_with(settings) as (own, client):
        await business_settings.refresh_business_settings(own, force=True)
        in_force = await business_settings.current_version(own.db)
        await business_settings.change_business_settings(
            own,
            CLI,
            in_force.values.model_copy(update={"price_table": cheaper}),
            based_on=in_force.version,
        )
        assert (
            data(await client.post("/v1/quote", json=body, headers=customer.headers))["price"] == 3
        )
        canceled = data(await client.post(f"/v1/tasks/{early}/cancel", headers=customer.headers))
        assert canceled["money"]["price"] == 18 and canceled["money"]["refunded"] == 18
    assert await balance(services, customer.account_id) == 1000


async def test_a_table_without_a_tier_for_a_duration_the_engines_accept_refuses_the_start(
    settings: Settings,
) -> None:
    # The preview engine accepts 1 to 10 s: a table whose tiers stop at 6 s cannot price 7 s,
    # so the app does not start (issue 21), rather than refusing those requests one by one.
    table = {"default": {"480p": {"tiers": {"6": 40}}, "720p": {"tiers": {"6": 60}}}}
    bad = settings.replace(pricing_table=json.dumps(table))
    with pytest.raises(PriceTableError, match="no price for a 7 s video at 480p on preview"):
        check_business_settings(bad)  # what create_app, serve and worker call first


async def test_quote_refuses_exactly_what_generate_refuses_and_creates_nothing(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    bad_bodies = [
        ({"mode": "fun"}, 400, "INVALID_REQUEST"),
        ({**REFERENCE, "duration": 99}, 400, "INVALID_REQUEST"),
        ({**REFERENCE, "duration": 30}, 400, "INVALID_REQUEST"),  # the engine offers 1-10
        ({**REFERENCE, "resolution": "1080p"}, 400, "INVALID_REQUEST"),
        ({**REFERENCE, "n": 5}, 400, "INVALID_REQUEST"),
        ({**REFERENCE, "mode": "spicy"}, 403, "MODE_NOT_ALLOWED"),
        ({**REFERENCE, "images": ["http://127.0.0.1:9/a.png"]}, 400, "INVALID_REQUEST"),
        ({**REFERENCE, "callback_url": "http://10.0.0.1/hook"}, 400, "INVALID_REQUEST"),
        ({**REFERENCE, "prompt": "<script>alert(1)</script>", "n": "2"}, 400, "INVALID_REQUEST"),
    ]
    for body, status, code in bad_bodies:
        quoted = error(
            await client.post("/v1/quote", json=body, headers=customer.headers), status, code
        )
        generated = error(
            await client.post("/v1/generate", json=body, headers=customer.headers), status, code
        )
        assert quoted["message"] == generated["message"], body
    not_json = await client.post("/v1/quote", content=b"{nope", headers=customer.headers)
    error(not_json, 400, "INVALID_REQUEST")
    error(await client.post("/v1/quote", json=REFERENCE), 401, "UNAUTHORIZED")
    assert await task_count(services) == 0
    assert await balance(services, customer.account_id) == 400


async def test_a_test_key_is_quoted_zero_and_a_spicy_account_is_quoted(
    client: httpx.AsyncClient, services: Services
) -> None:
    spicy = await make_customer(services, allow_spicy=True)
    test_key = await accounts.create_key(services.db, spicy.account_id, live=False)
    headers = {"Authorization": f"Bearer {test_key.token}"}
    quote = data(await client.post("/v1/quote", json=REFERENCE, headers=headers))
    assert (quote["price"], quote["credits_per_video"], quote["charged"]) == (0, 40, False)
    body = {**REFERENCE, "mode": "spicy"}
    assert data(await client.post("/v1/quote", json=body, headers=spicy.headers))["price"] == 40


# An operator's table that differs from the default for both operations (default: an extend by
# 4 s costs 4 + 6 * 4 = 28, an edit of a 480p clip 40).
OPERATOR_TABLE = (
    '{"default": {"480p": {"base": 4, "per_second": 6}, "720p": {"base": 4, "per_second": 9}},'
    ' "extend": {"480p": {"base": 1, "per_second": 5}}, "edit": {"480p": 25}}'
)


@pytest.mark.usefixtures("services")  # an empty database
async def test_extend_and_edit_are_quoted_exactly_what_they_are_charged_under_the_operators_table(
    settings: Settings, tmp_path: Path
) -> None:
    async with app_with(settings, pricing_table=OPERATOR_TABLE) as (services, client):
        customer = await make_customer(services)
        source = data_uri(mp4_bytes(tmp_path))
        for operation, body, expected in (
            ("extend", {"video": source, "prompt": "p", "duration": 4}, 1 + 5 * 4),
            ("edit", {"video": source, "prompt": "p"}, 25),
        ):
            tasks_before = await task_count(services)
            quoted = data(
                await client.post(
                    "/v1/quote", json={**body, "operation": operation}, headers=customer.headers
                )
            )
            assert quoted["price"] == expected and quoted["charged"] is True
            assert await task_count(services) == tasks_before  # a quote creates nothing
            before = await balance(services, customer.account_id)
            response = await client.post(f"/v1/{operation}", json=body, headers=customer.headers)
            assert response.status_code == 200, response.text
            task_id = response.json()["data"]["task_id"]
            money = data(await client.get(f"/v1/tasks/{task_id}", headers=customer.headers))
            assert money["money"]["price"] == money["money"]["charged"] == quoted["price"]
            assert before - await balance(services, customer.account_id) == quoted["price"]


@pytest.mark.usefixtures("services")  # an empty database
async def test_an_extend_of_a_task_is_quoted_from_that_tasks_video(
    settings: Settings, tmp_path: Path
) -> None:
    async with app_with(settings, pricing_table=OPERATOR_TABLE) as (services, client):
        customer = await make_customer(services)
        source_task = await generated(client, services, customer)
        body = {"task_id": source_task, "prompt": "p", "duration": 2}
        quoted = data(
            await client.post(
                "/v1/quote", json={**body, "operation": "extend"}, headers=customer.headers
            )
        )
        assert quoted["price"] == 1 + 5 * 2
        response = await client.post("/v1/extend", json=body, headers=customer.headers)
        task_id = response.json()["data"]["task_id"]
        status = data(await client.get(f"/v1/tasks/{task_id}", headers=customer.headers))
        assert status["money"]["charged"] == quoted["price"]


@pytest.mark.usefixtures("services")  # an empty database
async def test_a_test_key_quotes_an_edit_at_zero(settings: Settings, tmp_path: Path) -> None:
    async with app_with(settings, pricing_table=OPERATOR_TABLE) as (services, client):
        owner = await make_customer(services)
        new_key = await accounts.create_key(services.db, owner.account_id, live=False)
        customer = Customer(owner.account_id, new_key.token, new_key.key.id)
        body = {"video": data_uri(mp4_bytes(tmp_path)), "prompt": "p", "operation": "edit"}
        quoted = data(await client.post("/v1/quote", json=body, headers=customer.headers))
        assert (quoted["price"], quoted["credits_per_video"], quoted["charged"]) == (0, 25, False)


@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [
        (
            {"prompt": "p", "task_id": "task_abc", "duration": 2},
            400,
            "INVALID_REQUEST",
            "operation",
        ),
        (
            {"prompt": "p", "video": "https://example.com/v.mp4"},
            400,
            "INVALID_REQUEST",
            "operation",
        ),
        ({"prompt": "p", "operation": "remix"}, 400, "INVALID_REQUEST", "operation"),
        ({"prompt": "p", "operation": "extend"}, 400, "INVALID_REQUEST", "task_id or video"),
        ({"prompt": "p", "operation": "edit", "task_id": "task_nope"}, 404, "TASK_NOT_FOUND", ""),
    ],
)
async def test_a_body_the_quote_cannot_price_is_refused_never_priced_as_a_generation(
    client: httpx.AsyncClient,
    customer: Customer,
    services: Services,
    body: dict,
    status: int,
    code: str,
    words: str,
) -> None:
    response = await client.post("/v1/quote", json=body, headers=customer.headers)
    assert words in error(response, status, code)["message"]
    assert await task_count(services) == 0
