"""The business settings page: edit, confirm (naming what changes), saved as a version."""

from __future__ import annotations

import json
import re

import pytest

from grokimagine.domain.accounts import accounts
from grokimagine.domain.accounts.audit import audit_page
from grokimagine.domain.operator import business_settings
from grokimagine.services import Services
from tests.helpers.console import FORM_TOKEN, attempt_sign_in, make_user, sign_in

TEXTAREA = re.compile(r'<textarea id="([a-z_]+)"[^>]*>([^<]*)</textarea>', re.S)


async def _form(http) -> dict[str, str]:
    page = await http.get("/admin/settings")
    assert page.status_code == 200
    fields = {name: value.replace("&#34;", '"') for name, value in TEXTAREA.findall(page.text)}
    fields["based_on"] = re.search(r'name="based_on" value="(\d+)"', page.text).group(1)
    fields["signup"] = re.search(r'<option value="(\w+)" selected>', page.text).group(1)
    fields["starter_credits"] = re.search(r'id="starter_credits"[^>]*value="(\d+)"', page.text)[1]
    return fields


async def test_an_operator_opens_sign_ups_with_starter_credits(services: Services, browser_like):
    admin = await make_user(services, admin=True)
    http = browser_like()
    csrf = await sign_in(http, admin)
    assert (await browser_like().get("/console/sign-up")).status_code == 404
    fields = await _form(http)
    fields.update(signup="open", starter_credits="75", note="launch", csrf_token=csrf)

    asked = await http.post("/admin/settings", data=fields)
    assert asked.status_code == 200
    assert "Save the business settings (signup, starter_credits)?" in asked.text
    assert (await business_settings.current_version(services.db)).version == 1
    saved = await http.post("/admin/settings", data={**fields, "confirm": "yes"})
    assert saved.status_code == 303
    assert "Saved as version 2." in (await http.get(saved.headers["location"])).text

    stranger = browser_like()
    signed_up = await attempt_sign_in(
        stranger, "new@example.com", "a long password", path="/console/sign-up"
    )
    assert signed_up.status_code == 303
    mine = [a for a in await accounts.list_accounts(services.db) if a.name == "new@example.com"]
    assert mine[0].balance == 75
    [entry] = (await audit_page(services.db, limit=5, action="settings.change")).entries
    assert entry["actor"] == admin.user_id and entry["note"] == "launch"
    assert entry["before"] == {"signup": "closed", "starter_credits": 0}
    assert entry["after"] == {"signup": "open", "starter_credits": 75}


@pytest.mark.both_databases
async def test_a_bad_price_table_is_named_and_nothing_is_saved(services: Services, browser_like):
    admin = await make_user(services, admin=True)
    http = browser_like()
    csrf = await sign_in(http, admin)
    fields = await _form(http)
    for table, message in (
        ("{not json", "price_table: not valid JSON"),
        (json.dumps({"default": {"480p": {"per_second": -1}}}), "default.480p"),
    ):
        page = await http.post(
            "/admin/settings",
            data={**fields, "price_table": table, "csrf_token": csrf, "confirm": "yes"},
        )
        assert page.status_code == 400 and message in page.text
        assert table.replace('"', "&#34;") in page.text  # the operator's text is kept
    assert (await business_settings.current_version(services.db)).version == 1
    unchanged = await http.post("/admin/settings", data={**fields, "csrf_token": csrf})
    assert unchanged.status_code == 400 and "Nothing changed." in unchanged.text


async def test_invitation_only_sign_ups_keep_the_sign_up_page_closed(
    services: Services, browser_like
):
    admin = await make_user(services, admin=True)
    http = browser_like()
    csrf = await sign_in(http, admin)
    fields = await _form(http)
    await http.post(
        "/admin/settings",
        data={**fields, "signup": "invitation", "csrf_token": csrf, "confirm": "yes"},
    )
    assert services.settings.console.signup == "invitation"
    page = await browser_like().get("/console/sign-up")
    assert page.status_code == 404
    assert FORM_TOKEN.search(page.text) is None
