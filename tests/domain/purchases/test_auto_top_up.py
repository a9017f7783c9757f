"""Auto top-up on SQLite and PostgreSQL: a card saved while buying a pack (localstripe behind
the strict Checkout fake), then off-session charges when the balance falls below the
threshold: one per crossing, however many spends race across it, granted once by localstripe's
own signed ``payment_intent.succeeded``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from grokimagine.domain.accounts.audit import CLI
from grokimagine.domain.billing.credits import deduct_credits, ledger_sum
from grokimagine.domain.billing.usage import account_balance
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.domain.purchases.auto_top_up import (
    get_auto_top_up,
    set_auto_top_up,
    start_top_up,
    sweep_auto_top_ups,
)
from grokimagine.domain.purchases.checkout import start_checkout
from grokimagine.domain.purchases.credit_packs import create_pack
from grokimagine.services import Services
from grokimagine.settings import Settings
from grokimagine.storage.schema import payments
from tests.helpers.customers import make_customer
from tests.helpers.localstripe_server import run_localstripe
from tests.helpers.stripe_checkout_fake import FakeStripe, SentEvent, run_fake_stripe, sign

WEBHOOK_SECRET = "whsec_test_" + "t" * 24


@pytest.fixture(scope="module")
def fake_stripe() -> Iterator[FakeStripe]:
    with (
        run_localstripe() as localstripe_url,
        run_fake_stripe(localstripe_url, WEBHOOK_SECRET, localstripe_events=True) as fake,
    ):
        yield fake


@pytest.fixture
def settings(settings: Settings, fake_stripe: FakeStripe) -> Settings:
    return settings.replace(
        stripe_secret_key="sk_test_topup",
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=fake_stripe.base_url,
    )


async def deliver(client: httpx.AsyncClient, event: SentEvent) -> str:
    answer = await client.post(
        "/webhooks/stripe",
        content=event.body,
        headers={"Stripe-Signature": sign(event.body, WEBHOOK_SECRET)},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]["result"]


async def wait_for_event(fake: FakeStripe, kind: str, mentions: str) -> SentEvent:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for event in list(fake.events):
            if event.type == kind and mentions in event.body.decode():
                return event
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {kind} event about {mentions}")


async def spend(services: Services, account_id: str, credits: int) -> None:
    async with services.db.write() as conn:
        await deduct_credits(conn, account_id, credits, "a generation")


async def test_one_top_up_per_crossing_granted_once(services, client, fake_stripe):
    customer = await make_customer(services, credits=0)
    pack = await create_pack(
        services.db, CLI, name="Refill", credits=1000, price_minor=1000, currency="usd"
    )
    with pytest.raises(InvalidRequestError):  # no card saved yet
        await set_auto_top_up(
            services.db, customer.account_id, enabled=True, threshold=500, pack_id=pack.id
        )
    checkout = await start_checkout(
        services.db,
        services.settings,
        customer.account_id,
        pack.id,
        success_url="http://testserver/b",
        cancel_url="http://testserver/b",
        save_card=True,
    )
    assert (await asyncio.to_thread(httpx.post, checkout.url, timeout=30)).status_code == 303
    completed = await wait_for_event(fake_stripe, "checkout.session.completed", checkout.session_id)
    assert await deliver(client, completed) == "applied"
    assert (await get_auto_top_up(services.db, customer.account_id))["card_saved"]
    await set_auto_top_up(
        services.db, customer.account_id, enabled=True, threshold=500, pack_id=pack.id
    )
    assert await sweep_auto_top_ups(services.db, services.settings) == 0  # 1,000: above

    # Ten spends race across the threshold (1,000 -> 400), each followed by a top-up check.
    async def spend_then_check() -> str | None:
        await spend(services, customer.account_id, 60)
        return await start_top_up(services.db, services.settings, customer.account_id)

    started = [p for p in await asyncio.gather(*(spend_then_check() for _ in range(10))) if p]
    assert await sweep_auto_top_ups(services.db, services.settings) == 0

    assert len(started) == 1
    top_up = await services.db.fetch_one(select(payments).where(payments.c.id == started[0]))
    assert top_up.status == "pending" and top_up.payment_intent_id
    succeeded = await wait_for_event(fake_stripe, "payment_intent.succeeded", started[0])
    results = [await deliver(client, succeeded) for _ in range(5)]
    assert results == ["applied"] + ["duplicate"] * 4
    assert await account_balance(services.db, customer.account_id) == 1400
    async with services.db.read() as conn:
        assert await ledger_sum(conn, customer.account_id) == 1400
    paid = await services.db.fetch_one(select(payments).where(payments.c.id == started[0]))
    assert paid.status == "paid" and paid.credits_granted == 1000

    # Back above the threshold: re-armed by the sweep; the next crossing starts one more.
    assert await sweep_auto_top_ups(services.db, services.settings) == 0
    await spend(services, customer.account_id, 1000)
    assert await sweep_auto_top_ups(services.db, services.settings) == 1
    assert await sweep_auto_top_ups(services.db, services.settings) == 0
