"""Money in through Stripe, on SQLite and PostgreSQL: real localstripe behind the strict
Checkout fake, events delivered to the app's ``POST /webhooks/stripe`` with Stripe's signatures.

The invariants: a payment grants once however often (and however concurrently) its event is
delivered; a tampered, stale or unsigned event changes nothing; a refund or lost dispute takes
the credits back with a ledger row naming the payment, even below zero, and the ledger always
sums to the balance.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from grokimagine.console.app import create_app as create_console_app
from grokimagine.domain.accounts.audit import CLI, audit_page
from grokimagine.domain.billing import credits as credit_ledger
from grokimagine.domain.billing.credits import ledger_sum
from grokimagine.domain.billing.usage import account_balance, ledger_entries
from grokimagine.domain.purchases.checkout import (
    PaymentProviderError,
    PaymentsNotConfiguredError,
    start_checkout,
    stripe_session,
)
from grokimagine.domain.purchases.credit_packs import create_pack
from grokimagine.services import Services
from grokimagine.settings import Settings
from grokimagine.storage.schema import payments, stripe_events
from tests.helpers.console import make_user, sign_in
from tests.helpers.customers import BASE_URL, Customer, make_customer
from tests.helpers.localstripe_server import run_localstripe
from tests.helpers.stripe_checkout_fake import FakeStripe, SentEvent, run_fake_stripe, sign

WEBHOOK_SECRET = "whsec_test_" + "k" * 24
SECRET_KEY = "sk_test_grokimagine"


@pytest.fixture(scope="module")
def fake_stripe() -> Iterator[FakeStripe]:
    """localstripe, and the Checkout fake in front of it (events kept, not sent)."""
    with (
        run_localstripe() as localstripe_url,
        run_fake_stripe(localstripe_url, WEBHOOK_SECRET) as fake,
    ):
        yield fake


@pytest.fixture
def settings(settings: Settings, fake_stripe: FakeStripe) -> Settings:
    """The usual test settings, with Stripe pointed at the fake."""
    return settings.replace(
        stripe_secret_key=SECRET_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=fake_stripe.base_url,
    )


async def _post(client: httpx.AsyncClient, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return await client.post("/webhooks/stripe", content=body, headers=headers)


async def deliver(client: httpx.AsyncClient, event: SentEvent) -> httpx.Response:
    """Deliver ``event`` as Stripe does, signed now."""
    return await _post(client, event.body, sign(event.body, WEBHOOK_SECRET))


async def buy(services: Services, fake: FakeStripe, customer: Customer) -> tuple[str, SentEvent]:
    """Open a checkout for a 1,000-credit pack and pay it on the fake's page; the payment id
    and the ``checkout.session.completed`` event (not yet delivered)."""
    pack = await create_pack(
        services.db, CLI, name="Starter", credits=1000, price_minor=1000, currency="usd"
    )
    checkout = await start_checkout(
        services.db,
        services.settings,
        customer.account_id,
        pack.id,
        success_url="http://testserver/console/billing",
        cancel_url="http://testserver/console/billing",
    )
    paid = await asyncio.to_thread(httpx.post, checkout.url, timeout=30)
    assert paid.status_code == 303, paid.text
    event = next(
        e
        for e in reversed(fake.events)
        if e.type == "checkout.session.completed" and checkout.session_id in e.body.decode()
    )
    return checkout.payment_id, event


async def _intent_of(services: Services, payment_id: str) -> str:
    row = await services.db.fetch_one(
        select(payments.c.payment_intent_id).where(payments.c.id == payment_id)
    )
    assert row is not None and row.payment_intent_id
    return str(row.payment_intent_id)


async def _refund(services: Services, fake: FakeStripe, intent: str, amount: int | None = None):
    """Refund through the Stripe library (as an operator's dashboard would), then the
    ``charge.refunded`` event the fake made for it."""
    before = len(fake.events)
    params: dict = {"payment_intent": intent}
    if amount is not None:
        params["amount"] = amount
    async with stripe_session(services.settings.stripe) as stripe_api:
        refund = await stripe_api.v1.refunds.create_async(params)
    assert refund.status == "succeeded"
    return next(e for e in fake.events[before:] if e.type == "charge.refunded")


async def test_twenty_replays_of_a_paid_checkout_grant_once(services, client, fake_stripe):
    customer = await make_customer(services, credits=0)
    payment_id, event = await buy(services, fake_stripe, customer)

    results = [(await deliver(client, event)).json()["data"]["result"] for _ in range(20)]

    assert results == ["applied"] + ["duplicate"] * 19
    assert await account_balance(services.db, customer.account_id) == 1000
    async with services.db.read() as conn:
        assert await ledger_sum(conn, customer.account_id) == 1000
    purchases = [
        e
        for e in await ledger_entries(services.db, customer.account_id)
        if e["reason"] == "purchase"
    ]
    assert len(purchases) == 1 and payment_id in purchases[0]["note"]
    row = await services.db.fetch_one(select(payments).where(payments.c.id == payment_id))
    assert row.status == "paid" and row.credits_granted == 1000
    # The hosted receipt link came from the charge, through the Stripe library.
    assert row.receipt_url and row.receipt_url.endswith(str(row.charge_id))
    audit = await audit_page(services.db, limit=10, action="payment.paid")
    assert [entry["target_id"] for entry in audit.entries] == [customer.account_id]


async def test_five_concurrent_deliveries_grant_once(services, client, fake_stripe):
    customer = await make_customer(services, credits=0)
    _, event = await buy(services, fake_stripe, customer)

    answers = await asyncio.gather(*(deliver(client, event) for _ in range(5)))

    assert [answer.status_code for answer in answers] == [200] * 5
    results = sorted(answer.json()["data"]["result"] for answer in answers)
    assert results == ["applied"] + ["duplicate"] * 4
    assert await account_balance(services.db, customer.account_id) == 1000
    async with services.db.read() as conn:
        assert await ledger_sum(conn, customer.account_id) == 1000


class _GrantFailed(Exception):
    """What the database says when it fails mid-transaction (a dropped connection, a full disk)."""


async def test_a_grant_that_fails_is_not_recorded_and_stripes_retry_grants_once(
    services, client, fake_stripe, monkeypatch
):
    customer = await make_customer(services, credits=0)
    payment_id, event = await buy(services, fake_stripe, customer)
    event_id = json.loads(event.body)["id"]
    write_row = credit_ledger._write_row
    failed_for: list[str] = []

    async def write_then_fail(conn, account_id, amount, reason, *rest):
        # After the balance and the ledger row are written: the worst moment, when only the
        # transaction's rollback keeps the credits from being granted without the event.
        await write_row(conn, account_id, amount, reason, *rest)
        if reason == "purchase" and not failed_for:
            failed_for.append(account_id)
            raise _GrantFailed("the database went away after the ledger row")

    monkeypatch.setattr(credit_ledger, "_write_row", write_then_fail)

    failed = await deliver(client, event)

    assert failed_for == [customer.account_id]  # the grant itself failed, nothing before it
    assert failed.status_code == 500 and failed.json()["error"] == "INTERNAL_ERROR"
    assert await account_balance(services.db, customer.account_id) == 0
    assert await ledger_entries(services.db, customer.account_id) == []
    handled = await services.db.fetch_one(
        select(stripe_events.c.id).where(stripe_events.c.id == event_id)
    )
    assert handled is None  # not recorded: Stripe's retry must apply it
    row = await services.db.fetch_one(select(payments).where(payments.c.id == payment_id))
    assert row.status == "pending" and row.credits_granted == 0
    assert (await audit_page(services.db, limit=10, action="payment.paid")).entries == []

    retried = await deliver(client, event)
    replayed = await deliver(client, event)

    assert retried.status_code == 200 and retried.json()["data"]["result"] == "applied"
    assert replayed.status_code == 200 and replayed.json()["data"]["result"] == "duplicate"
    assert await account_balance(services.db, customer.account_id) == 1000
    async with services.db.read() as conn:
        assert await ledger_sum(conn, customer.account_id) == 1000
    purchases = [
        e
        for e in await ledger_entries(services.db, customer.account_id)
        if e["reason"] == "purchase"
    ]
    assert len(purchases) == 1 and payment_id in purchases[0]["note"]
    audit = await audit_page(services.db, limit=10, action="payment.paid")
    assert [entry["target_id"] for entry in audit.entries] == [customer.account_id]


async def test_tampered_stale_and_unsigned_events_change_nothing(services, client, fake_stripe):
    customer = await make_customer(services, credits=0)
    _, event = await buy(services, fake_stripe, customer)
    signed_now = sign(event.body, WEBHOOK_SECRET)
    tampered = event.body.replace(b'"amount_total": 1000', b'"amount_total": 1')
    assert tampered != event.body

    refusals = [
        await _post(client, tampered, signed_now),  # body changed after signing
        await _post(client, event.body, sign(event.body, WEBHOOK_SECRET, int(time.time()) - 600)),
        await _post(client, event.body, sign(event.body, "whsec_someone_else")),
        await _post(client, event.body, None),
        await _post(client, b"not json", sign(b"not json", WEBHOOK_SECRET)),
    ]

    for answer in refusals:
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "INVALID_SIGNATURE"
    assert await account_balance(services.db, customer.account_id) == 0
    # The genuine delivery still works afterwards, once; its replay is ignored.
    assert (await deliver(client, event)).json()["data"]["result"] == "applied"
    assert (await deliver(client, event)).json()["data"]["result"] == "duplicate"
    assert await account_balance(services.db, customer.account_id) == 1000


async def test_refund_after_spend_goes_below_zero_and_blocks_new_tasks(
    services, client, fake_stripe
):
    customer = await make_customer(services, credits=0)
    payment_id, event = await buy(services, fake_stripe, customer)
    assert (await deliver(client, event)).status_code == 200
    spent = await client.post(
        "/v1/generate", json={"prompt": "a fox", "mode": "normal"}, headers=customer.headers
    )
    assert spent.status_code == 200, spent.text
    balance_after_spend = await account_balance(services.db, customer.account_id)
    assert 0 < balance_after_spend < 1000

    refunded = await _refund(services, fake_stripe, await _intent_of(services, payment_id))
    for _ in range(3):  # Stripe may deliver it more than once
        assert (await deliver(client, refunded)).status_code == 200

    balance = await account_balance(services.db, customer.account_id)
    assert balance == balance_after_spend - 1000 < 0
    async with services.db.read() as conn:
        assert await ledger_sum(conn, customer.account_id) == balance
    takebacks = [
        e
        for e in await ledger_entries(services.db, customer.account_id)
        if e["reason"] == "takeback"
    ]
    assert [e["delta"] for e in takebacks] == [-1000]
    assert payment_id in takebacks[0]["note"] and "refund" in takebacks[0]["note"]
    blocked = await client.post(
        "/v1/generate", json={"prompt": "a fox", "mode": "normal"}, headers=customer.headers
    )
    assert blocked.status_code == 402
    assert blocked.json()["error"] == "INSUFFICIENT_CREDITS"


async def test_a_payment_and_its_refund_are_in_the_csv_export_and_the_audit_log(
    services, client, fake_stripe
):
    customer = await make_customer(services, credits=0)
    payment_id, event = await buy(services, fake_stripe, customer)
    assert (await deliver(client, event)).status_code == 200
    refunded = await _refund(services, fake_stripe, await _intent_of(services, payment_id))
    assert (await deliver(client, refunded)).json()["data"]["result"] == "applied"
    person = await make_user(services, account_id=customer.account_id)
    transport = httpx.ASGITransport(app=create_console_app(services))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as console:
        await sign_in(console, person)
        export = await console.get("/console/billing.csv")

    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    header, *rows = list(csv.reader(io.StringIO(export.text)))
    assert header == ["id", "created_at", "delta", "reason", "task_id", "note"]
    naming = [(delta, reason) for _, _, delta, reason, _, note in rows if payment_id in note]
    assert sorted(naming) == [("-1000", "takeback"), ("1000", "purchase")]
    takeback_note = next(row[5] for row in rows if row[3] == "takeback")
    assert "refund" in takeback_note
    audit = await audit_page(services.db, limit=10, target_id=customer.account_id)
    money = [
        (entry["actor"], entry["action"], entry["after"]["payment"])
        for entry in audit.entries
        if entry["action"].startswith("payment.")
    ]
    assert sorted(money) == [
        ("stripe", "payment.paid", payment_id),
        ("stripe", "payment.refund", payment_id),
    ]


async def test_partial_refund_and_lost_dispute_in_any_order(services, client, fake_stripe):
    first = await make_customer(services, credits=0)
    second = await make_customer(services, credits=0)
    outcomes = {}
    for customer, dispute_first in ((first, False), (second, True)):
        payment_id, event = await buy(services, fake_stripe, customer)
        assert (await deliver(client, event)).status_code == 200
        intent = await _intent_of(services, payment_id)
        refund_event = await _refund(services, fake_stripe, intent, amount=250)
        dispute_event = await asyncio.to_thread(fake_stripe.dispute, intent, "lost")
        order = [dispute_event, refund_event] if dispute_first else [refund_event, dispute_event]
        for sent in order + order:  # each twice
            assert (await deliver(client, sent)).status_code == 200
        outcomes[customer.account_id] = await account_balance(services.db, customer.account_id)
        async with services.db.read() as conn:
            assert await ledger_sum(conn, customer.account_id) == outcomes[customer.account_id]
    # Whatever the order, the whole payment is taken back, once.
    assert outcomes == {first.account_id: 0, second.account_id: 0}


async def test_a_refund_before_its_payment_is_paid_is_asked_again(services, client, fake_stripe):
    customer = await make_customer(services, credits=0)
    payment_id, completed = await buy(services, fake_stripe, customer)
    intent = json.loads(completed.body)["data"]["object"]["payment_intent"]
    refund_event = await _refund(services, fake_stripe, intent)

    early = await deliver(client, refund_event)

    assert early.status_code == 409  # Stripe retries any non-2xx answer
    assert await account_balance(services.db, customer.account_id) == 0
    assert (await deliver(client, completed)).status_code == 200
    assert (await deliver(client, refund_event)).json()["data"]["result"] == "applied"
    assert await account_balance(services.db, customer.account_id) == 0
    async with services.db.read() as conn:
        assert await ledger_sum(conn, customer.account_id) == 0
    assert payment_id


async def test_the_checkout_session_is_made_by_the_stripe_library(services, fake_stripe):
    customer = await make_customer(services, credits=0)
    pack = await create_pack(
        services.db, CLI, name="Big", credits=5000, price_minor=4500, currency="EUR"
    )
    checkout = await start_checkout(
        services.db,
        services.settings,
        customer.account_id,
        pack.id,
        success_url="http://testserver/ok",
        cancel_url="http://testserver/no",
    )
    session = fake_stripe.sessions[checkout.session_id]
    assert session["amount_total"] == 4500 and session["currency"] == "eur"
    assert session["metadata"] == {
        "payment_id": checkout.payment_id,
        "account_id": customer.account_id,
        "credits": "5000",
    }
    assert session["client_reference_id"] == customer.account_id
    # Without a secret key and a webhook secret, there is no Stripe at all.
    unconfigured = services.settings.replace(stripe_secret_key=None, stripe_webhook_secret=None)
    with pytest.raises(PaymentsNotConfiguredError):
        async with stripe_session(unconfigured.stripe):
            pass


async def test_a_session_stripe_refuses_leaves_a_failed_payment_and_no_credits(
    services, fake_stripe
):
    customer = await make_customer(services, credits=0)
    pack = await create_pack(
        services.db, CLI, name="Starter", credits=1000, price_minor=1000, currency="usd"
    )
    wrong_key = services.settings.replace(stripe_secret_key="rk_not_a_secret_key")

    with pytest.raises(PaymentProviderError):
        await start_checkout(
            services.db,
            wrong_key,
            customer.account_id,
            pack.id,
            success_url="http://testserver/ok",
            cancel_url="http://testserver/no",
        )

    rows = await services.db.fetch_all(
        select(payments.c.status).where(payments.c.account_id == customer.account_id)
    )
    assert [row.status for row in rows] == ["failed"]
    assert await account_balance(services.db, customer.account_id) == 0
