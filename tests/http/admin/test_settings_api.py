"""Business settings in the database, over the admin API: seeded from the environment once,
validated as start-up validates them, versioned, audited, and picked up by every process."""

from __future__ import annotations

import json

import httpx

from grokimagine.domain.operator import business_settings
from grokimagine.services import Services
from grokimagine.settings import Settings
from tests.helpers.admin import admin_headers, app_with, audit_actions, balance, data, error
from tests.helpers.customers import Customer, make_customer

BODY = {"mode": "fun", "prompt": "a lighthouse at dusk", "ratio": "1:1"}
CHEAP = {"default": {"480p": {"per_second": 1}, "720p": {"per_second": 2}}}


async def _put(client, headers, current: dict, **changes) -> httpx.Response:
    return await client.put(
        "/admin/v1/settings",
        json={
            "settings": {**current["settings"], **changes},
            "based_on": current["version"],
            "note": "test",
        },
        headers=headers,
    )


async def test_the_environment_seeds_version_1_and_never_again(
    settings: Settings, services: Services
) -> None:
    table = {"default": {"480p": {"per_second": 7}, "720p": {"per_second": 9}}}
    async with app_with(
        settings, pricing_table=json.dumps(table), console_signup="open", console_starter_credits=25
    ) as (own, client):
        headers = await admin_headers(own)
        first = data(await client.get("/admin/v1/settings", headers=headers))
        assert first["version"] == 1 and first["actor"] == "env"
        assert first["settings"]["price_table"] == table
        assert (first["settings"]["signup"], first["settings"]["starter_credits"]) == ("open", 25)
    # A restart with other variables: the database wins.
    async with app_with(settings, console_signup="closed") as (own, client):
        again = data(await client.get("/admin/v1/settings", headers=headers))
        assert again["version"] == 1 and again["settings"]["signup"] == "open"
        assert own.settings.console.signup == "open"  # what the sign-up page reads


async def test_a_price_change_prices_new_tasks_only(
    client: httpx.AsyncClient, services: Services, customer: Customer
) -> None:
    headers = await admin_headers(services)
    old_quote = data(await client.post("/v1/quote", json=BODY, headers=customer.headers))
    assert old_quote["price"] == 40
    task_id = data(await client.post("/v1/generate", json=BODY, headers=customer.headers))[
        "task_id"
    ]
    current = data(await client.get("/admin/v1/settings", headers=headers))

    saved = data(await _put(client, headers, current, price_table=CHEAP))

    assert saved["version"] == current["version"] + 1
    assert data(await client.post("/v1/quote", json=BODY, headers=customer.headers))["price"] == 6
    assert data(await client.get("/admin/v1/pricing", headers=headers))["table"]["default"][
        "480p"
    ] == {"base": 0, "per_second": 1}
    # The task charged before keeps its price: canceling it refunds exactly that.
    canceled = data(await client.post(f"/v1/tasks/{task_id}/cancel", headers=customer.headers))
    assert canceled["money"]["price"] == 40 and canceled["money"]["refunded"] == 40
    assert await balance(services, customer.account_id) == 400
    [entry] = [a for a in await audit_actions(services) if a[1] == "settings.change"]
    assert entry[2] == str(saved["version"])
    log = data(await client.get("/admin/v1/audit?action=settings.change", headers=headers))
    [change] = log["entries"]
    assert change["before"]["price_table"] is None and change["after"]["price_table"] == CHEAP
    history = data(await client.get("/admin/v1/settings/versions", headers=headers))["versions"]
    assert [v["version"] for v in history] == [saved["version"], current["version"]]


async def test_invalid_values_are_refused_as_start_up_refuses_them(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await admin_headers(services)
    current = data(await client.get("/admin/v1/settings", headers=headers))
    cases = [
        ({"price_table": {"default": {"480p": {"per_second": 1}}}}, "no rule for 720p"),
        ({"price_table": {"default": {}, "bogus": 1}}, "unknown key 'bogus'"),
        ({"plans": {"studio": {"allow_spicy": True}}}, "requests_per_minute: missing"),
        ({"plan_limits": {"platinum": 5}}, "unknown plan 'platinum'"),
        ({"fetch_allowlist": ["not a host!"]}, "allow"),
        ({"retention_days": {"free": 0}}, "between 1 and"),
        ({"retention_days": {"gold": 3}}, "unknown plan 'gold'"),
        ({"signup": "sometimes"}, "signup"),
        ({"starter_credits": -1}, "starter_credits"),
    ]
    for change, message in cases:
        refused = error(await _put(client, headers, current, **change), 400, "INVALID_REQUEST")
        assert message in refused["message"], (change, refused)
    assert data(await client.get("/admin/v1/settings", headers=headers))["version"] == 1
    assert not [a for a in await audit_actions(services) if a[1] == "settings.change"]


async def test_a_change_based_on_an_old_version_is_refused(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await admin_headers(services)
    current = data(await client.get("/admin/v1/settings", headers=headers))
    data(await _put(client, headers, current, starter_credits=10))
    stale = error(await _put(client, headers, current, starter_credits=20), 409, "SETTINGS_CHANGED")
    assert "reload" in stale["message"]
    now = data(await client.get("/admin/v1/settings", headers=headers))
    assert (now["version"], now["settings"]["starter_credits"]) == (2, 10)


async def test_another_process_picks_up_the_new_version(
    settings: Settings, services: Services, client: httpx.AsyncClient
) -> None:
    customer = await make_customer(services)
    headers = await admin_headers(services)
    async with app_with(settings) as (other, other_client):
        assert (
            data(await other_client.post("/v1/quote", json=BODY, headers=customer.headers))["price"]
            == 40
        )
        current = data(await client.get("/admin/v1/settings", headers=headers))
        data(await _put(client, headers, current, price_table=CHEAP))
        # The other process checks every few seconds; forced here rather than waited for.
        assert await business_settings.refresh_business_settings(other, force=True)
        assert (
            data(await other_client.post("/v1/quote", json=BODY, headers=customer.headers))["price"]
            == 6
        )
