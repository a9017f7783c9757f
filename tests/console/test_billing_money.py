"""The Billing page's money in, and /admin/money, over HTTP (no Stripe configured here)."""

from __future__ import annotations

import re

import pytest

from grokimagine.domain.billing.usage import account_balance
from grokimagine.domain.purchases.redemption_codes import list_batches
from grokimagine.services import Services
from tests.helpers.console import make_user, sign_in

MINTED = re.compile(r'<textarea id="minted-codes"[^>]*>([^<]+)</textarea>')


@pytest.mark.both_databases
async def test_without_stripe_billing_offers_codes_only_and_says_how(
    services: Services, browser_like
):
    customer = await make_user(services, credits=0)
    http = browser_like()
    await sign_in(http, customer)

    page = await http.get("/console/billing")

    assert page.status_code == 200
    assert "Card payments are not available here" in page.text
    assert "redeem a code" in page.text
    assert 'action="/console/billing/redeem"' in page.text
    assert "/console/billing/checkout" not in page.text
    # Posting a checkout anyway is refused with the same explanation, nothing charged.
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]
    tried = await http.post(
        "/console/billing/checkout", data={"csrf_token": csrf, "pack_id": "pack_x"}
    )
    assert tried.status_code == 303
    assert "not+set+up" in tried.headers["location"]


async def test_operator_mints_a_code_and_a_customer_redeems_it(services: Services, browser_like):
    operator = await make_user(services, admin=True)
    ops = browser_like()
    ops_csrf = await sign_in(ops, operator)
    order = {"csrf_token": ops_csrf, "count": "2", "credits": "1,000", "uses": "1", "note": "<b>"}
    minted = await ops.post("/admin/money/codes", data={**order, "confirm": "yes"})
    # Post, redirect, get: the page after the redirect shows the codes, this once.
    assert minted.status_code == 303, minted.text
    shown = await ops.get(minted.headers["location"])
    codes = MINTED.search(shown.text)[1].split("\n")
    assert len(codes) == 2 and "&lt;b&gt;" in shown.text
    [batch] = await list_batches(services.db)
    assert f"Batch {batch['batch']} minted." in shown.text
    reloaded = await ops.get(minted.headers["location"])
    assert reloaded.status_code == 200 and "minted-codes" not in reloaded.text
    assert not any(code in reloaded.text for code in codes)
    assert [b["codes"] for b in await list_batches(services.db)] == [2]  # nothing minted again
    refused = await ops.post(
        "/admin/money/codes", data={"csrf_token": ops_csrf, "count": "1", "credits": "lots"}
    )
    assert "whole+number" in refused.headers["location"]
    out_of_bounds = await ops.post(
        "/admin/money/codes", data={"csrf_token": ops_csrf, "count": "5000", "credits": "10"}
    )
    assert "count+must+be" in out_of_bounds.headers["location"]  # named before any question

    customer = await make_user(services, credits=0)
    http = browser_like()
    csrf = await sign_in(http, customer)
    redeemed = await http.post(
        "/console/billing/redeem", data={"csrf_token": csrf, "code": codes[0]}
    )
    again = await http.post("/console/billing/redeem", data={"csrf_token": csrf, "code": codes[0]})
    forged = await http.post("/console/billing/redeem", data={"csrf_token": "x", "code": codes[1]})

    assert "1%2C000+credits+added" in redeemed.headers["location"]
    assert "already+redeemed" in again.headers["location"]
    assert forged.status_code == 403
    assert await account_balance(services.db, customer.account_id) == 1000
    shown = await http.get(redeemed.headers["location"])
    assert "Code redeemed: 1,000 credits added." in shown.text
    # Customers do not see the operator's page.
    assert (await http.get("/admin/money")).status_code == 404


async def test_operator_adds_a_pack_and_takes_it_off_sale(services: Services, browser_like):
    operator = await make_user(services, admin=True)
    ops = browser_like()
    csrf = await sign_in(ops, operator)
    added = await ops.post(
        "/admin/money/packs",
        data={
            "csrf_token": csrf,
            "name": "Starter",
            "credits": "1000",
            "price": "10.5",
            "confirm": "yes",
        },
    )
    assert "on+sale" in added.headers["location"]
    page = await ops.get("/admin/money")
    assert "10.50 USD" in page.text and "Stripe is not configured" in page.text
    pack_id = re.search(r"/admin/money/packs/(pack_[^/]+)/sale", page.text)[1]
    off = await ops.post(
        f"/admin/money/packs/{pack_id}/sale",
        data={"csrf_token": csrf, "active": "0", "confirm": "yes"},
    )
    assert "off+sale" in off.headers["location"]
    bad = await ops.post(
        "/admin/money/packs",
        data={"csrf_token": csrf, "name": "X", "credits": "10", "price": "1.234"},
    )
    assert "Pack+not+created" in bad.headers["location"]
