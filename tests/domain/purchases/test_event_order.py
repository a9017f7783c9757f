"""Refund and dispute events in any order, any number of times: the credits taken back are what
the last state is worth, once (hypothesis, on SQLite and PostgreSQL)."""

from __future__ import annotations

import secrets

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from grokimagine.domain.billing.credits import grant_credits, ledger_sum
from grokimagine.domain.billing.usage import account_balance
from grokimagine.domain.clock import utcnow
from grokimagine.domain.purchases.stripe_events import handle_event
from grokimagine.storage.schema import payments
from tests.helpers.customers import make_customer

CREDITS, PRICE = 1000, 1000  # 10.00 USD


def _charge_refunded(intent: str, refunded: int) -> dict:
    charge = {"id": "ch_" + intent, "object": "charge", "payment_intent": intent,
              "amount": PRICE, "amount_refunded": refunded, "currency": "usd"}  # fmt: skip
    return {"id": "evt_" + secrets.token_hex(8), "type": "charge.refunded",
            "data": {"object": charge}}  # fmt: skip


def _dispute(intent: str, status: str) -> dict:
    dispute = {"id": "dp_" + intent, "object": "dispute", "payment_intent": intent,
               "charge": "ch_" + intent, "amount": PRICE, "status": status}  # fmt: skip
    return {"id": "evt_" + secrets.token_hex(8), "type": "charge.dispute.closed",
            "data": {"object": dispute}}  # fmt: skip


async def _paid_payment(services, account_id: str) -> str:
    """A payment already granted (as the checkout event leaves it); its intent id."""
    intent = "pi_" + secrets.token_hex(8)
    async with services.db.write() as conn:
        await conn.execute(
            insert(payments).values(
                id="pay_" + secrets.token_hex(6), account_id=account_id, provider="stripe",
                payment_intent_id=intent, credits=CREDITS, amount_minor=PRICE, currency="usd",
                status="paid", credits_granted=CREDITS, credits_taken_back=0,
                amount_refunded_minor=0, created_at=utcnow(), paid_at=utcnow(),
            )
        )  # fmt: skip
        await grant_credits(conn, account_id, CREDITS, reason="purchase")
    return intent


refund_steps = st.lists(st.integers(min_value=1, max_value=PRICE), min_size=1, max_size=3)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    refunds=refund_steps,
    dispute=st.sampled_from([None, "won", "lost"]),
    order=st.randoms(use_true_random=False),
    repeats=st.integers(min_value=1, max_value=3),
)
async def test_any_order_and_any_replays_take_back_the_same(
    services, refunds, dispute, order, repeats
):
    customer = await make_customer(services, credits=0)
    intent = await _paid_payment(services, customer.account_id)
    cumulative = sorted({min(sum(refunds[: i + 1]), PRICE) for i in range(len(refunds))})
    events = [_charge_refunded(intent, amount) for amount in cumulative]
    if dispute:
        events.append(_dispute(intent, dispute))
    deliveries = [event for event in events for _ in range(repeats)]
    order.shuffle(deliveries)

    for event in deliveries:
        await handle_event(services.db, services.settings, event)

    expected = CREDITS if dispute == "lost" else CREDITS * cumulative[-1] // PRICE
    row = await services.db.fetch_one(
        select(payments.c.credits_taken_back).where(payments.c.payment_intent_id == intent)
    )
    assert row.credits_taken_back == expected
    balance = await account_balance(services.db, customer.account_id)
    assert balance == CREDITS - expected
    async with services.db.read() as conn:
        assert await ledger_sum(conn, customer.account_id) == balance
