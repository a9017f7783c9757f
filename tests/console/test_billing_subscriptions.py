"""The Billing page's Stripe actions beyond packs, against localstripe behind the strict
Checkout fake, on SQLite and PostgreSQL: Change plan (the operator prices a plan, a customer
subscribes, the webhook moves the plan, the customer cancels), buying an amount, and turning
auto top-up on with a card saved at checkout."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from grokimagine.domain.accounts.accounts import get_account
from grokimagine.domain.accounts.audit import CLI
from grokimagine.domain.billing.usage import account_balance
from grokimagine.domain.purchases.auto_top_up import get_auto_top_up, sweep_auto_top_ups
from grokimagine.domain.purchases.checkout import stripe_session
from grokimagine.domain.purchases.credit_packs import create_pack
from grokimagine.services import Services
from grokimagine.settings import Settings
from tests.helpers.console import csrf_of, make_user, sign_in
from tests.helpers.localstripe_server import run_localstripe
from tests.helpers.stripe_checkout_fake import FakeStripe, SentEvent, run_fake_stripe, sign

WEBHOOK_SECRET = "whsec_test_" + "c" * 24


@pytest.fixture(scope="module")
def fake_stripe() -> Iterator[FakeStripe]:
    """localstripe (its own webhooks kept) and the Checkout fake in front of it."""
    with (
        run_localstripe() as localstripe_url,
        run_fake_stripe(localstripe_url, WEBHOOK_SECRET, localstripe_events=True) as fake,
    ):
        yield fake


@pytest.fixture
def settings(settings: Settings, fake_stripe: FakeStripe) -> Settings:
    """Stripe pointed at the fake; the pro plan grants 3,000 credits a month."""
    return settings.replace(
        stripe_secret_key="sk_test_console",
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=fake_stripe.base_url,
        plans={"pro": {"monthly_credits": 3000}},
    )


async def wait_for_event(fake: FakeStripe, kind: str, mentions: str) -> SentEvent:
    """localstripe's event of ``kind`` about ``mentions`` (it sends them a second later)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for event in list(fake.events):
            if event.type == kind and mentions in event.body.decode():
                return event
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {kind} event about {mentions}")


async def deliver(http: httpx.AsyncClient, event: SentEvent) -> None:
    answer = await http.post(
        "/webhooks/stripe",
        content=event.body,
        headers={"Stripe-Signature": sign(event.body, WEBHOOK_SECRET)},
    )
    assert answer.status_code == 200, answer.text


@pytest.mark.both_databases
async def test_a_customer_changes_plan_through_stripe_and_cancels(
    services: Services, browser_like, fake_stripe
):
    operator = await make_user(services, admin=True)
    ops = browser_like()
    ops_csrf = await sign_in(ops, operator)
    priced = await ops.post(
        "/admin/money/plan-prices",
        data={
            "csrf_token": ops_csrf,
            "plan": "pro",
            "price": "20",
            "currency": "usd",
            "confirm": "yes",
        },
    )
    assert "monthly+price+is+set" in priced.headers["location"]
    assert "20.00 USD" in (await ops.get("/admin/money")).text

    customer = await make_user(services, credits=0)
    http = browser_like()
    await sign_in(http, customer)
    page = await http.get("/console/billing")
    assert "Change plan" in page.text and "3,000 credits a month" in page.text
    csrf = await csrf_of(http, "/console/billing")
    went = await http.post("/console/billing/subscribe", data={"csrf_token": csrf, "plan": "pro"})
    assert went.status_code == 303 and went.headers["location"].startswith(fake_stripe.base_url)

    paid = await asyncio.to_thread(httpx.post, went.headers["location"], timeout=30)
    assert paid.status_code == 303 and "plan+changes" in paid.headers["location"]
    session_id = went.headers["location"].rsplit("/", 1)[1]
    completed = next(e for e in fake_stripe.events if session_id in e.body.decode())
    stripe_id = json.loads(completed.body)["data"]["object"]["subscription"]
    await deliver(http, completed)
    await deliver(http, await wait_for_event(fake_stripe, "invoice.payment_succeeded", stripe_id))

    assert (await get_account(services.db, customer.account_id)).plan == "pro"
    assert await account_balance(services.db, customer.account_id) == 3000
    page = await http.get("/console/billing")
    assert "You subscribe to the <strong>pro</strong> plan" in page.text
    again = await http.post("/console/billing/subscribe", data={"csrf_token": csrf, "plan": "pro"})
    assert "cancel+it+first" in again.headers["location"]

    canceled = await http.post("/console/billing/cancel-subscription", data={"csrf_token": csrf})
    assert "Subscription+canceled" in canceled.headers["location"]
    assert "your plan ends on" in (await http.get("/console/billing")).text
    assert (await get_account(services.db, customer.account_id)).plan == "pro"
    async with stripe_session(services.settings.stripe) as stripe_api:
        await stripe_api.v1.subscriptions.cancel_async(stripe_id)  # the month paid for ends
    await deliver(
        http, await wait_for_event(fake_stripe, "customer.subscription.deleted", stripe_id)
    )
    assert (await get_account(services.db, customer.account_id)).plan == "free"
    assert await account_balance(services.db, customer.account_id) == 3000
    nothing = await http.post("/console/billing/cancel-subscription", data={"csrf_token": csrf})
    assert "no+subscription" in nothing.headers["location"]


async def test_a_customer_buys_an_amount_the_operator_offers(
    services: Services, browser_like, fake_stripe
):
    operator = await make_user(services, admin=True)
    ops = browser_like()
    ops_csrf = await sign_in(ops, operator)
    offered = await ops.post(
        "/admin/money/credit-amount",
        data={
            "csrf_token": ops_csrf,
            "min_credits": "500",
            "max_credits": "20,000",
            "per_thousand": "10",
            "currency": "usd",
            "active": "1",
            "confirm": "yes",
        },
    )
    assert "set" in offered.headers["location"] and "error" not in offered.headers["location"]

    customer = await make_user(services, credits=0)
    http = browser_like()
    await sign_in(http, customer)
    page = await http.get("/console/billing")
    assert "Buy an amount (500 to 20,000 credits, 10.00 USD per 1,000)" in page.text
    csrf = await csrf_of(http, "/console/billing")
    typo = await http.post(
        "/console/billing/checkout-amount", data={"csrf_token": csrf, "credits": "lots"}
    )
    too_few = await http.post(
        "/console/billing/checkout-amount", data={"csrf_token": csrf, "credits": "10"}
    )
    # A digit to str.isdigit() but not to int(): refused as a typo, not a server error.
    superscript = await http.post(
        "/console/billing/checkout-amount", data={"csrf_token": csrf, "credits": "5²"}
    )
    went = await http.post(
        "/console/billing/checkout-amount", data={"csrf_token": csrf, "credits": "1,500"}
    )

    assert "whole+number" in typo.headers["location"]
    assert "whole+number" in superscript.headers["location"]
    assert "between+500+and+20%2C000" in too_few.headers["location"]
    assert went.status_code == 303 and went.headers["location"].startswith(fake_stripe.base_url)
    pay_page = await asyncio.to_thread(httpx.get, went.headers["location"], timeout=30)
    assert "Pay 15.00 USD" in pay_page.text


@pytest.mark.both_databases
async def test_a_customer_saves_a_card_and_turns_auto_top_up_on(
    services: Services, browser_like, fake_stripe
):
    pack = await create_pack(
        services.db, CLI, name="Refill", credits=1000, price_minor=1000, currency="usd"
    )
    customer = await make_user(services, credits=0)
    http = browser_like()
    await sign_in(http, customer)
    page = await http.get("/console/billing")
    assert "Save my card for auto top-up" in page.text and 'id="auto-top-up"' not in page.text
    csrf = await csrf_of(http, "/console/billing")
    gone = await http.post("/console/billing/checkout", data={"csrf_token": csrf, "pack_id": "x"})
    by_amount = await http.post(
        "/console/billing/checkout-amount", data={"csrf_token": csrf, "credits": "1000"}
    )
    assert "no+longer+on+sale" in gone.headers["location"]
    assert "not+sold+by+the+amount" in by_amount.headers["location"]
    went = await http.post(
        "/console/billing/checkout",
        data={"csrf_token": csrf, "pack_id": pack.id, "save_card": "1"},
    )
    assert (
        await asyncio.to_thread(httpx.post, went.headers["location"], timeout=30)
    ).status_code == 303
    session_id = went.headers["location"].rsplit("/", 1)[1]
    await deliver(http, await wait_for_event(fake_stripe, "checkout.session.completed", session_id))

    page = await http.get("/console/billing")
    assert 'id="auto-top-up"' in page.text
    bad = await http.post(
        "/console/billing/auto-top-up",
        data={"csrf_token": csrf, "threshold": "-5", "pack_id": pack.id, "enabled": "1"},
    )
    superscript = await http.post(
        "/console/billing/auto-top-up",
        data={"csrf_token": csrf, "threshold": "1²", "pack_id": pack.id, "enabled": "1"},
    )
    on = await http.post(
        "/console/billing/auto-top-up",
        data={"csrf_token": csrf, "threshold": "1,500", "pack_id": pack.id, "enabled": "1"},
    )
    assert "whole+number" in bad.headers["location"]
    assert "whole+number" in superscript.headers["location"]
    assert "Auto+top-up+is+on" in on.headers["location"]
    saved = await get_auto_top_up(services.db, customer.account_id)
    assert saved == {
        "enabled": True,
        "threshold": 1500,
        "pack_id": pack.id,
        "card_saved": True,
        "last_payment_id": None,
    }
    # 1,000 credits bought, below 1,500: the worker's sweep starts one top-up.
    assert await sweep_auto_top_ups(services.db, services.settings) == 1
    assert await sweep_auto_top_ups(services.db, services.settings) == 0
    assert await account_balance(services.db, customer.account_id) == 1000
