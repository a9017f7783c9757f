"""The console over HTTP: CSRF, headers, isolation between accounts, escaping, the playground."""

from __future__ import annotations

import re

import pytest

from grokimagine.domain.accounts import accounts
from grokimagine.services import Services
from tests.helpers.console import csrf_of, make_user, sign_in
from tests.helpers.customers import make_worker

XSS = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


async def test_pages_need_a_session(browser_like):
    http = browser_like()
    page = await http.get("/console/history?status=failed")
    assert page.status_code == 303
    assert (
        page.headers["location"] == "/console/sign-in?next=%2Fconsole%2Fhistory%3Fstatus%3Dfailed"
    )
    api = await http.get("/console/api/tasks/task_x")
    assert api.status_code == 401 and api.json()["error"] == "UNAUTHORIZED"
    forged = browser_like()
    forged.cookies.set("gi_session", "forged-token")
    assert (await forged.get("/console")).status_code == 303


async def test_a_form_without_its_csrf_token_changes_nothing(services: Services, browser_like):
    who = await make_user(services)
    http = browser_like()
    csrf = await sign_in(http, who)
    for data in ({"name": "sneaky", "kind": "live"}, {"name": "sneaky", "csrf_token": "forged"}):
        refused = await http.post("/console/keys", data=data)
        assert refused.status_code == 403
        assert "did not come from this site" in refused.text
    assert await accounts.list_keys(services.db, who.account_id) == []
    # The fetch endpoints want it in a header.
    body = {"prompt": "a cat"}
    assert (await http.post("/console/api/generate", json=body)).status_code == 403
    made = await http.post("/console/api/generate", json=body, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 200, made.text


async def test_pages_send_the_security_headers(services: Services, browser_like):
    who = await make_user(services)
    http = browser_like()
    await sign_in(http, who)
    for path in ("/console", "/console/keys", "/console/webhooks", "/console/sign-in"):
        page = await http.get(path)
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"
    # No inline script anywhere: every <script> is a file or inert JSON data.
    page = await http.get("/console/playground")
    for tag in re.findall(r"<script[^>]*>", page.text):
        assert 'src="/console/static/' in tag or 'type="application/json"' in tag


async def test_a_new_key_is_shown_once_and_never_again(services: Services, browser_like):
    who = await make_user(services)
    http = browser_like()
    csrf = await sign_in(http, who)
    created = await http.post(
        "/console/keys", data={"name": "backend", "kind": "test", "csrf_token": csrf}
    )
    # Post/Redirect/Get: reloading the page the browser lands on never makes a second key.
    assert created.status_code == 303 and created.headers["location"] == "/console/keys"
    shown = await http.get("/console/keys")
    token = re.search(r'value="(gi_test_[^"]+)"', shown.text).group(1)
    keys = await accounts.list_keys(services.db, who.account_id)
    assert [(key.name, key.kind) for key in keys] == [("backend", "test")]
    later = await http.get("/console/keys")
    assert token not in later.text and keys[0].token_prefix in later.text
    assert len(await accounts.list_keys(services.db, who.account_id)) == 1
    # The token works on the API.
    status = await http.get("/v1/account", headers={"Authorization": f"Bearer {token}"})
    assert status.status_code == 200


async def test_one_account_never_reaches_another_accounts_tasks_or_keys(
    services: Services, browser_like
):
    owner, stranger = await make_user(services), await make_user(services)
    owner_http, stranger_http = browser_like(), browser_like()
    owner_csrf = await sign_in(owner_http, owner)
    stranger_csrf = await sign_in(stranger_http, stranger)
    made = await owner_http.post(
        "/console/api/generate", json={"prompt": "mine"}, headers={"X-CSRF-Token": owner_csrf}
    )
    task_id = made.json()["data"]["task_id"]
    await make_worker(services).run_once()
    key = await accounts.create_key(services.db, owner.account_id, name="owner's")

    assert (await owner_http.get(f"/console/tasks/{task_id}")).status_code == 200
    for path in (
        f"/console/tasks/{task_id}",
        f"/console/tasks/{task_id}/download/0",
        f"/console/api/tasks/{task_id}",
        f"/console/api/tasks/{task_id}/events",
        f"/console/playground?from={task_id}",
    ):
        answer = await stranger_http.get(path)
        assert "mine" not in answer.text, path
        assert answer.status_code in (404, 200), path
        if "playground" not in path:
            assert answer.status_code == 404, path
    history = await stranger_http.get("/console/history")
    assert task_id not in history.text
    deleted = await stranger_http.post(
        f"/console/tasks/{task_id}/delete", data={"csrf_token": stranger_csrf}
    )
    assert deleted.status_code == 404
    await stranger_http.post(
        f"/console/keys/{key.key.id}/revoke", data={"csrf_token": stranger_csrf}
    )
    assert (await accounts.list_keys(services.db, owner.account_id))[0].revoked_at is None
    assert (await owner_http.get(f"/console/tasks/{task_id}/download/0")).status_code == 200


async def test_customers_never_reach_admin_pages(services: Services, browser_like):
    who = await make_user(services)
    http = browser_like()
    await sign_in(http, who)
    for path in ("/admin", "/admin/accounts", "/admin/tasks", "/admin/usage", "/admin/audit"):
        answer = await http.get(path)
        assert answer.status_code == 404, path
    page = await http.get("/console")
    assert 'href="/admin"' not in page.text


@pytest.mark.parametrize("path", ["/console", "/console/history", "/console/tasks/{id}"])
async def test_a_script_in_a_prompt_is_shown_as_text(services: Services, browser_like, path):
    who = await make_user(services)
    http = browser_like()
    csrf = await sign_in(http, who)
    made = await http.post(
        "/console/api/generate", json={"prompt": XSS}, headers={"X-CSRF-Token": csrf}
    )
    task_id = made.json()["data"]["task_id"]
    page = await http.get(path.format(id=task_id))
    assert page.status_code == 200
    assert "<script>alert(1)" not in page.text
    assert "<img src=x" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


async def test_the_playground_charges_like_the_api_and_refuses_what_it_refuses(
    services: Services, browser_like
):
    who = await make_user(services, credits=50)
    http = browser_like()
    csrf = await sign_in(http, who)
    headers = {"X-CSRF-Token": csrf}
    quote = await http.post("/console/api/quote", json={"prompt": "x", "n": 2}, headers=headers)
    priced = quote.json()["data"]
    assert (priced["price"], priced["balance"], priced["affordable"]) == (80, 50, False)
    spicy = await http.post(
        "/console/api/generate", json={"prompt": "x", "mode": "spicy"}, headers=headers
    )
    assert spicy.status_code == 403 and spicy.json()["error"] == "MODE_NOT_ALLOWED"
    too_long = await http.post(
        "/console/api/generate", json={"prompt": "x", "duration": 60}, headers=headers
    )
    assert too_long.status_code == 400 and "duration" in too_long.json()["message"]
    made = await http.post("/console/api/generate", json={"prompt": "x"}, headers=headers)
    assert made.status_code == 200
    broke = await http.post("/console/api/generate", json={"prompt": "x"}, headers=headers)
    assert broke.status_code == 402 and broke.json()["error"] == "INSUFFICIENT_CREDITS"
    assert (await accounts.get_account(services.db, who.account_id)).balance == 10


async def test_live_progress_streams_until_the_video_is_ready(services: Services, browser_like):
    who = await make_user(services)
    http = browser_like()
    csrf = await sign_in(http, who)
    made = await http.post(
        "/console/api/generate", json={"prompt": "stream"}, headers={"X-CSRF-Token": csrf}
    )
    task_id = made.json()["data"]["task_id"]
    pending = (await http.get(f"/console/api/tasks/{task_id}")).json()["data"]
    assert pending["status"] == "pending" and pending["queue_position"] == 0
    await make_worker(services).run_once()
    async with http.stream("GET", f"/console/api/tasks/{task_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        text = ""
        async for chunk in stream.aiter_text():
            text += chunk
    assert "event: task" in text
    assert '"status":"completed"' in text and '"progress":100' in text
    done = (await http.get(f"/console/api/tasks/{task_id}")).json()["data"]
    assert done["response"][0].startswith("http://testserver/files/videos/")
    assert done["thumbnail_url"].startswith("http://testserver/files/videos/")


async def test_billing_exports_the_ledger_as_csv(services: Services, browser_like):
    who = await make_user(services, credits=400)
    http = browser_like()
    csrf = await sign_in(http, who)
    await http.post("/console/api/generate", json={"prompt": "x"}, headers={"X-CSRF-Token": csrf})
    export = await http.get("/console/billing.csv")
    assert export.headers["content-type"].startswith("text/csv")
    lines = export.text.strip().splitlines()
    assert lines[0] == "id,created_at,delta,reason,task_id,note"
    assert [line.split(",")[2:4] for line in lines[1:]] == [["400", "grant"], ["-40", "reserve"]]


@pytest.mark.both_databases
async def test_the_webhook_secret_rotates(services: Services, browser_like):
    who = await make_user(services)
    http = browser_like()
    csrf = await sign_in(http, who)
    before = re.search(r'value="(whsec_[^"]+)"', (await http.get("/console/webhooks")).text)[1]
    rotated = await http.post("/console/webhooks/rotate", data={"csrf_token": csrf})
    assert rotated.status_code == 303
    after = re.search(r'value="(whsec_[^"]+)"', (await http.get("/console/webhooks")).text)[1]
    assert after != before and after.startswith("whsec_")


@pytest.mark.both_databases
async def test_history_filters_and_pages(services: Services, browser_like):
    who = await make_user(services, credits=40 * 30, allow_spicy=True)
    http = browser_like()
    csrf = await sign_in(http, who)
    for index in range(26):
        mode = "fun" if index % 2 else "normal"
        await http.post(
            "/console/api/generate",
            json={"prompt": f"p{index}", "mode": mode},
            headers={"X-CSRF-Token": csrf},
        )
    first = await http.get("/console/history")
    assert first.text.count('class="card task-card"') == 24
    cursor = re.search(r"cursor=([A-Za-z0-9_-]+)", first.text)[1]
    second = await http.get(f"/console/history?cursor={cursor}")
    assert second.text.count('class="card task-card"') == 2
    fun = await http.get("/console/history?mode=fun")
    assert fun.text.count('class="card task-card"') == 13
    assert (await http.get("/console/history?status=completed")).text.count("task-card") == 0
    forged = await http.get("/console/history?cursor=bm9wZQ")
    assert forged.status_code == 400
    assert await csrf_of(http) == csrf
