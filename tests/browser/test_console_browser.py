"""The console in a real browser: from sign-in to a played video, and the safety rules.

One server for the module; the tests run in file order and build on each other's state (the
customer made in the first is the one the operator helps later), like a person's session.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Server

XSS_PROMPT = '<script>alert("xss")</script>"><img src=x onerror=alert(2)> a fox'
VIEWPORT = {"width": 1360, "height": 900}


@pytest.fixture(scope="module")
def customer(server: Server) -> dict[str, str]:
    """An account with 400 credits and a console user in it, made with the CLI."""
    made = server.cli("keys", "create", "--credits", "400", "--name", "Acme")
    assert made.returncode == 0, made.stderr
    account_id = re.search(r"account (acct_\S+)", made.stdout)[1]
    password = "alice's long password"
    user = server.cli(
        "users",
        "create",
        "--email",
        "alice@example.com",
        "--account",
        account_id,
        stdin=password + "\n",
    )
    assert user.returncode == 0, user.stderr
    assert "alice@example.com" in user.stdout
    return {"email": "alice@example.com", "password": password, "account_id": account_id}


def sign_in(page: Page, server: Server, email: str, password: str) -> None:
    page.goto(f"{server.base_url}/console")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.base_url}/console")


def new_page(browser: Browser) -> Page:
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None
    )
    page.errors = errors  # type: ignore[attr-defined]
    return page


def test_from_sign_in_to_a_played_video(browser: Browser, server: Server, customer, shots: Path):
    page = new_page(browser)
    page.goto(f"{server.base_url}/console")
    page.screenshot(path=shots / "sign-in.png")
    sign_in(page, server, customer["email"], customer["password"])

    # A key, shown once, that works on the API.
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name", exact=True).fill("laptop")
    page.get_by_label("Kind", exact=True).select_option("live")
    page.get_by_role("button", name="Create key").click()
    token = page.locator("#new-key-token").input_value()
    assert token.startswith("gi_live_")
    page.get_by_role("button", name="Copy key").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    page.screenshot(path=shots / "keys.png", full_page=True)
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{server.base_url}/v1/account", headers=auth).json()["data"]["balance"] == 400

    # The playground: price before submitting, then live progress into the player.
    page.get_by_role("link", name="Playground").click()
    page.get_by_label("Prompt", exact=True).fill("a red fox running through fresh snow at sunrise")
    page.get_by_label("Ratio", exact=True).select_option("3:2")
    expect(page.locator("#price")).to_have_text("40")
    page.get_by_label("Videos", exact=True).select_option("2")
    expect(page.locator("#price")).to_have_text("80")
    page.get_by_label("Videos", exact=True).select_option("1")
    expect(page.locator("#price")).to_have_text("40")
    page.get_by_role("tab", name="Python").click()
    expect(page.locator("#snippet")).to_contain_text("client.videos.create_and_wait(")
    page.get_by_role("tab", name="CLI").click()
    expect(page.locator("#snippet")).to_contain_text(
        "grokimagine-client generate 'a red fox running through fresh snow at sunrise'"
    )
    expect(page.locator("#snippet")).to_contain_text("--ratio '3:2'")
    page.get_by_role("tab", name="Python").click()
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#live-text")).to_have_text(re.compile(r"Queued|Rendering|Done"))
    page.wait_for_function(
        "() => { const v = document.querySelector('#result-video');"
        " return v && !v.hidden && v.readyState >= 2; }",
        timeout=60_000,
    )
    expect(page.locator("#live-status")).to_have_text("completed")
    assert page.locator("#live-progress").evaluate("bar => bar.style.width") == "100%"
    page.screenshot(path=shots / "playground.png", full_page=True)

    # History: the poster thumbnail, then the task page's player.
    page.get_by_role("link", name="History").click()
    card = page.locator(".task-card", has_text="a red fox running")
    expect(card).to_have_count(1)
    thumbnail = card.locator("img")
    expect(thumbnail).to_be_visible()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle()
    )
    page.screenshot(path=shots / "history.png", full_page=True)
    card.click()
    expect(page.get_by_role("heading", name=re.compile(r"^task_"))).to_be_visible()
    video = page.locator("video").first
    video.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function(
        "v => v.readyState >= 2 && v.currentTime > 0", arg=video.element_handle(), timeout=30_000
    )
    video.evaluate("v => v.pause()")
    page.screenshot(path=shots / "task.png", full_page=True)

    # Download.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download video").click()
    saved = download_info.value.path()
    data = Path(saved).read_bytes()
    assert data[4:8] == b"ftyp" and len(data) > 10_000

    # Billing shows the charge; overview the chart and the recent task.
    page.get_by_role("link", name="Billing").click()
    expect(page.locator("table")).to_contain_text("reserve")
    page.screenshot(path=shots / "billing.png", full_page=True)
    page.get_by_role("link", name="Webhooks").click()
    page.get_by_role("button", name="Reveal secret").click()
    expect(page.locator("#webhook-secret")).to_have_attribute("type", "text")
    page.get_by_role("button", name="Hide secret").click()
    page.screenshot(path=shots / "webhooks.png", full_page=True)
    page.get_by_role("link", name="Overview").click()
    expect(page.locator("#balance")).to_have_text("360")
    page.screenshot(path=shots / "overview.png", full_page=True)

    # Revoke the key: the API refuses it (within the token cache's two seconds).
    page.get_by_role("link", name="API keys").click()
    page.get_by_role("button", name="Revoke key laptop").click()
    expect(page.locator("tr", has_text="laptop")).to_contain_text("revoked")
    deadline = time.monotonic() + 5
    while httpx.get(f"{server.base_url}/v1/account", headers=auth).status_code != 401:
        assert time.monotonic() < deadline, "a revoked key still works"
        time.sleep(0.25)
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_script_in_a_prompt_stays_text(browser: Browser, server: Server, customer):
    page = new_page(browser)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, server, customer["email"], customer["password"])
    page.get_by_role("link", name="Playground").click()
    page.get_by_label("Prompt", exact=True).fill(XSS_PROMPT)
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#live-status")).to_have_text("completed", timeout=60_000)
    page.get_by_role("link", name="History").click()
    card = page.locator(".task-card", has_text="a fox")
    expect(card).to_contain_text('<script>alert("xss")</script>')
    card.click()
    expect(page.locator(".prompt-full")).to_have_text(XSS_PROMPT)
    page.get_by_role("link", name="Overview").click()
    expect(page.locator(".task-card").first).to_contain_text("<script>")
    assert dialogs == []
    assert page.locator("img[src='x']").count() == 0


def test_a_customer_cannot_reach_admin_pages(browser: Browser, server: Server, customer):
    page = new_page(browser)
    sign_in(page, server, customer["email"], customer["password"])
    expect(page.get_by_role("link", name="Accounts")).to_have_count(0)
    for path in ("/admin", "/admin/accounts", "/admin/tasks", "/admin/audit"):
        answer = page.goto(f"{server.base_url}{path}")
        assert answer is not None and answer.status == 404, path
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()


def test_a_form_posted_without_its_csrf_token_is_refused(
    browser: Browser, server: Server, customer
):
    page = new_page(browser)
    sign_in(page, server, customer["email"], customer["password"])
    # The browser's own cookies go along; only the token is missing (as from another site).
    answer = page.request.post(f"{server.base_url}/console/keys", form={"name": "forged"})
    assert answer.status == 403
    answer = page.request.post(f"{server.base_url}/console/api/generate", data={"prompt": "forged"})
    assert answer.status == 403
    page.goto(f"{server.base_url}/console/keys")
    expect(page.locator("table")).not_to_contain_text("forged")
    # The sign-in form too: a post from elsewhere, without the form's token, signs no one in.
    stranger = new_page(browser)
    answer = stranger.request.post(
        f"{server.base_url}/console/sign-in",
        form={"email": customer["email"], "password": customer["password"]},
    )
    assert answer.status == 403
    stranger.goto(f"{server.base_url}/console")
    expect(stranger).to_have_url(re.compile(r"/console/sign-in"))


def test_an_other_accounts_task_is_not_found(browser: Browser, server: Server, customer):
    demo = httpx.post(
        f"{server.base_url}/v1/generate",
        json={"prompt": "the demo account's own"},
        headers={"Authorization": f"Bearer {server.demo_key}"},
    )
    task_id = demo.json()["data"]["task_id"]
    page = new_page(browser)
    sign_in(page, server, customer["email"], customer["password"])
    answer = page.goto(f"{server.base_url}/console/tasks/{task_id}")
    assert answer is not None and answer.status == 404
    expect(page.locator("body")).not_to_contain_text("the demo account's own")


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 80, 40)).save(out, format="PNG")
    return out.getvalue()


def test_an_image_dropped_on_the_playground_is_animated(browser: Browser, server: Server, customer):
    page = new_page(browser)
    sign_in(page, server, customer["email"], customer["password"])
    page.get_by_role("link", name="Playground").click()
    page.get_by_label("Prompt", exact=True).fill("animate this orange card")
    # Drag and drop: a real drop event carrying a file, as a desktop drag would deliver it.
    data = list(_png())
    transfer = page.evaluate_handle(
        """bytes => { const dt = new DataTransfer();
             dt.items.add(new File([new Uint8Array(bytes)], 'card.png', {type: 'image/png'}));
             return dt; }""",
        data,
    )
    page.locator("#dropzone").dispatch_event("drop", {"dataTransfer": transfer})
    expect(page.locator("#image-previews img")).to_have_count(1)
    # And the file picker, for a second image; then one is removed again.
    page.get_by_label("Images").set_input_files(
        files=[{"name": "second.png", "mimeType": "image/png", "buffer": _png()}]
    )
    expect(page.locator("#image-previews img")).to_have_count(2)
    page.get_by_role("button", name="Remove image").first.click()
    expect(page.locator("#image-previews img")).to_have_count(1)
    expect(page.locator("#snippet")).to_contain_text('"images":["data:image/png;base64,')
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#live-status")).to_have_text("completed", timeout=60_000)
    page.get_by_role("link", name="Open the task page").click()
    expect(page.locator("pre.code")).to_contain_text('"images"')


def test_the_operator_grants_credits_then_disables_the_account(
    browser: Browser, server: Server, customer, shots: Path
):
    operator = new_page(browser)
    sign_in(operator, server, server.demo_email, server.demo_password)
    operator.get_by_role("link", name="Accounts").click()
    operator.get_by_label("Search").fill("Acme")
    operator.get_by_role("button", name="Search accounts").click()
    operator.screenshot(path=shots / "admin-accounts.png", full_page=True)
    operator.get_by_role("link", name=customer["account_id"]).click()
    before = int(operator.locator("#account-balance").inner_text().replace(",", ""))
    operator.get_by_label("Amount").fill("500")
    operator.get_by_label("Reason").fill("welcome bonus")
    operator.get_by_role("button", name="Grant credits").click()
    # Money moves only after a second submit that names what will happen.
    expect(operator.get_by_role("heading", level=1)).to_have_text(
        f"Grant 500 credits to account {customer['account_id']}?"
    )
    operator.get_by_role("button", name="Grant 500 credits").click()
    expect(operator.get_by_role("status")).to_contain_text("Granted 500 credits")
    expect(operator.locator("#account-balance")).to_have_text(f"{before + 500:,}")
    expect(operator.locator("table", has_text="welcome bonus").first).to_be_visible()
    operator.screenshot(path=shots / "admin-account.png", full_page=True)

    # The customer sees the grant and can still generate...
    customer_page = new_page(browser)
    sign_in(customer_page, server, customer["email"], customer["password"])
    expect(customer_page.locator("#balance")).to_have_text(f"{before + 500:,}")
    # The committed screenshots of these two pages show an account with a few videos.
    customer_page.screenshot(path=shots / "overview.png", full_page=True)
    customer_page.get_by_role("link", name="History").click()
    expect(customer_page.locator(".task-card img")).to_have_count(3)
    customer_page.screenshot(path=shots / "history.png", full_page=True)

    # ...until the operator disables the account: the next Generate is refused, with the reason.
    operator.get_by_role("button", name="Disable account").click()
    expect(operator.get_by_role("alert")).to_contain_text("API keys will be refused")
    operator.get_by_role("button", name="Disable account").click()
    expect(operator.locator("#account-state")).to_have_text("disabled")
    customer_page.get_by_role("link", name="Playground").click()
    expect(customer_page.get_by_role("alert").first).to_contain_text("This account is disabled")
    customer_page.get_by_label("Prompt", exact=True).fill("one more please")
    customer_page.get_by_role("button", name="Generate").click()
    expect(customer_page.locator("#pg-error")).to_contain_text("Account disabled")
    expect(customer_page.locator("#result-video")).to_be_hidden()

    # The operator's other pages, and the audit log that recorded both actions.
    for name, path in (
        ("admin-tasks", "/admin/tasks"),
        ("admin-usage", "/admin/usage"),
        ("admin-fleet", "/admin/fleet"),
        ("admin-plans", "/admin/plans"),
    ):
        operator.goto(f"{server.base_url}{path}")
        operator.screenshot(path=shots / f"{name}.png", full_page=True)
    operator.goto(f"{server.base_url}/admin/audit")
    expect(operator.locator("table")).to_contain_text("credits.grant")
    expect(operator.locator("table")).to_contain_text("account.disable")
    operator.screenshot(path=shots / "admin-audit.png", full_page=True)
    operator.get_by_role("link", name="All tasks").click()
    operator.locator("a.mono", has_text="task_").first.click()
    operator.screenshot(path=shots / "admin-task.png", full_page=True)
