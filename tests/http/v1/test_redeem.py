"""``POST /v1/account/redeem``: a code's credits, once, in the API's error format otherwise."""

from __future__ import annotations

from grokimagine.domain.accounts.audit import CLI
from grokimagine.domain.purchases.redemption_codes import mint_codes
from tests.helpers.customers import make_customer


async def test_a_code_is_redeemed_once_through_the_api(services, client):
    customer = await make_customer(services, credits=0)
    batch = await mint_codes(services.db, CLI, count=1, credits=400)

    first = await client.post(
        "/v1/account/redeem", json={"code": batch.codes[0]}, headers=customer.headers
    )
    again = await client.post(
        "/v1/account/redeem", json={"code": batch.codes[0]}, headers=customer.headers
    )
    account = await client.get("/v1/account", headers=customer.headers)

    assert first.status_code == 200, first.text
    assert first.json()["data"] == {"credits": 400, "balance": 400}
    assert again.status_code == 400
    assert again.json()["error"] == "CODE_NOT_REDEEMABLE"
    assert account.json()["data"]["balance"] == 400


async def test_bad_bodies_and_missing_keys_are_4xx(services, client):
    customer = await make_customer(services, credits=0)
    for body in ({}, {"code": ""}, {"code": 5}, {"code": "GI-X", "extra": 1}, {"code": "x" * 101}):
        answer = await client.post("/v1/account/redeem", json=body, headers=customer.headers)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["error"] == "INVALID_REQUEST"
    broken = await client.post("/v1/account/redeem", content=b"{not json", headers=customer.headers)
    assert broken.status_code == 400
    anonymous = await client.post("/v1/account/redeem", json={"code": "GI-AAAAA"})
    assert anonymous.status_code == 401


async def test_the_stripe_webhook_is_not_an_endpoint_without_stripe(client):
    answer = await client.post(
        "/webhooks/stripe", content=b"{}", headers={"Stripe-Signature": "t=1,v1=00"}
    )
    assert answer.status_code == 404
    assert answer.json()["error"] == "PAYMENTS_NOT_CONFIGURED"
