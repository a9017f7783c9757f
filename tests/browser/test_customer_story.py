"""Issue 25's story in a real browser, by roles and labels: a customer signs up, verifies the
email by the link a loopback SMTP server received, turns on two-factor sign-in, makes a key,
registers a webhook endpoint that gets the test event on a loopback receiver, generates, finds
the task by a word of its prompt, signs out, forgets the password, resets it
by the emailed link and signs in with the new password and a TOTP code."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect
from standardwebhooks import Webhook

from tests.browser.conftest import Server, serve
from tests.helpers.smtp import SmtpServer, links_in, smtp_server
from tests.helpers.webhook_receiver import Receiver

VIEWPORT = {"width": 1280, "height": 900}
EMAIL = "dana@films.test"
FIRST_PASSWORD = "dana's first password"
NEW_PASSWORD = "dana's second password"


@pytest.fixture(scope="module")
def mail() -> Iterator[SmtpServer]:
    with smtp_server() as running:
        yield running


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory, mail: SmtpServer) -> Iterator[Server]:
    """serve with open sign-ups that must verify their email, and SMTP on loopback."""
    with serve(
        tmp_path_factory.mktemp("customer-story"),
        GROKIMAGINE_SMTP_HOST=mail.host,
        GROKIMAGINE_SMTP_PORT=str(mail.port),
        GROKIMAGINE_SMTP_SECURITY="none",
        GROKIMAGINE_CONSOLE_SIGNUP="open",
        GROKIMAGINE_CONSOLE_STARTER_CREDITS="200",
        GROKIMAGINE_SELFSERVICE_VERIFY_EMAIL="true",
        GROKIMAGINE_FETCH_ALLOWLIST="127.0.0.1",  # the loopback webhook receiver
    ) as running:
        yield running


def _code_after(totp: pyotp.TOTP, used: set[str]) -> str:
    """A current code not used yet (a code works once: wait for the next step if needed)."""
    deadline = time.monotonic() + 60
    while (code := totp.now()) in used:
        assert time.monotonic() < deadline, "no new TOTP step within a minute"
        time.sleep(0.2)
    used.add(code)
    return code


def test_a_customer_helps_themselves_from_sign_up_to_a_reset(
    browser: Browser, studio: Server, mail: SmtpServer, receiver: Receiver
):
    page: Page = browser.new_context(viewport=VIEWPORT).new_page()
    base = studio.base_url

    # Sign up, then verify the email by the link that arrived.
    page.goto(f"{base}/console/sign-in")
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(FIRST_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(f"{base}/console")
    expect(page.get_by_role("alert").first).to_contain_text("Verify your email")
    (link,) = links_in(mail.inbox.last_to(EMAIL))
    page.goto(link)
    expect(page.get_by_role("heading", name="Email verified")).to_be_visible()
    page.get_by_role("link", name="Go to the console").click()
    expect(page.get_by_text("Verify your email")).to_have_count(0)

    # Two-factor sign-in: the setup key into an "app" (pyotp), its code, the recovery codes.
    page.get_by_role("link", name="Two-factor sign-in").click()
    page.get_by_role("button", name="Set up two-factor sign-in").click()
    secret = page.get_by_label("Setup key").input_value()
    totp = pyotp.TOTP(secret)
    used: set[str] = set()
    page.get_by_label("Code from the app").fill(_code_after(totp, used))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.get_by_role("status")).to_contain_text("Two-factor sign-in is on")
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()

    # A key that works on the API.
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name", exact=True).fill("render farm")
    page.get_by_role("button", name="Create key").click()
    token = page.get_by_label("New API key").input_value()
    answer = httpx.get(f"{base}/v1/account", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and answer.json()["data"]["balance"] == 200

    # A webhook endpoint, and its test event on a loopback receiver, signed with its secret.
    page.get_by_role("link", name="Webhooks").click()
    page.get_by_label("Endpoint URL").fill(receiver.url("/studio"))
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_role("status")).to_contain_text("Endpoint added")
    secret = page.get_by_label(f"Signing secret of {receiver.url('/studio')}").input_value()
    page.get_by_role("button", name=f"Send a test event to {receiver.url('/studio')}").click()
    expect(page.get_by_role("status")).to_contain_text("Test event queued")
    deadline = time.monotonic() + 30
    while not receiver.received:
        assert time.monotonic() < deadline, "the test event did not arrive"
        time.sleep(0.1)
    event = receiver.received[0]
    assert Webhook(secret).verify(event.body, event.headers)["type"] == "webhook.test"
    page.reload()
    expect(page.locator("tr", has_text="webhook.test")).to_contain_text("delivered")

    # Generate in the playground, then find the task by one word of its prompt.
    page.get_by_role("link", name="Playground").click()
    page.get_by_label("Prompt", exact=True).fill("a heron lifting off a misty lake")
    page.get_by_label("Duration", exact=True).select_option("2")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#live-status")).to_have_text("completed", timeout=60_000)
    page.get_by_role("link", name="History").click()
    page.get_by_label("Search").fill("heron")
    page.get_by_role("button", name="Search").click()
    cards = page.locator(".task-card")
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("a heron lifting off a misty lake")
    page.get_by_label("Search").fill("flamingo")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No tasks match these filters")).to_be_visible()

    # Sign out; forgot the password; the emailed link sets a new one.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_role("status")).to_contain_text("is on its way")
    reset = mail.inbox.last_to(EMAIL, "Reset your password")
    assert reset["Subject"] == "Reset your password"
    (link,) = links_in(reset)
    page.goto(link)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set password").click()
    # Two-factor is on: the link does not sign in by itself.
    expect(page).to_have_url(f"{base}/console/sign-in?reset=1")
    expect(page.get_by_role("status")).to_contain_text("Your new password is set")

    # The old password is refused; the new one and a TOTP code sign in.
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(FIRST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not correct")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    page.get_by_label("Code").fill(_code_after(totp, used))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(f"{base}/console")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
