"""Customers help themselves (issue 25): forgot password by an emailed single-use link, email
verification on sign-up, two-factor sign-in with recovery codes, history search."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import pyotp
import pytest

from grokimagine.domain.billing import low_balance
from grokimagine.services import Services
from grokimagine.settings import SelfServiceSettings, SmtpSettings
from tests.helpers.console import (
    FORM_TOKEN,
    attempt_sign_in,
    csrf_of,
    make_user,
    replace_settings,
    sign_in,
)
from tests.helpers.smtp import links_in, smtp_server

SECRET = re.compile(r'id="totp-secret" class="mono" readonly value="([A-Z2-7]+)"')
CODES = re.compile(r'<pre class="code" id="recovery-codes" tabindex="0">([^<]+)</pre>')


def _path(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


async def _anonymous_post(http, path: str, data: dict[str, str]):
    page = await http.get(path)
    return await http.post(path, data={**data, "csrf_token": FORM_TOKEN.search(page.text)[1]})


@pytest.mark.both_databases
async def test_forgot_password_emails_a_single_use_link_that_ends_every_session(
    services: Services, browser_like
):
    who = await make_user(services)
    elsewhere = browser_like()
    await sign_in(elsewhere, who)
    http = browser_like()
    with smtp_server() as server:
        await replace_settings(
            services, smtp=SmtpSettings(host=server.host, port=server.port, security="none")
        )
        asked = await _anonymous_post(http, "/console/forgot-password", {"email": who.email})
        unknown = await _anonymous_post(
            http, "/console/forgot-password", {"email": "nobody@example.com"}
        )
        message = server.inbox.last_to(who.email)
        assert len(server.inbox.messages) == 1  # nothing to an address with no account
    # The same answer for an account and for none: it tells nobody who has an account.
    assert asked.status_code == unknown.status_code == 303
    assert asked.headers["location"] == unknown.headers["location"]
    assert "is on its way" in (await http.get(asked.headers["location"])).text
    (link,) = links_in(message)
    page = await http.get(_path(link))
    assert page.status_code == 200 and who.email in page.text
    token = _path(link).split("token=", 1)[1]
    new_password = "a brand new password"
    chosen = await http.post(
        "/console/set-password",
        data={
            "csrf_token": FORM_TOKEN.search(page.text)[1],
            "token": token,
            "new_password": new_password,
            "new_password_again": new_password,
        },
    )
    assert chosen.status_code == 303
    assert (await elsewhere.get("/console")).status_code == 303  # signed out everywhere
    again = await http.get(_path(link))
    assert again.status_code == 410  # the link worked once
    assert (await attempt_sign_in(browser_like(), who.email, who.password)).status_code == 401
    assert (await attempt_sign_in(browser_like(), who.email, new_password)).status_code == 303


async def _turn_on_two_factor(http, csrf: str) -> tuple[str, list[str]]:
    started = await http.post("/console/security/two-factor/start", data={"csrf_token": csrf})
    assert started.status_code == 303
    page = await http.get("/console/security")
    secret = SECRET.search(page.text)[1]
    wrong = await http.post(
        "/console/security/two-factor/confirm", data={"csrf_token": csrf, "code": "000000"}
    )
    assert "not right" in (await http.get(wrong.headers["location"])).text
    totp = pyotp.TOTP(secret)
    confirmed = await http.post(
        "/console/security/two-factor/confirm",
        # The previous step's code (still accepted): the current one stays unused for sign-in.
        data={"csrf_token": csrf, "code": totp.at(time.time() - 30)},
    )
    assert confirmed.status_code == 303
    shown = await http.get(confirmed.headers["location"])
    codes = CODES.search(shown.text)[1].split("\n")
    assert len(codes) == 10 and "Two-factor sign-in is on." in shown.text
    assert CODES.search((await http.get("/console/security")).text) is None  # shown once
    return secret, codes


@pytest.mark.both_databases
async def test_two_factor_sign_in_with_an_app_code_or_a_recovery_code(
    services: Services, browser_like
):
    who = await make_user(services)
    http = browser_like()
    csrf = await sign_in(http, who)
    secret, codes = await _turn_on_two_factor(http, csrf)

    # The password alone opens nothing: the code is due.
    fresh = browser_like()
    answer = await attempt_sign_in(fresh, who.email, who.password)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/sign-in/code")
    assert (await fresh.get("/console")).status_code == 303
    assert (await fresh.get("/console/keys")).headers["location"].startswith("/console/sign-in")
    code_page = await fresh.get(answer.headers["location"])
    form_token = FORM_TOKEN.search(code_page.text)[1]
    wrong = await fresh.post(
        "/console/sign-in/code", data={"csrf_token": form_token, "code": "123456"}
    )
    assert wrong.status_code == 401 and "not right" in wrong.text
    now = pyotp.TOTP(secret).now()
    right = await fresh.post("/console/sign-in/code", data={"csrf_token": form_token, "code": now})
    assert right.status_code == 303 and right.headers["location"] == "/console"
    assert (await fresh.get("/console")).status_code == 200

    # The same code does not sign in twice; a recovery code does, once.
    other = browser_like()
    await attempt_sign_in(other, who.email, who.password)
    token = FORM_TOKEN.search((await other.get("/console/sign-in/code")).text)[1]
    replay = await other.post("/console/sign-in/code", data={"csrf_token": token, "code": now})
    assert replay.status_code == 401
    recovered = await other.post(
        "/console/sign-in/code", data={"csrf_token": token, "code": codes[0]}
    )
    assert recovered.status_code == 303
    assert "9 recovery codes left" in (await other.get("/console/security")).text


@pytest.mark.both_databases
async def test_a_reset_link_does_not_skip_the_second_factor(services: Services, browser_like):
    who = await make_user(services)
    http = browser_like()
    csrf = await sign_in(http, who)
    await _turn_on_two_factor(http, csrf)
    with smtp_server() as server:
        await replace_settings(
            services, smtp=SmtpSettings(host=server.host, port=server.port, security="none")
        )
        stranger = browser_like()
        await _anonymous_post(stranger, "/console/forgot-password", {"email": who.email})
        (link,) = links_in(server.inbox.last_to(who.email))
    page = await stranger.get(_path(link))
    chosen = await stranger.post(
        "/console/set-password",
        data={
            "csrf_token": FORM_TOKEN.search(page.text)[1],
            "token": _path(link).split("token=", 1)[1],
            "new_password": "another new password",
            "new_password_again": "another new password",
        },
    )
    assert chosen.status_code == 303 and chosen.headers["location"] == "/console/sign-in?reset=1"
    assert (await stranger.get("/console")).status_code == 303  # no session without the code


@pytest.mark.both_databases
async def test_sign_ups_verify_their_email_when_the_operator_asks(services: Services, browser_like):
    http = browser_like()
    with smtp_server() as server:
        await replace_settings(
            services,
            smtp=SmtpSettings(host=server.host, port=server.port, security="none"),
            selfservice=SelfServiceSettings(verify_email=True),
            console_signup="open",
            console_starter_credits=100,
        )
        signed_up = await _anonymous_post(
            http, "/console/sign-up", {"email": "new@example.com", "password": "a fine password"}
        )
        assert signed_up.status_code == 303, signed_up.text
        (link,) = links_in(server.inbox.last_to("new@example.com"))
    csrf = await csrf_of(http)
    overview = await http.get("/console")
    assert "Verify your email to make keys and videos" in overview.text
    refused = await http.post(
        "/console/keys", data={"name": "early", "kind": "live", "csrf_token": csrf}
    )
    assert refused.status_code == 403 and "Verify your email first" in refused.text
    generate = await http.post(
        "/console/api/generate", json={"prompt": "a fox"}, headers={"X-CSRF-Token": csrf}
    )
    assert generate.status_code == 403 and generate.json()["error"] == "EMAIL_NOT_VERIFIED"
    verified = await http.get(_path(link))
    assert verified.status_code == 200 and "Email verified" in verified.text
    assert (await http.get(_path(link))).status_code == 410
    made = await http.post(
        "/console/keys", data={"name": "now", "kind": "live", "csrf_token": csrf}
    )
    assert made.status_code == 303
    assert "Verify your email" not in (await http.get("/console")).text


async def test_operators_can_be_required_to_use_two_factors(services: Services, browser_like):
    admin = await make_user(services, admin=True)
    http = browser_like()
    csrf = await sign_in(http, admin)
    await replace_settings(
        services, selfservice=SelfServiceSettings(require_operator_two_factor=True)
    )
    refused = await http.get("/admin")
    assert refused.status_code == 403 and "two-factor" in refused.text
    await _turn_on_two_factor(http, csrf)
    assert (await http.get("/admin")).status_code == 200


@pytest.mark.both_databases
async def test_history_finds_a_task_by_a_word_of_its_prompt_or_its_id(
    services: Services, browser_like
):
    who, stranger = await make_user(services), await make_user(services)
    http, other = browser_like(), browser_like()
    csrf = await sign_in(http, who)
    other_csrf = await sign_in(other, stranger)
    ids = {}
    for prompt in ("A Lighthouse in a storm", "a quiet street at 100% dusk"):
        made = await http.post(
            "/console/api/generate", json={"prompt": prompt}, headers={"X-CSRF-Token": csrf}
        )
        ids[prompt] = made.json()["data"]["task_id"]
    theirs = await other.post(
        "/console/api/generate",
        json={"prompt": "another lighthouse"},
        headers={"X-CSRF-Token": other_csrf},
    )
    their_id = theirs.json()["data"]["task_id"]

    async def found(query: str) -> set[str]:
        page = await http.get("/console/history", params={"q": query})
        assert page.status_code == 200
        return set(re.findall(r'data-task-id="(task_[^"]+)"', page.text))

    assert await found("lighthouse") == {ids["A Lighthouse in a storm"]}
    assert await found("STORM light") == {ids["A Lighthouse in a storm"]}
    assert await found("100%") == {ids["a quiet street at 100% dusk"]}  # % is a letter here
    assert await found("_") == set()
    assert await found(ids["a quiet street at 100% dusk"]) == {ids["a quiet street at 100% dusk"]}
    assert await found(their_id) == set()  # another account's task is not found
    assert len(await found("")) == 2


async def test_the_billing_page_sets_the_low_balance_alert(services: Services, browser_like):
    who = await make_user(services)
    http = browser_like()
    csrf = await sign_in(http, who)
    for typed, state, stored in (
        ("12x", "invalid", None),
        ("2²", "invalid", None),  # a digit to str.isdigit(), not to int(): was a 500
        ("9" * 5000, "invalid", None),  # past int()'s 4300 digits: was a 500
        ("1,500", "saved", 1500),
        ("", "saved", None),
    ):
        answer = await http.post(
            "/console/billing/alert", data={"csrf_token": csrf, "threshold": typed}
        )
        assert answer.headers["location"] == f"/console/billing?alert={state}"
        assert await low_balance.threshold_of(services.db, who.account_id) == stored
    page = await http.get("/console/billing?alert=saved")
    assert 'id="alert-threshold"' in page.text and "Saved." in page.text
