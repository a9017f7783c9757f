"""The console on a phone and for keyboards and screen readers (issue 25): axe-core finds no
serious or critical violation on any console or /admin page at 1280 and 390 px, no page scrolls
sideways at 390 px, the menu folds behind a button, tabs are one Tab stop; and the playground's
errors stay, its code tabs run as shown."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Server, serve
from tests.helpers.axe import axe_script, serious_violations

SERVER_ENV = {"GROKIMAGINE_CONSOLE_SIGNUP": "open", "GROKIMAGINE_CONSOLE_STARTER_CREDITS": "100"}
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
ROOT = Path(__file__).resolve().parents[2]
WIDEST = """() => Array.from(document.querySelectorAll('body *'))
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .slice(-6).map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' +
    Math.round(e.getBoundingClientRect().right))"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``serve`` with sign-ups open (the sign-up page is checked too)."""
    with serve(tmp_path_factory.mktemp("phone-server"), **SERVER_ENV) as running:
        yield running


@pytest.fixture(scope="module")
def customer(server: Server) -> dict[str, str]:
    """An account with 20 credits: less than a video costs, for refusals."""
    made = server.cli("keys", "create", "--credits", "20", "--name", "Phone Co")
    assert made.returncode == 0, made.stderr
    account_id = re.search(r"account (acct_\S+)", made.stdout)[1]
    password = "bob's long password"
    user = server.cli(
        "users", "create", "--email", "bob@example.com", "--account", account_id,
        stdin=password + "\n",
    )  # fmt: skip
    assert user.returncode == 0, user.stderr
    return {"email": "bob@example.com", "password": password, "account_id": account_id}


def open_page(browser: Browser, viewport: dict[str, int], *, axe: bool = False) -> Page:
    # axe is injected as a script tag, which the console's Content-Security-Policy forbids.
    context = browser.new_context(viewport=viewport, bypass_csp=axe)
    return context.new_page()


def sign_in(page: Page, server: Server, email: str, password: str) -> None:
    page.goto(f"{server.base_url}/console/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/console$"))


def _task_of(server: Server, key: str) -> str:
    made = httpx.post(
        f"{server.base_url}/v1/generate",
        json={"prompt": "a lighthouse in a storm", "duration": 2},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert made.status_code == 200, made.text
    return made.json()["data"]["task_id"]


def _pages(server: Server, browser: Browser) -> tuple[list[str], list[str], list[str]]:
    """(anonymous, customer, operator) paths, with a real task and account in them."""
    task_id = _task_of(server, server.demo_key)
    operator = open_page(browser, DESKTOP)
    sign_in(operator, server, server.demo_email, server.demo_password)
    operator.goto(f"{server.base_url}/admin")
    account_path = operator.locator("a[href^='/admin/accounts/acct_']").first.get_attribute("href")
    operator.context.close()
    anonymous = [
        "/console/sign-in",
        "/console/sign-up",
        "/console/forgot-password",
        "/console/forgot-password?sent=1",
        "/console/verify-email?token=spent",
        "/console/set-password?token=spent",
        "/console/no-such-page",
    ]
    console = [
        "/console",
        "/console/playground",
        "/console/history",
        "/console/keys",
        "/console/billing",
        "/console/webhooks",
        "/console/password",
        "/console/security",
        f"/console/tasks/{task_id}",
    ]
    admin = [
        "/admin",
        "/admin/tasks",
        f"/admin/tasks/{task_id}",
        "/admin/usage",
        "/admin/fleet",
        "/admin/audit",
        "/admin/plans",
        "/admin/settings",
        "/admin/admin-keys",
        "/admin/storage",
        account_path,
    ]
    return anonymous, console, admin


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
def test_axe_finds_nothing_serious_and_nothing_scrolls_sideways(
    browser: Browser, server: Server, viewport: dict[str, int]
):
    axe_script()  # installed (or the test skipped) before any page opens
    anonymous, console, admin = _pages(server, browser)
    page = open_page(browser, viewport, axe=True)
    found: dict[str, list[str]] = {}
    wide: dict[str, int] = {}

    def check(path: str) -> None:
        page.goto(f"{server.base_url}{path}")
        page.wait_for_load_state("networkidle")
        found[path] = serious_violations(page)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        if width > viewport["width"]:
            wide[path] = width
            print(path, page.evaluate(WIDEST))  # which elements stick out, for the failure

    for path in anonymous:
        check(path)
    # The operator sees every customer page too (their own account) and the /admin pages.
    sign_in(page, server, server.demo_email, server.demo_password)
    for path in console + admin:
        check(path)
    assert {path: v for path, v in found.items() if v} == {}
    assert wide == {}, "pages wider than the screen"


def test_the_menu_folds_behind_a_button_on_a_phone(browser: Browser, server: Server, customer):
    page = open_page(browser, PHONE)
    sign_in(page, server, customer["email"], customer["password"])
    menu = page.get_by_role("button", name="Menu")
    expect(menu).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "false")
    history = page.get_by_role("link", name="History")
    expect(history).to_be_hidden()
    # The navigation takes a line, not most of the screen.
    nav_height = page.locator("nav.sidebar").bounding_box()["height"]
    assert nav_height < 100, nav_height
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    history.click()
    expect(page).to_have_url(re.compile(r"/console/history$"))
    # A new page starts with the menu folded; opened, it marks where the person is.
    expect(page.get_by_role("link", name="History")).to_be_hidden()
    page.get_by_role("button", name="Menu").click()
    expect(page.get_by_role("link", name="History")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("link", name="Billing")).not_to_have_attribute("aria-current", "page")
    # At 1280 px there is no button: the sidebar is always there.
    desktop = open_page(browser, DESKTOP)
    sign_in(desktop, server, customer["email"], customer["password"])
    expect(desktop.get_by_role("button", name="Menu")).to_be_hidden()
    expect(desktop.get_by_role("link", name="Overview")).to_have_attribute("aria-current", "page")


def test_keyboard_only_skip_link_tabs_and_keys(browser: Browser, server: Server, customer):
    page = open_page(browser, DESKTOP)
    # Sign in with the keyboard alone.
    page.goto(f"{server.base_url}/console/sign-in")
    page.keyboard.type(customer["email"])  # the email field has focus on arrival
    page.keyboard.press("Tab")
    page.keyboard.type(customer["password"])
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/console$"))
    # The first Tab stop is the skip link, which moves focus to the content.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"

    # The code tabs: one Tab stop, arrow keys move between them.
    page.goto(f"{server.base_url}/console/playground")
    curl = page.get_by_role("tab", name="curl")
    curl.focus()
    page.keyboard.press("ArrowRight")
    python = page.get_by_role("tab", name="Python")
    expect(python).to_be_focused()
    expect(python).to_have_attribute("aria-selected", "true")
    expect(page.locator("#snippet")).to_contain_text("from grokimagine_client import GrokImagine")
    page.keyboard.press("End")
    expect(page.get_by_role("tab", name="CLI")).to_be_focused()
    page.keyboard.press("Home")
    expect(curl).to_be_focused()
    page.keyboard.press("Tab")  # out of the tab list, to the code panel
    expect(page.get_by_role("tabpanel")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(curl).to_be_focused()

    # Make a key with the keyboard: type, Enter; the token shows once, a reload adds nothing.
    page.goto(f"{server.base_url}/console/keys")
    page.get_by_label("Name", exact=True).focus()
    page.keyboard.type("keyboard key")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=re.compile("Your new key"))).to_be_visible()
    token = page.locator("#new-key-token").input_value()
    assert token.startswith("gi_live_")
    page.reload()
    expect(page.get_by_role("heading", name=re.compile("Your new key"))).to_have_count(0)
    expect(page.locator("tr", has_text="keyboard key")).to_have_count(1)


def test_a_refused_generate_stays_until_the_person_acts(browser: Browser, server: Server, customer):
    page = open_page(browser, DESKTOP)
    sign_in(page, server, customer["email"], customer["password"])
    page.goto(f"{server.base_url}/console/playground")
    error = page.locator("#pg-error")
    # 20 credits, a 40-credit video: Generate right after typing, while the price check of the
    # typing is still due; the refusal must outlive that check.
    with page.expect_response(lambda r: r.url.endswith("/console/api/generate")) as refused:
        page.get_by_label("Prompt", exact=True).fill("a fox too expensive to make")
        page.get_by_role("button", name="Generate").click()
    assert refused.value.status == 402
    # The price check of the typing (due 150 ms after it) used to clear the message: once the
    # network has been quiet for half a second, that check has come and gone.
    page.wait_for_load_state("networkidle")
    expect(error).to_be_visible()
    expect(error).to_contain_text(re.compile("credits", re.I))
    # Acting on it (changing the form) clears it.
    page.get_by_label("Prompt", exact=True).fill("a cheaper fox")
    expect(error).to_be_hidden()


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_python_and_cli_tabs_run_as_shown(browser: Browser, server: Server, tmp_path: Path):
    page = open_page(browser, DESKTOP)
    sign_in(page, server, server.demo_email, server.demo_password)
    page.goto(f"{server.base_url}/console/playground")
    page.get_by_label("Prompt", exact=True).fill('a fox\'s "quoted" tail')
    page.get_by_label("Duration", exact=True).select_option("2")
    env = {
        **os.environ,
        "GROKIMAGINE_API_KEY": server.demo_key,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "sdk" / "python" / "src"), str(ROOT / "src")]),
    }
    page.get_by_role("tab", name="Python").click()
    python = page.locator("#snippet").inner_text()
    ran = run([sys.executable, "-c", python], tmp_path, env)
    assert ran.returncode == 0, python + ran.stderr
    assert ran.stdout.startswith("completed ") and ran.stdout.strip().endswith(".mp4")
    page.get_by_role("tab", name="CLI").click()
    command = page.locator("#snippet").inner_text()
    client = Path(sys.executable).parent / "grokimagine-client"
    command = command.replace("grokimagine-client ", f"{client} ", 1)
    (tmp_path / "cli").mkdir()
    ran = run(["bash", "-c", command], tmp_path / "cli", env)
    assert ran.returncode == 0, command + ran.stderr
    assert list((tmp_path / "cli").glob("*.mp4"))
