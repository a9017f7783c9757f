"""The page an emailed link opens: choose a password, once; every other session ends."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from grokimagine.domain.accounts.link_emails import send_password_link
from grokimagine.services import Services
from grokimagine.settings import SmtpSettings
from tests.helpers.console import FORM_TOKEN, make_user, sign_in
from tests.helpers.smtp import links_in, smtp_server


async def _form(http: httpx.AsyncClient, path: str) -> tuple[httpx.Response, str]:
    page = await http.get(path)
    token = FORM_TOKEN.search(page.text)
    return page, token.group(1) if token else ""


@pytest.mark.both_databases
async def test_a_reset_link_emailed_through_smtp_sets_the_password_and_signs_out_everywhere(
    services: Services, browser_like
) -> None:
    who = await make_user(services)
    laptop, phone, mailbox = browser_like(), browser_like(), browser_like()
    await sign_in(laptop, who)
    await sign_in(phone, who)

    with smtp_server() as server:
        smtp = SmtpSettings(host=server.host, port=server.port, security="none")
        sent = await send_password_link(
            services.db,
            smtp,
            user_id=who.user_id,
            email=who.email,
            purpose="password_reset",
            base_url="http://testserver",
        )
        message = server.inbox.last_to(who.email)
    assert sent.email.delivered
    assert message["Subject"] == "Reset your password"
    [link] = links_in(message)
    assert link == sent.url
    path = urlsplit(link).path + "?" + urlsplit(link).query

    page, csrf = await _form(mailbox, path)
    assert page.status_code == 200
    assert who.email in page.text and "Choose a new password" in page.text
    assert page.headers["referrer-policy"] == "same-origin"  # the token stays on this site
    assert page.headers["cache-control"] == "no-store"
    token = path.split("token=", 1)[1]

    mismatch = await mailbox.post(
        "/console/set-password",
        data={
            "csrf_token": csrf,
            "token": token,
            "new_password": "brand new password",
            "new_password_again": "brand new passw0rd",
        },
    )
    assert mismatch.status_code == 400 and "not the same" in mismatch.text

    done = await mailbox.post(
        "/console/set-password",
        data={
            "csrf_token": csrf,
            "token": token,
            "new_password": "brand new password",
            "new_password_again": "brand new password",
        },
    )
    assert done.status_code == 303 and done.headers["location"] == "/console"
    assert (await mailbox.get("/console/keys")).status_code == 200  # signed in by the link
    for old in (laptop, phone):
        assert (await old.get("/console/keys")).status_code == 303  # back to sign-in

    again, _ = await _form(mailbox, path)
    assert again.status_code == 410 and "not valid any more" in again.text
    replay = await mailbox.post(
        "/console/set-password",
        data={
            "csrf_token": csrf,
            "token": token,
            "new_password": "another password!",
            "new_password_again": "another password!",
        },
    )
    assert replay.status_code == 410
    who.password = "brand new password"
    await sign_in(browser_like(), who)


async def test_without_smtp_the_link_is_logged_and_returned_undelivered(
    services: Services, caplog
) -> None:
    who = await make_user(services)
    sent = await send_password_link(
        services.db,
        SmtpSettings(),
        user_id=who.user_id,
        email=who.email,
        purpose="invite",
        base_url="http://studio.example/",
        inviter="ops@example.com",
    )
    assert not sent.email.delivered
    assert sent.url.startswith("http://studio.example/console/set-password?token=")
    assert sent.url in sent.email.text and "ops@example.com invited you" in sent.email.text
    assert any(sent.url in record.getMessage() for record in caplog.records)


async def test_a_form_without_its_csrf_cookie_is_refused(services: Services, browser_like) -> None:
    who = await make_user(services)
    sent = await send_password_link(
        services.db,
        SmtpSettings(),
        user_id=who.user_id,
        email=who.email,
        purpose="password_reset",
        base_url="http://testserver",
    )
    token = sent.url.split("token=", 1)[1]
    answer = await browser_like().post(
        "/console/set-password",
        data={
            "csrf_token": "forged",
            "token": token,
            "new_password": "brand new password",
            "new_password_again": "brand new password",
        },
    )
    assert answer.status_code == 403
    page, _ = await _form(browser_like(), f"/console/set-password?token={token}")
    assert page.status_code == 200  # the link still works


async def test_an_unknown_link_says_so_with_410(browser_like) -> None:
    page, _ = await _form(browser_like(), "/console/set-password?token=nope")
    assert page.status_code == 410 and "not valid any more" in page.text
    assert 'name="new_password"' not in page.text
