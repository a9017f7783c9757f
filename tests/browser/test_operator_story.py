"""Issue 24's story in a real browser, by roles and labels, with no shell step after ``serve``:
an operator runs the business from /admin, emails go through a real SMTP server on loopback."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Server, serve
from tests.helpers.smtp import SmtpServer, links_in, smtp_server

VIEWPORT = {"width": 1360, "height": 900}
CUSTOMER = "carla@studio.test"
PRICIER = {
    "default": {"480p": {"base": 4, "per_second": 10}, "720p": {"base": 4, "per_second": 14}}
}


@pytest.fixture(scope="module")
def mail() -> Iterator[SmtpServer]:
    with smtp_server() as running:
        yield running


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory, mail: SmtpServer) -> Iterator[Server]:
    """serve with its SMTP settings pointing at the loopback server."""
    with serve(
        tmp_path_factory.mktemp("operator-story"),
        GROKIMAGINE_SMTP_HOST=mail.host,
        GROKIMAGINE_SMTP_PORT=str(mail.port),
        GROKIMAGINE_SMTP_SECURITY="none",
        GROKIMAGINE_SMTP_SENDER="Studio <no-reply@studio.test>",
    ) as running:
        yield running


def _page(browser: Browser) -> Page:
    return browser.new_context(viewport=VIEWPORT).new_page()


def _sign_in(page: Page, server: Server, email: str, password: str) -> None:
    page.goto(f"{server.base_url}/console/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.base_url}/console")


def _follow(page: Page, server: Server, link: str, password: str) -> None:
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}" == server.base_url
    page.goto(link)
    page.get_by_label("New password", exact=True).fill(password)
    page.get_by_label("New password again").fill(password)
    page.get_by_role("button", name="Set password").click()
    expect(page).to_have_url(f"{server.base_url}/console")


def test_an_operator_runs_the_business_from_the_browser(
    browser: Browser, studio: Server, mail: SmtpServer, shots: Path
) -> None:
    # serve printed two sign-ins apart; the operator's shows the Operator section.
    assert studio.demo_email != studio.customer_email
    operator = _page(browser)
    _sign_in(operator, studio, studio.demo_email, studio.demo_password)
    expect(operator.get_by_text("Operator", exact=True)).to_be_visible()

    # A new account with 500 credits: asked first, then made.
    operator.get_by_role("link", name="Accounts").click()
    operator.get_by_role("link", name="New account").click()
    operator.get_by_label("Account name").fill("Carla's studio")
    operator.get_by_label("Starting credits").fill("500")
    operator.get_by_label("Invite a first user (email, optional)").fill(CUSTOMER)
    operator.get_by_role("button", name="Create account").click()
    expect(operator.get_by_role("heading", level=1)).to_have_text(
        "Create an account with 500 credits?"
    )
    operator.get_by_role("button", name="Create account").click()
    expect(operator.get_by_role("status")).to_contain_text(f"Email sent to {CUSTOMER}.")
    expect(operator.locator("#account-balance")).to_have_text("500")
    account_id = operator.locator("p.mono").first.inner_text()
    account_url = f"{studio.base_url}/admin/accounts/{account_id}"

    # The customer follows the invitation from the SMTP server, sets a password, generates.
    [invite_link] = links_in(mail.inbox.last_to(CUSTOMER))
    customer = _page(browser)
    _follow(customer, studio, invite_link, "carla's first password")
    customer.get_by_role("link", name="Playground", exact=True).click()
    expect(customer.locator("#price")).to_have_text("40")
    customer.get_by_label("Prompt", exact=True).fill("a paper boat on a pond")
    customer.get_by_role("button", name="Generate").click()
    expect(customer.locator("#live-status")).to_have_text("completed", timeout=60_000)
    expect(customer.get_by_text("Operator", exact=True)).to_have_count(0)

    # The operator gives the account a second key, shown once, that works.
    operator.goto(account_url)
    operator.get_by_label("Key name").fill("second")
    operator.get_by_role("button", name="Create key").click()
    token = operator.locator("#new-token").inner_text().strip()
    assert token.startswith("gi_live_")
    headers = {"Authorization": f"Bearer {token}"}
    body = {"prompt": "a quote", "mode": "fun"}

    # A new price table: the next quote has the new price, the old task keeps its charge.
    operator.get_by_role("link", name="Business settings").click()
    operator.get_by_label("Price table (JSON; empty: the default table)").fill(json.dumps(PRICIER))
    operator.get_by_label("Note (why)").fill("new season prices")
    operator.get_by_role("button", name="Review and save").click()
    expect(operator.get_by_role("heading", level=1)).to_contain_text("price_table")
    operator.get_by_role("button", name="Save settings").click()
    expect(operator.get_by_role("status")).to_contain_text("Saved as version 2.")
    quote = httpx.post(f"{studio.base_url}/v1/quote", json=body, headers=headers).json()["data"]
    assert quote["price"] == 64
    customer.get_by_role("link", name="Playground", exact=True).click()
    expect(customer.locator("#price")).to_have_text("64")
    tasks = httpx.get(f"{studio.base_url}/v1/tasks", headers=headers).json()["data"]["tasks"]
    assert [(t["status"], t["consumed_credits"]) for t in tasks] == [("completed", 40)]
    operator.goto(account_url)
    expect(operator.locator("#account-balance")).to_have_text("460")

    # A password reset by emailed link: the customer's session ends, the new password works.
    operator.get_by_role("button", name=f"Send password link to {CUSTOMER}").click()
    expect(operator.get_by_role("status")).to_contain_text(f"Email sent to {CUSTOMER}.")
    reset = mail.inbox.last_to(CUSTOMER, "Reset your password")
    assert reset["Subject"] == "Reset your password"
    [reset_link] = links_in(reset)
    _follow(_page(browser), studio, reset_link, "carla's second password")
    customer.reload()
    expect(customer).to_have_url(re.compile(r"/console/sign-in"))
    _sign_in(customer, studio, CUSTOMER, "carla's second password")

    # Every step is in the audit log, with the operator as actor.
    operator.get_by_role("link", name="Audit log").click()
    table = operator.locator("table")
    for action in (
        "account.create",
        "user.invite",
        "key.create",
        "settings.change",
        "user.password_reset",
    ):
        row = table.locator("tr", has_text=action).first
        expect(row).to_contain_text(studio.demo_email)
    operator.screenshot(path=shots / "admin-audit-operator-story.png", full_page=True)
    assert account_id.startswith("acct_")
