"""Buying any number of credits, on SQLite and PostgreSQL, through the same Checkout flow as
packs (real localstripe behind the strict Checkout fake): priced exactly, granted once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from grokimagine.domain.accounts.admin_keys import create_admin_key
from grokimagine.domain.accounts.audit import CLI, audit_page
from grokimagine.domain.billing.credits import ledger_sum
from grokimagine.domain.billing.usage import account_balance
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.domain.purchases.checkout import start_amount_checkout
from grokimagine.domain.purchases.credit_amounts import (
    AmountsNotOnSaleError,
    CreditAmountPrice,
    set_amount_price,
)
from grokimagine.settings import Settings
from grokimagine.storage.schema import payments
from tests.helpers.customers import make_customer
from tests.helpers.localstripe_server import run_localstripe
from tests.helpers.stripe_checkout_fake import FakeStripe, run_fake_stripe, sign

WEBHOOK_SECRET = "whsec_test_" + "a" * 24


@pytest.fixture(scope="module")
def fake_stripe() -> Iterator[FakeStripe]:
    with (
        run_localstripe() as localstripe_url,
        run_fake_stripe(localstripe_url, WEBHOOK_SECRET) as fake,
    ):
        yield fake


@pytest.fixture
def settings(settings: Settings, fake_stripe: FakeStripe) -> Settings:
    return settings.replace(
        stripe_secret_key="sk_test_amounts",
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=fake_stripe.base_url,
    )


def test_the_price_of_an_amount_is_rounded_up_to_the_minor_unit():
    offer = CreditAmountPrice("usd", 1000, 500, 100_000)  # 10.00 USD per 1,000 credits
    assert offer.price_minor(1234) == 1234
    third = CreditAmountPrice("usd", 333, 500, 100_000)
    assert third.price_minor(1000) == 333 and third.price_minor(1001) == 334


async def test_an_amount_is_bought_once_at_the_operators_rate(services, client, fake_stripe):
    customer = await make_customer(services, credits=0)
    urls = {"success_url": "http://testserver/b", "cancel_url": "http://testserver/b"}
    with pytest.raises(AmountsNotOnSaleError):
        await start_amount_checkout(
            services.db, services.settings, customer.account_id, 900, **urls
        )
    await set_amount_price(
        services.db,
        CLI,
        currency="usd",
        price_per_thousand_minor=1000,
        min_credits=500,
        max_credits=50_000,
    )
    for credits in (499, 50_001):
        with pytest.raises(InvalidRequestError):
            await start_amount_checkout(
                services.db, services.settings, customer.account_id, credits, **urls
            )

    checkout = await start_amount_checkout(
        services.db, services.settings, customer.account_id, 1234, **urls
    )
    paid = await asyncio.to_thread(httpx.post, checkout.url, timeout=30)
    assert paid.status_code == 303
    event = next(e for e in fake_stripe.events if checkout.session_id in e.body.decode())
    answers = [
        await client.post(
            "/webhooks/stripe",
            content=event.body,
            headers={"Stripe-Signature": sign(event.body, WEBHOOK_SECRET)},
        )
        for _ in range(5)
    ]

    assert [a.json()["data"]["result"] for a in answers] == ["applied"] + ["duplicate"] * 4
    row = await services.db.fetch_one(select(payments).where(payments.c.id == checkout.payment_id))
    assert (row.amount_minor, row.currency, row.credits, row.pack_id) == (1234, "usd", 1234, None)
    assert await account_balance(services.db, customer.account_id) == 1234
    async with services.db.read() as conn:
        assert await ledger_sum(conn, customer.account_id) == 1234


async def test_the_admin_api_sets_the_offer_audited_and_refuses_bad_ones(services, client):
    made = await create_admin_key(services.db, CLI, "ops")
    admin = {"Authorization": f"Bearer {made.token}"}
    missing = await client.get("/admin/v1/credit-amount", headers=admin)
    body = {"price_per_thousand_minor": 1000, "min_credits": 500, "max_credits": 100_000}
    set_ = await client.put("/admin/v1/credit-amount", json=body, headers=admin)
    shown = await client.get("/admin/v1/credit-amount", headers=admin)

    assert missing.status_code == 404 and missing.json()["error"] == "AMOUNTS_NOT_ON_SALE"
    assert set_.status_code == 200, set_.text
    assert shown.json()["data"]["per_thousand"] == "10.00 USD"
    for bad in (
        {**body, "min_credits": 10},  # 10 credits cost 0.10 USD: under Stripe's floor
        {**body, "min_credits": 2000, "max_credits": 1000},
        {**body, "currency": "dollars"},
        {**body, "price_per_thousand_minor": 0},
        {**body, "surprise": 1},
    ):
        answer = await client.put("/admin/v1/credit-amount", json=bad, headers=admin)
        assert answer.status_code == 400, (bad, answer.text)
    audit = await audit_page(services.db, limit=10, action="credit_amount.set")
    assert len(audit.entries) == 1
