"""Operators run accounts, people and keys from /admin: no shell, every change audited."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from grokimagine.domain.accounts import accounts, admin_keys, users
from grokimagine.domain.accounts.audit import audit_page
from grokimagine.services import Services
from grokimagine.settings import SmtpSettings
from tests.helpers.console import FORM_TOKEN, csrf_of, make_user, replace_settings, sign_in
from tests.helpers.smtp import links_in, smtp_server

NEW_TOKEN = re.compile(r'<pre class="code" id="new-token">([^<]+)</pre>')


async def _operator(services: Services, browser_like):
    admin = await make_user(services, admin=True)
    http = browser_like()
    return admin, http, await sign_in(http, admin)


async def _set_password(http, link: str, password: str):
    path = urlsplit(link).path + "?" + urlsplit(link).query
    page = await http.get(path)
    assert page.status_code == 200, page.text
    return await http.post(
        "/console/set-password",
        data={
            "csrf_token": FORM_TOKEN.search(page.text).group(1),
            "token": path.split("token=", 1)[1],
            "new_password": password,
            "new_password_again": password,
        },
    )


@pytest.mark.both_databases
async def test_create_an_account_with_credits_asks_first_then_invites_by_smtp(
    services: Services, browser_like
):
    admin, http, csrf = await _operator(services, browser_like)
    order = {"csrf_token": csrf, "name": "Acme", "plan": "pro", "credits": "500"}
    asked = await http.post("/admin/accounts/new", data={**order, "invite_email": "ana@acme.test"})
    assert asked.status_code == 200
    assert "Create an account with 500 credits?" in asked.text
    assert await accounts.count_accounts(services.db) == 1  # only the operator's

    with smtp_server() as server:
        await replace_settings(
            services, smtp=SmtpSettings(host=server.host, port=server.port, security="none")
        )
        made = await http.post(
            "/admin/accounts/new",
            data={**order, "invite_email": "ana@acme.test", "confirm": "yes"},
        )
        message = server.inbox.last_to("ana@acme.test")
    assert made.status_code == 200, made.text
    assert "Email sent to ana@acme.test." in made.text
    account = next(a for a in await accounts.list_accounts(services.db) if a.name == "Acme")
    assert (account.plan, account.balance) == ("pro", 500)
    [invited] = await users.users_of_account(services.db, account.id)
    assert invited.invited and invited.email == "ana@acme.test"
    assert message["Subject"] == "You are invited to the video studio"
    assert admin.email in message.get_body(("plain",)).get_content()

    customer = browser_like()
    [link] = links_in(message)
    done = await _set_password(customer, link, "ana's own password")
    assert done.status_code == 303
    assert "Acme" not in (await customer.get("/admin")).text  # a customer: no admin pages
    assert (await customer.get("/console/keys")).status_code == 200
    assert await users.verify_credentials(services.db, "ana@acme.test", "ana's own password")

    log = (await audit_page(services.db, limit=10, actor=admin.user_id)).entries
    assert {entry["action"] for entry in log} == {"account.create", "user.invite"}


async def test_without_smtp_the_invitation_is_shown_to_the_operator_clearly_marked(
    services: Services, browser_like
):
    _, http, csrf = await _operator(services, browser_like)
    customer = await make_user(services)
    page = await http.post(
        f"/admin/accounts/{customer.account_id}/invite",
        data={"csrf_token": csrf, "email": "bo@example.com"},
    )
    assert page.status_code == 200
    assert "Email NOT sent: no SMTP server is set" in page.text
    link = re.search(r"(http://testserver/console/set-password\?token=\S+)", page.text).group(1)
    assert (await _set_password(browser_like(), link, "bo's password here")).status_code == 303


@pytest.mark.both_databases
async def test_inviting_a_taken_email_or_garbage_is_a_clear_400(services: Services, browser_like):
    admin, http, csrf = await _operator(services, browser_like)
    for email, message in ((admin.email, "already exists"), ("not-an-email", "valid email")):
        page = await http.post(
            f"/admin/accounts/{admin.account_id}/invite", data={"csrf_token": csrf, "email": email}
        )
        assert page.status_code == 400 and message in page.text
    bad = await http.post(
        "/admin/accounts/new", data={"csrf_token": csrf, "credits": "lots", "plan": "free"}
    )
    assert bad.status_code == 400 and "credits" in bad.text


@pytest.mark.both_databases
async def test_a_reset_link_by_email_ends_the_customer_sessions(services: Services, browser_like):
    admin, http, csrf = await _operator(services, browser_like)
    customer = await make_user(services)
    customer_http = browser_like()
    await sign_in(customer_http, customer)
    with smtp_server() as server:
        await replace_settings(
            services, smtp=SmtpSettings(host=server.host, port=server.port, security="none")
        )
        page = await http.post(f"/admin/users/{customer.user_id}/reset", data={"csrf_token": csrf})
        message = server.inbox.last_to(customer.email)
    assert page.status_code == 200 and f"Email sent to {customer.email}." in page.text
    # The old password still works until the link is used.
    assert await users.verify_credentials(services.db, customer.email, customer.password)
    [link] = links_in(message)
    assert (await _set_password(browser_like(), link, "a fresh password")).status_code == 303
    assert (await customer_http.get("/console/keys")).status_code == 303
    assert await users.verify_credentials(services.db, customer.email, customer.password) is None
    log = (await audit_page(services.db, limit=5, target_id=customer.user_id)).entries
    assert [(e["action"], e["actor"]) for e in log] == [("user.password_reset", admin.user_id)]


async def test_keys_are_created_shown_once_and_revoked_after_a_confirmation(
    services: Services, browser_like, client
):
    admin, http, csrf = await _operator(services, browser_like)
    customer = await make_user(services)
    other = await make_user(services)
    made = await http.post(
        f"/admin/accounts/{customer.account_id}/keys",
        data={"csrf_token": csrf, "name": "second", "kind": "live"},
    )
    # Post, redirect, get: the account's page shows the token this once (no other page does);
    # a reload of it neither shows the token again nor makes a second key.
    assert made.status_code == 303
    assert made.headers["location"] == f"/admin/accounts/{customer.account_id}?notice=Key+created."
    assert NEW_TOKEN.search((await http.get(f"/admin/accounts/{other.account_id}")).text) is None
    page = await http.get(made.headers["location"])
    token = NEW_TOKEN.search(page.text).group(1)
    assert token.startswith("gi_live_") and "Key created." in page.text
    reloaded = await http.get(made.headers["location"])
    assert reloaded.status_code == 200 and "Key created." in reloaded.text
    assert token not in reloaded.text and NEW_TOKEN.search(reloaded.text) is None
    assert len(await accounts.list_keys(services.db, customer.account_id)) == 1
    auth = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/v1/account", headers=auth)).status_code == 200
    [key] = [k for k in await accounts.list_keys(services.db, customer.account_id)]
    url = f"/admin/accounts/{customer.account_id}/keys/{key.id}/revoke"
    asked = await http.post(url, data={"csrf_token": csrf})
    assert "Revoke the key" in asked.text and "cannot be undone" in asked.text
    assert (await accounts.list_keys(services.db, customer.account_id))[0].revoked_at is None
    done = await http.post(url, data={"csrf_token": csrf, "confirm": "yes"})
    assert done.status_code == 303
    assert (await accounts.list_keys(services.db, customer.account_id))[0].revoked_at is not None
    log = (await audit_page(services.db, limit=5, actor=admin.user_id)).entries
    assert [e["action"] for e in log] == ["key.revoke", "key.create"]


async def test_admin_keys_from_the_browser(services: Services, browser_like, client):
    _, http, csrf = await _operator(services, browser_like)
    made = await http.post("/admin/admin-keys", data={"csrf_token": csrf, "name": "billing"})
    # Post, redirect, get: the token is on the page after the redirect, this once.
    assert made.status_code == 303
    page = await http.get(made.headers["location"])
    token = NEW_TOKEN.search(page.text).group(1)
    assert token.startswith("gi_admin_") and "Admin key created." in page.text
    reloaded = await http.get(made.headers["location"])
    assert reloaded.status_code == 200 and token not in reloaded.text
    assert NEW_TOKEN.search(reloaded.text) is None
    assert len(await admin_keys.list_admin_keys(services.db)) == 1
    auth = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/admin/v1/accounts", headers=auth)).status_code == 200
    [key] = await admin_keys.list_admin_keys(services.db)
    url = f"/admin/admin-keys/{key.id}/revoke"
    assert "Revoke the admin key" in (await http.post(url, data={"csrf_token": csrf})).text
    assert (await admin_keys.list_admin_keys(services.db))[0].revoked_at is None
    await http.post(url, data={"csrf_token": csrf, "confirm": "yes"})
    assert (await admin_keys.list_admin_keys(services.db))[0].revoked_at is not None


@pytest.mark.both_databases
async def test_operator_role_and_user_state(services: Services, browser_like):
    admin, http, csrf = await _operator(services, browser_like)
    colleague = await make_user(services, account_id=admin.account_id)
    colleague_http = browser_like()
    await sign_in(colleague_http, colleague)
    made = await http.post(
        f"/admin/users/{colleague.user_id}/operator", data={"csrf_token": csrf, "operator": "yes"}
    )
    assert made.status_code == 303
    assert (await colleague_http.get("/admin")).status_code == 200
    url = f"/admin/users/{colleague.user_id}/operator"
    asked = await http.post(url, data={"csrf_token": csrf, "operator": "no"})
    assert "Take the operator role from" in asked.text
    assert (await users.get_user(services.db, colleague.user_id)).is_admin
    await http.post(url, data={"csrf_token": csrf, "operator": "no", "confirm": "yes"})
    assert not (await users.get_user(services.db, colleague.user_id)).is_admin
    assert (await colleague_http.get("/admin")).status_code == 303  # signed out

    state = f"/admin/users/{colleague.user_id}/state"
    assert (
        "Disable the user"
        in (await http.post(state, data={"csrf_token": csrf, "state": "disabled"})).text
    )
    await http.post(state, data={"csrf_token": csrf, "state": "disabled", "confirm": "yes"})
    assert await users.verify_credentials(services.db, colleague.email, colleague.password) is None
    await http.post(state, data={"csrf_token": csrf, "state": "active"})
    assert await users.verify_credentials(services.db, colleague.email, colleague.password)

    self_lockout = await http.post(
        f"/admin/users/{admin.user_id}/state",
        data={"csrf_token": csrf, "state": "disabled", "confirm": "yes"},
    )
    assert self_lockout.status_code == 400 and "cannot disable yourself" in self_lockout.text
    assert (await http.get("/admin")).status_code == 200


async def test_customers_cannot_reach_the_new_operator_actions(services: Services, browser_like):
    customer = await make_user(services)
    http = browser_like()
    csrf = await sign_in(http, customer)
    for path in (
        "/admin/accounts/new",
        f"/admin/accounts/{customer.account_id}/invite",
        f"/admin/accounts/{customer.account_id}/keys",
        f"/admin/users/{customer.user_id}/operator",
        "/admin/admin-keys",
    ):
        answer = await http.post(
            path, data={"csrf_token": csrf, "operator": "yes", "email": "x@y.zz", "confirm": "yes"}
        )
        assert answer.status_code == 404, path
    assert not (await users.get_user(services.db, customer.user_id)).is_admin
    assert await csrf_of(http)
