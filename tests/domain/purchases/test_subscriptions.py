"""Plan subscriptions through Stripe, on SQLite and PostgreSQL: real localstripe (its
subscriptions, invoices and own signed webhooks) behind the strict Checkout fake.

The invariants: a paid invoice renews the plan and grants its monthly credits once, whatever
the deliveries (replays, concurrent ones, ``invoice.paid`` and ``invoice.payment_succeeded``
for one invoice, the invoice before the checkout); a canceled or unpaid subscription moves the
account back to the free plan, and late events do not move it again.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from grokimagine.domain.accounts.accounts import get_account
from grokimagine.domain.accounts.audit import CLI, audit_page
from grokimagine.domain.billing.credits import ledger_sum
from grokimagine.domain.billing.plan_grants import grant_monthly_credits
from grokimagine.domain.billing.plans import plan_catalog
from grokimagine.domain.billing.usage import account_balance, ledger_entries
from grokimagine.domain.purchases.checkout import stripe_session
from grokimagine.domain.purchases.plan_prices import set_plan_price
from grokimagine.domain.purchases.subscriptions import (
    SubscriptionExistsError,
    cancel_subscription,
    start_subscription,
)
from grokimagine.services import Services
from grokimagine.settings import Settings
from grokimagine.storage.schema import subscription_invoices, subscriptions
from tests.helpers.customers import Customer, make_customer
from tests.helpers.localstripe_server import run_localstripe
from tests.helpers.stripe_checkout_fake import FakeStripe, SentEvent, run_fake_stripe, sign

WEBHOOK_SECRET = "whsec_test_" + "s" * 24
SECRET_KEY = "sk_test_grokimagine"
PRO_CREDITS = 2000


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
    """Stripe pointed at the fake; the pro plan grants 2,000 credits a month."""
    return settings.replace(
        stripe_secret_key=SECRET_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=fake_stripe.base_url,
        plans={"pro": {"monthly_credits": PRO_CREDITS}},
    )


async def deliver(client: httpx.AsyncClient, event: SentEvent) -> httpx.Response:
    """Deliver ``event`` as Stripe does, signed now."""
    return await client.post(
        "/webhooks/stripe",
        content=event.body,
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": sign(event.body, WEBHOOK_SECRET),
        },
    )


async def result_of(client: httpx.AsyncClient, event: SentEvent) -> str:
    answer = await deliver(client, event)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]["result"]


async def wait_for_event(fake: FakeStripe, kind: str, mentions: str) -> SentEvent:
    """The event of ``kind`` whose body mentions ``mentions`` (localstripe sends its own a
    second or so after the fact; generous timeout, polled)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for event in list(fake.events):
            if event.type == kind and mentions in event.body.decode():
                return event
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {kind} event about {mentions}")


def data_of(event: SentEvent) -> dict:
    return json.loads(event.body)["data"]["object"]


async def subscribe(
    services: Services, fake: FakeStripe, customer: Customer
) -> tuple[str, SentEvent, SentEvent]:
    """Subscribe to pro through Checkout and pay; our row id, the session's completed event and
    localstripe's ``invoice.payment_succeeded`` (neither delivered yet)."""
    await set_plan_price(
        services.db, CLI, plan_catalog(services.settings), "pro", unit_amount=2000, currency="usd"
    )
    checkout = await start_subscription(
        services.db,
        services.settings,
        plan_catalog(services.settings),
        customer.account_id,
        "pro",
        success_url="http://testserver/console/billing",
        cancel_url="http://testserver/console/billing",
    )
    paid = await asyncio.to_thread(httpx.post, checkout.url, timeout=30)
    assert paid.status_code == 303, paid.text
    completed = await wait_for_event(fake, "checkout.session.completed", checkout.session_id)
    stripe_id = data_of(completed)["subscription"]
    assert stripe_id.startswith("sub_")
    invoice = await wait_for_event(fake, "invoice.payment_succeeded", stripe_id)
    return checkout.payment_id, completed, invoice


async def plan_of(services: Services, account_id: str) -> str:
    return (await get_account(services.db, account_id)).plan


async def monthly_rows(services: Services, account_id: str) -> list[dict]:
    return [e for e in await ledger_entries(services.db, account_id) if e["reason"] == "monthly"]


async def test_a_paid_invoice_renews_the_plan_and_grants_once(services, client, fake_stripe):
    customer = await make_customer(services, credits=0)
    row_id, completed, invoice = await subscribe(services, fake_stripe, customer)
    invoice_id = data_of(invoice)["id"]

    # The invoice first (Stripe does not promise order): found through the subscription's
    # metadata, read from Stripe.
    assert await result_of(client, invoice) == "applied"
    results = [await result_of(client, invoice) for _ in range(20)]
    concurrent = await asyncio.gather(*(deliver(client, invoice) for _ in range(5)))
    # Stripe sends invoice.paid too, as another event about the same invoice.
    also_paid = fake_stripe.make_event("invoice.paid", data_of(invoice))
    assert await result_of(client, also_paid) == "ignored"
    assert await result_of(client, completed) == "applied"
    assert await result_of(client, completed) == "duplicate"

    assert results == ["duplicate"] * 20
    assert [a.json()["data"]["result"] for a in concurrent] == ["duplicate"] * 5
    assert await plan_of(services, customer.account_id) == "pro"
    assert await account_balance(services.db, customer.account_id) == PRO_CREDITS
    async with services.db.read() as conn:
        assert await ledger_sum(conn, customer.account_id) == PRO_CREDITS
    rows = await monthly_rows(services, customer.account_id)
    assert len(rows) == 1 and invoice_id in rows[0]["note"] and row_id in rows[0]["note"]
    count = await services.db.fetch_one(
        select(func.count())
        .select_from(subscription_invoices)
        .where(subscription_invoices.c.subscription_id == row_id)
    )
    assert count[0] == 1
    sub = await services.db.fetch_one(select(subscriptions).where(subscriptions.c.id == row_id))
    assert (
        sub.status == "active" and sub.stripe_subscription_id == data_of(completed)["subscription"]
    )
    audit = await audit_page(services.db, limit=10, action="subscription.invoice_paid")
    assert [e["target_id"] for e in audit.entries] == [customer.account_id]
    # The calendar month's grant skips an account whose plan is paid by invoice.
    assert await grant_monthly_credits(services.db, plan_catalog(services.settings)) == 0
    assert await account_balance(services.db, customer.account_id) == PRO_CREDITS
    # One running subscription at a time.
    with pytest.raises(SubscriptionExistsError):
        await start_subscription(
            services.db,
            services.settings,
            plan_catalog(services.settings),
            customer.account_id,
            "enterprise",
            success_url="http://testserver/x",
            cancel_url="http://testserver/x",
        )


async def test_cancel_downgrades_once_and_late_events_do_not_upgrade(services, client, fake_stripe):
    customer = await make_customer(services, credits=0)
    row_id, completed, invoice = await subscribe(services, fake_stripe, customer)
    assert await result_of(client, completed) == "applied"
    assert await result_of(client, invoice) == "applied"
    stripe_id = data_of(completed)["subscription"]

    ends = await cancel_subscription(services.db, services.settings, customer.account_id)
    # Canceled at the period's end: the plan runs on until Stripe ends the subscription.
    assert ends is not None and ends.timestamp() > time.time() + 20 * 86400
    sub = await services.db.fetch_one(select(subscriptions).where(subscriptions.c.id == row_id))
    assert sub.status == "active" and sub.cancels_at == ends
    assert await plan_of(services, customer.account_id) == "pro"
    # Resumed in Stripe's dashboard, then canceled again: the row follows Stripe's word.
    resumed = {"id": stripe_id, "object": "subscription", "status": "active"}
    resumed["cancel_at_period_end"] = False
    assert (
        await result_of(client, fake_stripe.make_event("customer.subscription.updated", resumed))
        == "applied"
    )
    sub = await services.db.fetch_one(select(subscriptions).where(subscriptions.c.id == row_id))
    assert sub.cancels_at is None
    again = {**resumed, "cancel_at_period_end": True, "current_period_end": int(ends.timestamp())}
    assert (
        await result_of(client, fake_stripe.make_event("customer.subscription.updated", again))
        == "applied"
    )
    sub = await services.db.fetch_one(select(subscriptions).where(subscriptions.c.id == row_id))
    assert sub.cancels_at == ends
    async with stripe_session(services.settings.stripe) as stripe_api:
        remote = await stripe_api.v1.subscriptions.retrieve_async(stripe_id)
        assert remote.cancel_at_period_end is True
        await stripe_api.v1.subscriptions.cancel_async(stripe_id)  # the period ends
    deleted = await wait_for_event(fake_stripe, "customer.subscription.deleted", stripe_id)
    assert await result_of(client, deleted) == "applied"
    assert [await result_of(client, deleted) for _ in range(3)] == ["duplicate"] * 3
    assert await plan_of(services, customer.account_id) == "free"

    # Late: the checkout's event again (a new delivery id) and a renewal paid before the end.
    late_session = fake_stripe.make_event("checkout.session.completed", data_of(completed))
    assert await result_of(client, late_session) == "ignored"
    renewal = {**data_of(invoice), "id": "in_late_renewal_" + row_id[-6:]}
    assert await result_of(client, fake_stripe.make_event("invoice.paid", renewal)) == "applied"
    assert await plan_of(services, customer.account_id) == "free"
    # That month was paid for: its credits came, once per invoice.
    assert await account_balance(services.db, customer.account_id) == 2 * PRO_CREDITS
    async with services.db.read() as conn:
        assert await ledger_sum(conn, customer.account_id) == 2 * PRO_CREDITS
    sub = await services.db.fetch_one(select(subscriptions).where(subscriptions.c.id == row_id))
    assert sub.status == "canceled" and sub.ended_at is not None
    audit = await audit_page(services.db, limit=10, action="account.plan")
    assert [e["after"]["plan"] for e in audit.entries] == ["free", "pro"]


async def test_an_unpaid_subscription_downgrades_after_the_last_retry_only(
    services, client, fake_stripe
):
    customer = await make_customer(services, credits=0)
    row_id, completed, invoice = await subscribe(services, fake_stripe, customer)
    assert await result_of(client, invoice) == "applied"
    failed = {
        **data_of(invoice),
        "id": "in_failing_" + row_id[-6:],
        "status": "open",
        "amount_paid": 0,
        "next_payment_attempt": int(time.time()) + 3 * 86400,
    }

    retrying = fake_stripe.make_event("invoice.payment_failed", failed)
    assert await result_of(client, retrying) == "ignored"
    assert await plan_of(services, customer.account_id) == "pro"

    last = fake_stripe.make_event(
        "invoice.payment_failed", {**failed, "next_payment_attempt": None}
    )
    assert await result_of(client, last) == "applied"
    assert await plan_of(services, customer.account_id) == "free"
    # Stripe's status change says the same: nothing more happens.
    unpaid = fake_stripe.make_event(
        "customer.subscription.updated",
        {"id": data_of(completed)["subscription"], "object": "subscription", "status": "unpaid"},
    )
    assert await result_of(client, unpaid) == "ignored"

    # The customer pays the open invoice: the plan is back, its credits granted.
    recovered = fake_stripe.make_event(
        "invoice.paid", {**failed, "status": "paid", "amount_paid": 2000}
    )
    assert await result_of(client, recovered) == "applied"
    assert await plan_of(services, customer.account_id) == "pro"
    assert await account_balance(services.db, customer.account_id) == 2 * PRO_CREDITS
    # A failure of that invoice delivered late changes nothing now.
    assert (
        await result_of(
            client,
            fake_stripe.make_event(
                "invoice.payment_failed", {**failed, "next_payment_attempt": None}
            ),
        )
        == "ignored"
    )
    assert await plan_of(services, customer.account_id) == "pro"


async def test_events_of_other_subscriptions_are_ignored(services, client, fake_stripe):
    customer = await make_customer(services, credits=0)
    stranger = fake_stripe.make_event(
        "invoice.paid",
        {
            "id": "in_not_ours",
            "object": "invoice",
            "subscription": "sub_not_ours",
            "status": "paid",
            "amount_paid": 500,
            "currency": "usd",
        },
    )
    assert await result_of(client, stranger) == "ignored"
    assert await account_balance(services.db, customer.account_id) == 0


async def test_concurrent_deliveries_of_both_paid_events_grant_once(services, client, fake_stripe):
    customer = await make_customer(services, credits=0)
    _, completed, invoice = await subscribe(services, fake_stripe, customer)
    assert await result_of(client, completed) == "applied"
    also_paid = fake_stripe.make_event("invoice.paid", data_of(invoice))

    answers = await asyncio.gather(*(deliver(client, event) for event in [invoice, also_paid] * 5))

    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert sorted(a.json()["data"]["result"] for a in answers).count("applied") == 1
    assert await account_balance(services.db, customer.account_id) == PRO_CREDITS
    async with services.db.read() as conn:
        assert await ledger_sum(conn, customer.account_id) == PRO_CREDITS
    assert len(await monthly_rows(services, customer.account_id)) == 1
