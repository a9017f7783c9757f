"""Signing in and out of the console: cookies, limits, CSRF of the anonymous forms, passwords,
sign-up, where sign-in leads."""

from __future__ import annotations

import httpx
import pytest

from grokimagine.services import Services
from tests.helpers.console import attempt_sign_in, make_user, replace_settings, sign_in


async def test_sign_in_sets_an_httponly_samesite_session_cookie(services: Services, browser_like):
    who = await make_user(services)
    http = browser_like()
    answer = await attempt_sign_in(http, who.email, who.password)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("gi_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http on loopback; behind HTTPS it is Secure
    overview = await http.get("/console")
    assert overview.status_code == 200
    assert who.email in overview.text and "Balance" in overview.text


async def test_the_cookie_is_secure_behind_https(services: Services, app):
    who = await make_user(services)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.2", 1))
    async with httpx.AsyncClient(transport=transport, base_url="https://console.test") as http:
        answer = await attempt_sign_in(http, who.email, who.password)
    assert "Secure" in answer.headers["set-cookie"]


async def test_wrong_passwords_are_refused_without_saying_which_part_was_wrong(
    services: Services, browser_like
):
    who = await make_user(services)
    http = browser_like()
    wrong_password = await attempt_sign_in(http, who.email, "not the password")
    unknown_email = await attempt_sign_in(http, "ghost@example.com", who.password)
    for answer in (wrong_password, unknown_email):
        assert answer.status_code == 401
        assert "The email or password is not correct." in answer.text
        assert "gi_session" not in answer.headers.get("set-cookie", "")


async def test_sign_in_is_rate_limited_per_email_across_addresses(services: Services, browser_like):
    who = await make_user(services)
    limit = services.settings.console.signin_email_limit
    for index in range(limit):
        http = browser_like(f"198.51.100.{index + 10}")
        answer = await attempt_sign_in(http, who.email, "wrong one!")
        assert answer.status_code == 401
    # Even the right password is refused now, from a fresh address: the email's window is full.
    late = browser_like("198.51.100.99")
    refused = await attempt_sign_in(late, who.email, who.password)
    assert refused.status_code == 429
    assert "Too many sign-in attempts" in refused.text


async def test_sign_in_is_rate_limited_per_address(services: Services, browser_like):
    http = browser_like("198.51.100.50")
    limit = services.settings.console.signin_limit
    for index in range(limit):
        answer = await attempt_sign_in(http, f"a{index}@example.com", "whatever1234")
        assert answer.status_code == 401
    refused = await attempt_sign_in(http, "another@example.com", "whatever1234")
    assert refused.status_code == 429


async def test_sign_out_ends_the_session_on_the_server(services: Services, browser_like):
    who = await make_user(services)
    http = browser_like()
    csrf = await sign_in(http, who)
    stolen = http.cookies.get("gi_session")
    assert (await http.post("/console/sign-out", data={"csrf_token": csrf})).status_code == 303
    replay = browser_like()
    replay.cookies.set("gi_session", stolen)
    assert (await replay.get("/console")).status_code == 303


async def test_a_password_change_signs_out_the_other_browsers(services: Services, browser_like):
    who = await make_user(services)
    here, there = browser_like(), browser_like()
    csrf = await sign_in(here, who)
    await sign_in(there, who)
    mismatch = await here.post(
        "/console/password",
        data={
            "csrf_token": csrf,
            "current_password": who.password,
            "new_password": "a brand new password",
            "new_password_again": "a different one!!",
        },
    )
    assert mismatch.status_code == 400 and "not the same" in mismatch.text
    changed = await here.post(
        "/console/password",
        data={
            "csrf_token": csrf,
            "current_password": who.password,
            "new_password": "a brand new password",
            "new_password_again": "a brand new password",
        },
    )
    assert changed.status_code == 303
    assert "Password changed" in (await here.get(changed.headers["location"])).text
    assert (await here.get("/console")).status_code == 200
    assert (await there.get("/console")).status_code == 303


async def test_sign_up_is_closed_by_default_and_open_when_set(
    services: Services, app, browser_like
):
    http = browser_like()
    assert (await http.get("/console/sign-up")).status_code == 404
    closed = await http.post(
        "/console/sign-up", data={"email": "new@example.com", "password": "a long password"}
    )
    assert closed.status_code == 404
    await replace_settings(services, console_signup="open", console_starter_credits=80)
    opened = await attempt_sign_in(http, "new@example.com", "a long password", "/console/sign-up")
    assert opened.status_code == 303
    overview = await http.get("/console")
    assert "new@example.com" in overview.text and ">80<" in overview.text
    again = await attempt_sign_in(
        browser_like(), "NEW@example.com", "a long password", "/console/sign-up"
    )
    assert again.status_code == 400 and "already exists" in again.text


async def test_sign_in_limits_hold_in_redis_across_two_app_processes(settings, services: Services):
    """Two apps sharing Redis (as two serve processes would) count one email's attempts once."""
    from grokimagine.console.app import create_app
    from grokimagine.services import build_services
    from tests.helpers.customers import REDIS_URL

    shared = settings.replace(redis_url=REDIS_URL)
    first, second = build_services(shared), build_services(shared)
    who = await make_user(services)
    limit = settings.console.signin_email_limit
    try:
        clients = [
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(own), client=(f"198.51.100.{n}", 1)),
                base_url="http://testserver",
            )
            for n, own in ((1, first), (2, second))
        ]
        codes = []
        for attempt in range(limit + 1):
            answer = await attempt_sign_in(clients[attempt % 2], who.email, "wrong password")
            codes.append(answer.status_code)
        assert codes == [401] * limit + [429]
        for client in clients:
            await client.aclose()
    finally:
        await first.close()
        await second.close()


async def test_the_sign_in_form_carries_its_own_csrf_token(services: Services, browser_like):
    """Another site cannot post a sign-in (to sign a browser in to the attacker's account)."""
    who = await make_user(services)
    http = browser_like()
    bare = await http.post("/console/sign-in", data={"email": who.email, "password": who.password})
    assert bare.status_code == 403 and "set-cookie" not in bare.headers
    page = await http.get("/console/sign-in")
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("gi_form=") and "SameSite=strict" in cookie and "HttpOnly" in cookie
    other = browser_like()  # a token from another browser's page is not this one's
    forged = await other.post(
        "/console/sign-in",
        data={"email": who.email, "password": who.password, "csrf_token": http.cookies["gi_form"]},
    )
    assert forged.status_code == 403
    assert (await attempt_sign_in(http, who.email, who.password)).status_code == 303


@pytest.mark.parametrize(
    ("next_url", "lands"),
    [
        ("/console/history?status=failed", "/console/history?status=failed"),
        ("//evil.example/console", "/console"),
        ("https://evil.example/console", "/console"),
        ("/\\evil.example", "/console"),
        ("/v1/account", "/console"),
    ],
)
async def test_sign_in_goes_back_only_to_console_pages(
    services: Services, browser_like, next_url, lands
):
    who = await make_user(services)
    http = browser_like()
    answer = await attempt_sign_in(http, who.email, who.password, next=next_url)
    assert answer.status_code == 303
    assert answer.headers["location"] == lands
