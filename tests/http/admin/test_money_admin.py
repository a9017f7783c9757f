"""The admin API of money in: packs and codes, audited; API keys refused."""

from __future__ import annotations

from grokimagine.domain.accounts.admin_keys import create_admin_key
from grokimagine.domain.accounts.audit import CLI, audit_page
from tests.helpers.customers import make_customer


async def test_packs_and_codes_are_made_and_audited(services, client):
    made = await create_admin_key(services.db, CLI, "ops")
    admin = {"Authorization": f"Bearer {made.token}"}

    created = await client.post(
        "/admin/v1/credit-packs",
        json={"name": "Starter", "credits": 1000, "price_minor": 1000, "currency": "USD"},
        headers=admin,
    )
    pack = created.json()["data"]
    changed = await client.patch(
        f"/admin/v1/credit-packs/{pack['id']}", json={"active": False}, headers=admin
    )
    minted = await client.post(
        "/admin/v1/redemption-codes", json={"count": 3, "credits": 50, "uses": 2}, headers=admin
    )
    batches = await client.get("/admin/v1/redemption-codes", headers=admin)
    listed = await client.get("/admin/v1/credit-packs", headers=admin)

    assert created.status_code == 200, created.text
    assert pack["price"] == "10.00 USD" and pack["currency"] == "usd" and pack["active"]
    assert changed.json()["data"]["active"] is False
    codes = minted.json()["data"]["codes"]
    assert len(set(codes)) == 3 and all(code.startswith("GI-") for code in codes)
    assert batches.json()["data"]["batches"][0]["codes"] == 3
    assert [p["id"] for p in listed.json()["data"]["packs"]] == [pack["id"]]
    actions = [e["action"] for e in (await audit_page(services.db, limit=10)).entries]
    assert actions[:3] == ["codes.mint", "pack.update", "pack.create"]


async def test_bad_packs_are_400_and_api_keys_are_refused(services, client):
    made = await create_admin_key(services.db, CLI, "ops")
    admin = {"Authorization": f"Bearer {made.token}"}
    for body in (
        {"name": "", "credits": 1, "price_minor": 100},
        {"name": "x", "credits": 0, "price_minor": 100},
        {"name": "x", "credits": 1, "price_minor": 10},
        {"name": "x", "credits": 1, "price_minor": 100, "currency": "1$a"},
        {"name": "x", "credits": 1, "price_minor": 100.5},
    ):
        answer = await client.post("/admin/v1/credit-packs", json=body, headers=admin)
        assert answer.status_code == 400, (body, answer.text)
    missing = await client.patch(
        "/admin/v1/credit-packs/pack_nope", json={"active": True}, headers=admin
    )
    assert missing.status_code == 404 and missing.json()["error"] == "PACK_NOT_FOUND"
    customer = await make_customer(services)
    refused = await client.get("/admin/v1/credit-packs", headers=customer.headers)
    assert refused.status_code == 401
