"""The admin API of plan prices: set, change, list, remove, audited; bad input is a 4xx."""

from __future__ import annotations

from grokimagine.domain.accounts.admin_keys import create_admin_key
from grokimagine.domain.accounts.audit import CLI, audit_page
from tests.helpers.customers import make_customer


async def test_plan_prices_are_set_changed_listed_removed_and_audited(services, client):
    made = await create_admin_key(services.db, CLI, "ops")
    admin = {"Authorization": f"Bearer {made.token}"}

    first = await client.put(
        "/admin/v1/plan-prices/pro", json={"unit_amount": 2000, "currency": "USD"}, headers=admin
    )
    changed = await client.put(
        "/admin/v1/plan-prices/pro", json={"unit_amount": 2500}, headers=admin
    )
    await client.put("/admin/v1/plan-prices/enterprise", json={"unit_amount": 9900}, headers=admin)
    listed = await client.get("/admin/v1/plan-prices", headers=admin)
    removed = await client.delete("/admin/v1/plan-prices/enterprise", headers=admin)
    again = await client.delete("/admin/v1/plan-prices/enterprise", headers=admin)
    after = await client.get("/admin/v1/plan-prices", headers=admin)

    assert first.status_code == 200, first.text
    assert first.json()["data"]["price"] == "20.00 USD"
    assert changed.json()["data"] == {
        "plan": "pro",
        "unit_amount": 2500,
        "currency": "usd",
        "stripe_price_id": None,
        "price": "25.00 USD",
    }
    assert [p["plan"] for p in listed.json()["data"]["plan_prices"]] == ["pro", "enterprise"]
    assert removed.status_code == 200
    assert again.status_code == 404 and again.json()["error"] == "PLAN_PRICE_NOT_FOUND"
    assert [p["plan"] for p in after.json()["data"]["plan_prices"]] == ["pro"]
    entries = (await audit_page(services.db, limit=10)).entries
    assert [e["action"] for e in entries[:4]] == [
        "plan_price.remove",
        "plan_price.set",
        "plan_price.set",
        "plan_price.set",
    ]
    assert (
        entries[2]["before"]["unit_amount"] == 2000 and entries[2]["after"]["unit_amount"] == 2500
    )


async def test_bad_plan_prices_are_4xx_and_api_keys_are_refused(services, client):
    made = await create_admin_key(services.db, CLI, "ops")
    admin = {"Authorization": f"Bearer {made.token}"}
    for plan, body, status in (
        ("pro", {"unit_amount": 10}, 400),
        ("pro", {"unit_amount": 100.5}, 400),
        ("pro", {"unit_amount": 1000, "currency": "1$a"}, 400),
        ("pro", {"unit_amount": 1000, "stripe_price_id": "prod_123"}, 400),
        ("pro", {"unit_amount": 1000, "extra": 1}, 400),
        ("free", {"unit_amount": 1000}, 400),
        ("gold", {"unit_amount": 1000}, 400),
    ):
        answer = await client.put(f"/admin/v1/plan-prices/{plan}", json=body, headers=admin)
        assert answer.status_code == status, (plan, body, answer.text)
        assert answer.json()["error"] in ("INVALID_REQUEST", "UNKNOWN_PLAN", "PLAN_NOT_FOUND")
    customer = await make_customer(services)
    refused = await client.put(
        "/admin/v1/plan-prices/pro", json={"unit_amount": 1000}, headers=customer.headers
    )
    assert refused.status_code in (401, 403)
    assert (await client.get("/admin/v1/plan-prices", headers=admin)).json()["data"] == {
        "plan_prices": []
    }
