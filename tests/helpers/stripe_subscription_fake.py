"""Checkout in subscription mode, for the strict fake (``stripe_checkout_fake.py``).

Written from Stripe's API reference (docs.stripe.com/api/checkout/sessions/create: ``mode``
``subscription``, recurring ``price_data``, ``subscription_data.metadata`` copied onto the
subscription): paying makes the customer, the price and the subscription in localstripe, which
invoices and charges it at once and sends its own signed ``invoice.payment_succeeded``.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import HTMLResponse, RedirectResponse, Response


async def pay_subscription(fake: Any, session: dict[str, Any], method_id: str) -> Response:
    """What Checkout does in subscription mode: a customer with the card as its default,
    the recurring price (a localstripe plan), and the subscription, which localstripe
    invoices and charges at once (and tells of by its own signed webhooks)."""
    customer = await fake.localstripe(
        "POST",
        "/v1/customers",
        data={
            "payment_method": method_id,
            "invoice_settings[default_payment_method]": method_id,
            "email": session.get("customer_email") or "customer@example.com",
        },
    )
    data = session["_line_items"][0]["price_data"]
    plan = await fake.localstripe(
        "POST",
        "/v1/plans",
        data={
            "amount": str(data["unit_amount"]),
            "currency": data["currency"],
            "interval": data["recurring"]["interval"],
            "product[name]": data["product_data"]["name"],
        },
    )
    if customer.status_code != 200 or plan.status_code != 200:
        return HTMLResponse("<h1>Subscription refused</h1>", status_code=402)
    subscription = await fake.localstripe(
        "POST",
        "/v1/subscriptions",
        data={
            "customer": customer.json()["id"],
            "items[0][plan]": plan.json()["id"],
            **{f"metadata[{k}]": v for k, v in session["_subscription_metadata"].items()},
        },
    )
    if subscription.status_code != 200 or subscription.json()["status"] != "active":
        return HTMLResponse("<h1>Payment failed</h1>", status_code=402)
    session.update(
        status="complete",
        payment_status="paid",
        customer=customer.json()["id"],
        subscription=subscription.json()["id"],
    )
    await fake.deliver(
        fake.make_event(
            "checkout.session.completed",
            {k: v for k, v in session.items() if not k.startswith("_")},
        )
    )
    return RedirectResponse(session["success_url"], status_code=303)
