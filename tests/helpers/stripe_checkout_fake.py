"""A strict fake of what localstripe lacks, in front of a real localstripe.

localstripe (a stateful fake Stripe server) has customers, payment methods, payment intents,
charges, refunds, subscriptions and invoices, and delivers signed webhooks for what it does;
it has no Checkout Sessions, sends no ``charge.refunded`` event, gives charges no
``receipt_url``, and has no disputes. This server fills exactly those gaps, written from
Stripe's API reference (docs.stripe.com/api/checkout/sessions, /api/events/types,
/webhooks#verify-events), and passes every other ``/v1`` call through to localstripe:

- ``POST /v1/checkout/sessions`` (mode ``payment``, ``line_items`` with ``price_data``),
  ``GET /v1/checkout/sessions/{id}``; unknown parameters are refused as Stripe refuses them,
  and the ``Idempotency-Key`` header returns the first session again;
- the hosted payment page ``/c/pay/{id}``: paying creates a card payment method and a
  confirmed payment intent in localstripe (which then charges it) and sends
  ``checkout.session.completed``, signed with the endpoint's secret (``t=...,v1=HMAC-SHA256``
  of ``"{t}.{body}"``), then redirects to the session's ``success_url``;
- after a refund made through ``POST /v1/refunds``, ``charge.refunded`` with the charge;
- :meth:`FakeStripe.dispute` sends ``charge.dispute.closed`` for a payment intent;
- Checkout in ``subscription`` mode (a recurring ``price_data``, ``subscription_data``): paying
  creates in localstripe a customer with the card as default, a plan and the subscription
  (localstripe invoices and charges it, and sends ``invoice.payment_succeeded`` and
  ``customer.subscription.*`` events itself, signed; they are kept when asked for).
Every event sent is kept in :attr:`FakeStripe.events` (body and header) for tests to replay.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.helpers.localstripe_server import free_port
from tests.helpers.stripe_subscription_fake import pay_subscription

SESSION_PARAMS = {
    "mode",
    "line_items",
    "client_reference_id",
    "metadata",
    "payment_intent_data",
    "success_url",
    "cancel_url",
    "customer",
    "customer_email",
    "expand",
    "subscription_data",
    "customer_creation",
}
MODES = ("payment", "subscription")
TEST_CARD = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2034", "cvc": "123"}


def stripe_error(status: int, message: str, param: str | None = None) -> JSONResponse:
    """Stripe's error body."""
    error: dict[str, Any] = {"type": "invalid_request_error", "message": message}
    if param:
        error["param"] = param
    return JSONResponse({"error": error}, status_code=status)


def unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``a[b][0][c]=v`` form fields (how the stripe library encodes) into nested values."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node: Any = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if isinstance(node, list):
                position = int(part) if part else len(node)
                while len(node) <= position:
                    node.append({})
                if last:
                    node[position] = value
                else:
                    nxt = parts[index + 1]
                    if not isinstance(node[position], dict | list) or node[position] == {}:
                        node[position] = [] if nxt.isdigit() or nxt == "" else {}
                    node = node[position]
            else:
                if last:
                    node[part] = value
                else:
                    nxt = parts[index + 1]
                    node = node.setdefault(part, [] if nxt.isdigit() or nxt == "" else {})
    return root


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header for ``payload``."""
    moment = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{moment}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={moment},v1={mac}"


@dataclass
class SentEvent:
    """An event as delivered: its body, its signature header, and the endpoint's answer."""

    id: str
    type: str
    body: bytes
    signature: str
    status: int | None = None


@dataclass
class FakeStripe:
    """The fake's state; :func:`run_fake_stripe` serves it."""

    localstripe_url: str
    webhook_secret: str
    webhook_url: str | None = None
    base_url: str = ""
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_idempotency_key: dict[str, str] = field(default_factory=dict)
    events: list[SentEvent] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # Events ---------------------------------------------------------------------------
    def make_event(self, kind: str, obj: dict[str, Any]) -> SentEvent:
        """A signed event around ``obj``, kept in :attr:`events` (not sent)."""
        event = {
            "id": "evt_" + secrets.token_hex(12),
            "object": "event",
            "api_version": "2025-03-31.basil",
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "type": kind,
            "data": {"object": obj},
        }
        body = json.dumps(event).encode()
        sent = SentEvent(event["id"], kind, body, sign(body, self.webhook_secret))
        with self.lock:
            self.events.append(sent)
        return sent

    async def deliver(self, sent: SentEvent) -> None:
        """POST the event to the webhook URL, if one is set (signed afresh, as Stripe does)."""
        if not self.webhook_url:
            return
        sent.signature = sign(sent.body, self.webhook_secret)
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.post(
                self.webhook_url,
                content=sent.body,
                headers={"Content-Type": "application/json", "Stripe-Signature": sent.signature},
            )
        sent.status = answer.status_code

    def dispute(self, payment_intent: str, status: str = "lost") -> SentEvent:
        """A ``charge.dispute.closed`` event for the intent's charge (kept, not sent)."""
        intent = httpx.get(
            f"{self.localstripe_url}/v1/payment_intents/{payment_intent}",
            auth=("sk_test_fake", ""),
        ).json()
        charge = intent["latest_charge"]
        return self.make_event(
            "charge.dispute.closed",
            {
                "id": "dp_" + secrets.token_hex(10),
                "object": "dispute",
                "amount": charge["amount"],
                "currency": charge["currency"],
                "charge": charge["id"],
                "payment_intent": payment_intent,
                "reason": "fraudulent",
                "status": status,
                "livemode": False,
                "created": int(time.time()),
            },
        )

    # Localstripe pass-through --------------------------------------------------------
    async def localstripe(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.localstripe_url, timeout=30) as client:
            return await client.request(method, path, auth=("sk_test_fake", ""), **kwargs)

    def with_receipt(self, obj: Any) -> Any:
        """Charges get the ``receipt_url`` real Stripe gives them (localstripe has none)."""
        if isinstance(obj, dict):
            if obj.get("object") == "charge" and "receipt_url" not in obj:
                obj["receipt_url"] = f"{self.base_url}/receipts/{obj['id']}"
            for value in obj.values():
                self.with_receipt(value)
        elif isinstance(obj, list):
            for value in obj:
                self.with_receipt(value)
        return obj


def _authorized(request: Request) -> bool:
    header = request.headers.get("authorization", "")
    return header.startswith("Bearer sk_") and len(header) > len("Bearer sk_")


def build_app(fake: FakeStripe) -> Starlette:
    """The fake's routes."""

    async def create_session(request: Request) -> Response:
        if not _authorized(request):
            return stripe_error(401, "Invalid API Key provided")
        key = request.headers.get("idempotency-key")
        if key and key in fake.by_idempotency_key:
            return JSONResponse(fake.sessions[fake.by_idempotency_key[key]])
        params = unflatten(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        unknown = sorted(set(params) - SESSION_PARAMS)
        if unknown:
            return stripe_error(400, f"Received unknown parameter: {unknown[0]}", unknown[0])
        mode = params.get("mode")
        if mode not in MODES:
            return stripe_error(400, "This fake supports mode=payment and subscription", "mode")
        # Stripe refuses the other mode's parameters.
        wrong = "subscription_data" if mode == "payment" else "payment_intent_data"
        if wrong in params:
            return stripe_error(400, f"{wrong} is not allowed in {mode} mode", wrong)
        if not params.get("success_url"):
            return stripe_error(400, "Missing required param: success_url.", "success_url")
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            return stripe_error(400, "Missing required param: line_items.", "line_items")
        total, currency = 0, None
        for index, item in enumerate(items):
            data = item.get("price_data") or {}
            name = (data.get("product_data") or {}).get("name")
            if not data.get("currency") or not data.get("unit_amount") or not name:
                return stripe_error(
                    400, "line_items need price_data", f"line_items[{index}][price_data]"
                )
            recurring = data.get("recurring")
            if (mode == "subscription") != bool(recurring):
                return stripe_error(
                    400,
                    "subscription mode needs a recurring price; payment mode a one-time price",
                    f"line_items[{index}][price_data][recurring]",
                )
            if recurring and recurring.get("interval") not in ("day", "week", "month", "year"):
                return stripe_error(400, "Invalid interval", "recurring[interval]")
            if currency not in (None, data["currency"]):
                return stripe_error(400, "All line items must share a currency", "line_items")
            currency = data["currency"]
            total += int(data["unit_amount"]) * int(item.get("quantity") or 0)
        session_id = "cs_test_" + secrets.token_hex(16)
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": mode,
            "status": "open",
            "payment_status": "unpaid",
            "amount_subtotal": total,
            "amount_total": total,
            "currency": currency,
            "client_reference_id": params.get("client_reference_id"),
            "customer": params.get("customer"),
            "customer_email": params.get("customer_email"),
            "metadata": params.get("metadata") or {},
            "payment_intent": None,
            "subscription": None,
            "success_url": params["success_url"],
            "cancel_url": params.get("cancel_url"),
            "url": f"{fake.base_url}/c/pay/{session_id}",
            "livemode": False,
            "created": int(time.time()),
            "expires_at": int(time.time()) + 24 * 3600,
            "_intent_metadata": (params.get("payment_intent_data") or {}).get("metadata") or {},
            "_subscription_metadata": (params.get("subscription_data") or {}).get("metadata") or {},
            "_line_items": items,
            "_customer_creation": params.get("customer_creation"),
        }
        fake.sessions[session_id] = session
        if key:
            fake.by_idempotency_key[key] = session_id
        return JSONResponse(_public(session))

    async def get_session(request: Request) -> Response:
        if not _authorized(request):
            return stripe_error(401, "Invalid API Key provided")
        session = fake.sessions.get(request.path_params["session_id"])
        if session is None:
            return stripe_error(404, "No such checkout.session", "id")
        return JSONResponse(_public(session))

    async def pay_page(request: Request) -> Response:
        session = fake.sessions.get(request.path_params["session_id"])
        if session is None:
            return HTMLResponse("<h1>No such session</h1>", status_code=404)
        amount = f"{session['amount_total'] / 100:.2f} {session['currency'].upper()}"
        return HTMLResponse(
            f"<!doctype html><title>Pay</title><h1>Pay {amount}</h1>"
            f'<form method="post"><label>Card number <input name="card" value="'
            f'{TEST_CARD["number"]}"></label><button type="submit">Pay {amount}</button></form>'
        )

    async def pay(request: Request) -> Response:
        session = fake.sessions.get(request.path_params["session_id"])
        if session is None or session["status"] != "open":
            return HTMLResponse("<h1>This session is not open</h1>", status_code=400)
        card = {**TEST_CARD, "number": (await request.form()).get("card") or TEST_CARD["number"]}
        method = await fake.localstripe(
            "POST",
            "/v1/payment_methods",
            data={"type": "card", **{f"card[{k}]": v for k, v in card.items()}},
        )
        if method.status_code != 200:
            return HTMLResponse("<h1>Card refused</h1>", status_code=402)
        if session["mode"] == "subscription":
            return await pay_subscription(fake, session, method.json()["id"])
        customer: dict[str, str] = {}
        if session["_customer_creation"] == "always":
            # The card saved on a new customer (setup_future_usage), as Checkout does.
            made = await fake.localstripe(
                "POST", "/v1/customers", data={"payment_method": method.json()["id"]}
            )
            customer = {"customer": made.json()["id"]}
            session["customer"] = made.json()["id"]
        intent = await fake.localstripe(
            "POST",
            "/v1/payment_intents",
            data={
                "amount": str(session["amount_total"]),
                "currency": session["currency"],
                "payment_method": method.json()["id"],
                "confirm": "true",
                **customer,
                **{f"metadata[{k}]": v for k, v in session["_intent_metadata"].items()},
            },
        )
        if intent.status_code != 200 or intent.json()["status"] != "succeeded":
            return HTMLResponse("<h1>Payment failed</h1>", status_code=402)
        session.update(status="complete", payment_status="paid", payment_intent=intent.json()["id"])
        await fake.deliver(fake.make_event("checkout.session.completed", _public(session)))
        return RedirectResponse(session["success_url"], status_code=303)

    async def localstripe_event(request: Request) -> Response:
        """localstripe's own signed webhooks: kept (and passed on) like the fake's events."""
        body = await request.body()
        event = json.loads(body)
        sent = SentEvent(event["id"], event["type"], body, request.headers["stripe-signature"])
        with fake.lock:
            fake.events.append(sent)
        await fake.deliver(sent)
        return Response(status_code=200)

    async def receipt(request: Request) -> Response:
        return HTMLResponse(f"<h1>Receipt for {request.path_params['charge_id']}</h1>")

    async def passthrough(request: Request) -> Response:
        if not _authorized(request):
            return stripe_error(401, "Invalid API Key provided")
        path = request.url.path
        body = await request.body()
        answer = await fake.localstripe(
            request.method,
            path,
            params=list(request.query_params.multi_items()),
            content=body,
            headers={"Content-Type": request.headers.get("content-type", "")} if body else None,
        )
        try:
            data = fake.with_receipt(answer.json())
        except json.JSONDecodeError:
            return Response(answer.content, status_code=answer.status_code)
        if request.method == "POST" and path == "/v1/refunds" and answer.status_code == 200:
            charge = await fake.localstripe("GET", f"/v1/charges/{data['charge']}")
            # Stripe sends charge.refunded after the refund: the charge, amount_refunded added up.
            event = fake.make_event("charge.refunded", fake.with_receipt(charge.json()))
            await fake.deliver(event)
        return JSONResponse(data, status_code=answer.status_code)

    return Starlette(
        routes=[
            Route("/v1/checkout/sessions", create_session, methods=["POST"]),
            Route("/v1/checkout/sessions/{session_id}", get_session, methods=["GET"]),
            Route("/c/pay/{session_id}", pay_page, methods=["GET"]),
            Route("/c/pay/{session_id}", pay, methods=["POST"]),
            Route("/receipts/{charge_id}", receipt, methods=["GET"]),
            Route("/_localstripe/events", localstripe_event, methods=["POST"]),
            Route("/v1/{rest:path}", passthrough, methods=["GET", "POST", "DELETE"]),
        ]
    )


def _public(session: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in session.items() if not k.startswith("_")}


class FakeStripeServer:
    """:class:`FakeStripe` served by uvicorn in a thread on a free loopback port."""

    def __init__(self, fake: FakeStripe, *, localstripe_events: bool = False) -> None:
        self.localstripe_events = localstripe_events
        port = free_port()
        fake.base_url = f"http://127.0.0.1:{port}"
        self.fake = fake
        config = uvicorn.Config(
            build_app(fake), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> FakeStripe:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the fake Stripe server did not start")
            time.sleep(0.02)
        if self.localstripe_events:
            # localstripe signs its events with the secret it is given, as Stripe does.
            answer = httpx.post(
                f"{self.fake.localstripe_url}/_config/webhooks/fake",
                data={
                    "url": f"{self.fake.base_url}/_localstripe/events",
                    "secret": self.fake.webhook_secret,
                },
                timeout=30,
            )
            answer.raise_for_status()
        return self.fake

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def run_fake_stripe(
    localstripe_url: str, webhook_secret: str, *, localstripe_events: bool = False
) -> FakeStripeServer:
    """``with run_fake_stripe(url, secret) as fake:``: the fake on loopback; with
    ``localstripe_events``, localstripe's own webhooks are kept in :attr:`FakeStripe.events`."""
    return FakeStripeServer(
        FakeStripe(localstripe_url, webhook_secret), localstripe_events=localstripe_events
    )
