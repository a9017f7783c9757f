"""Buying credits in a real browser: a real ``grokimagine serve`` with Stripe pointed at
localstripe behind the strict Checkout fake, which delivers signed webhooks to the server.

A customer with 0 credits buys a pack, pays on the (fake) hosted page, comes back with the
credits granted exactly once, and runs a generation; the operator refunds the payment in Stripe
and the credits go back out with a ledger row that names the payment.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import stripe
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import create_engine, select

from grokimagine.storage.schema import stripe_events
from tests.helpers.localstripe_server import free_port, run_localstripe
from tests.helpers.stripe_checkout_fake import FakeStripe, run_fake_stripe, sign

WEBHOOK_SECRET = "whsec_browser_" + "s" * 24
SECRET_KEY = "sk_test_browser"
VIEWPORT = {"width": 1360, "height": 900}


@dataclass
class ShopServer:
    """The running server, its fake Stripe and what its first start printed."""

    base_url: str
    env: dict[str, str]
    database: Path
    fake: FakeStripe
    localstripe_url: str
    demo_email: str
    demo_password: str

    def cli(self, *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """Run ``grokimagine ARGV`` against the server's database."""
        return subprocess.run(
            [sys.executable, "-m", "grokimagine.cli", *argv],
            input=stdin,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShopServer]:
    """localstripe, the Checkout fake and ``grokimagine serve`` with Stripe set up."""
    work = tmp_path_factory.mktemp("shop-server")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with (
        run_localstripe() as localstripe_url,
        run_fake_stripe(localstripe_url, WEBHOOK_SECRET) as fake,
    ):
        fake.webhook_url = f"{base_url}/webhooks/stripe"
        # localstripe's own signed deliveries (payment_intent.succeeded, ...) go there too.
        registered = httpx.post(
            f"{localstripe_url}/_config/webhooks/grokimagine",
            data={"url": fake.webhook_url, "secret": WEBHOOK_SECRET},
        )
        assert registered.status_code == 200
        env = {
            **os.environ,
            "GROKIMAGINE_DATA_DIR": str(work / "data"),
            "GROKIMAGINE_LOG_FORMAT": "text",
            "GROKIMAGINE_POLL_SECONDS": "0.2",
            "GROKIMAGINE_CONSOLE_SIGNIN_EMAIL_LIMIT": "100",
            "GROKIMAGINE_STRIPE_SECRET_KEY": SECRET_KEY,
            "GROKIMAGINE_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "GROKIMAGINE_STRIPE_API_BASE": fake.base_url,
        }
        env.pop("GROKIMAGINE_DATABASE_URL", None)
        env.pop("GROKIMAGINE_REDIS_URL", None)
        log = work / "serve.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "grokimagine.cli", "serve", "--port", str(port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"serve did not start:\n{log.read_text()}")
                time.sleep(0.2)
            printed = log.read_text()
            yield ShopServer(
                base_url=base_url,
                env=env,
                database=work / "data" / "grokimagine.db",
                fake=fake,
                localstripe_url=localstripe_url,
                demo_email=re.search(r"email:\s+(\S+)", printed)[1],
                demo_password=re.search(r"password:\s+(\S+)", printed)[1],
            )
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def sign_in(page: Page, shop: ShopServer, email: str, password: str) -> None:
    page.goto(f"{shop.base_url}/console")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{shop.base_url}/console")


def balance_of(shop: ShopServer, token: str) -> int:
    answer = httpx.get(f"{shop.base_url}/v1/account", headers={"Authorization": f"Bearer {token}"})
    return int(answer.json()["data"]["balance"])


def test_buy_a_pack_generate_then_the_operator_refunds(browser: Browser, shop: ShopServer):
    # The operator puts a pack on sale in /admin/money.
    operator = browser.new_context(viewport=VIEWPORT).new_page()
    sign_in(operator, shop, shop.demo_email, shop.demo_password)
    operator.goto(f"{shop.base_url}/admin/money")
    operator.get_by_label("Name", exact=True).fill("Starter")
    operator.get_by_label("Credits", exact=True).fill("1000")
    operator.get_by_label("Price", exact=True).fill("10.00")
    operator.get_by_role("button", name="Add pack").click()
    expect(operator.get_by_role("heading", level=1)).to_contain_text("1,000 credits for 10.00 USD")
    operator.get_by_role("button", name="Put pack on sale").click()
    expect(operator.get_by_text("Pack Starter is on sale.")).to_be_visible()

    # A customer with 0 credits and a key.
    made = shop.cli("keys", "create", "--credits", "0", "--name", "Bob")
    assert made.returncode == 0, made.stderr
    account_id = re.search(r"account (acct_\S+)", made.stdout)[1]
    token = re.search(r"^(gi_live_\S+)$", made.stdout, re.MULTILINE)[1]
    password = "bob's long password"
    user = shop.cli(
        "users", "create", "--email", "bob@example.com", "--account", account_id,
        stdin=password + "\n",
    )  # fmt: skip
    assert user.returncode == 0, user.stderr
    assert balance_of(shop, token) == 0

    # Buy: the console sends the browser to the hosted page, the payment's webhook comes back.
    page = browser.new_context(viewport=VIEWPORT).new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if "Content Security" in m.text else None)
    sign_in(page, shop, "bob@example.com", password)
    page.get_by_role("link", name="Billing").click()
    page.get_by_role("button", name="Buy Starter").click()
    expect(page).to_have_url(re.compile(r"/c/pay/cs_test_"))
    page.get_by_role("button", name="Pay 10.00 USD").click()
    expect(page).to_have_url(re.compile(r"/console/billing\?notice="))
    expect(page.locator(".stat-value").first).to_have_text("1,000")
    expect(page.get_by_role("link", name="Receipt")).to_be_visible()
    assert errors == []
    assert balance_of(shop, token) == 1000

    # Stripe delivers again (a retry, a dashboard resend): nothing more is granted.
    [completed] = [e for e in shop.fake.events if e.type == "checkout.session.completed"]
    for _ in range(3):
        again = httpx.post(
            shop.fake.webhook_url,
            content=completed.body,
            headers={"Stripe-Signature": sign(completed.body, WEBHOOK_SECRET)},
        )
        assert again.json()["data"]["result"] == "duplicate"
    assert balance_of(shop, token) == 1000

    # A generation runs on the bought credits.
    auth = {"Authorization": f"Bearer {token}"}
    task = httpx.post(
        f"{shop.base_url}/v1/generate", json={"prompt": "a fox", "mode": "normal"}, headers=auth
    )
    assert task.status_code == 200, task.text
    task_id = task.json()["data"]["task_id"]
    deadline = time.monotonic() + 120
    while True:
        state = httpx.get(f"{shop.base_url}/v1/tasks/{task_id}", headers=auth).json()["data"]
        if state["status"] in ("completed", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert state["status"] == "completed"
    spent = 1000 - balance_of(shop, token)
    assert spent > 0

    # The operator refunds the payment in Stripe; charge.refunded takes the credits back.
    intent = next(iter(shop.fake.sessions.values()))["payment_intent"]
    stripe.StripeClient(SECRET_KEY, base_addresses={"api": shop.fake.base_url}).v1.refunds.create(
        {"payment_intent": intent}
    )
    assert balance_of(shop, token) == -spent
    page.reload()
    expect(page.locator(".stat-value").first).to_have_text(f"{-spent:,}")
    expect(page.get_by_text("Your balance is below zero")).to_be_visible()
    takeback = page.locator("tr", has_text="takeback")
    expect(takeback).to_contain_text("refund of 10.00 USD")
    payment_id = re.search(r"pay_[\w-]+", takeback.inner_text())[0]
    expect(takeback).to_contain_text("-1,000")
    blocked = httpx.post(
        f"{shop.base_url}/v1/generate", json={"prompt": "a fox", "mode": "normal"}, headers=auth
    )
    assert blocked.status_code == 402

    # The operator sees the payment, refunded; localstripe's own deliveries verified too.
    operator.goto(f"{shop.base_url}/admin/money")
    expect(operator.locator("tr", has_text=payment_id)).to_contain_text("10.00 USD")
    engine = create_engine(f"sqlite:///{shop.database}")
    deadline = time.monotonic() + 30
    try:
        while True:
            with engine.connect() as conn:
                kinds = {row.type for row in conn.execute(select(stripe_events.c.type))}
            if "payment_intent.succeeded" in kinds or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        engine.dispose()
    assert {"checkout.session.completed", "charge.refunded", "payment_intent.succeeded"} <= kinds
