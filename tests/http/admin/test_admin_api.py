"""The admin API under /admin/v1: admin keys only, accounts, keys, credits, tasks, reports and the
audit log, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, update

from grokimagine.domain.accounts import accounts
from grokimagine.domain.accounts.accounts import Principal
from grokimagine.domain.accounts.admin_keys import revoke_admin_key
from grokimagine.domain.accounts.audit import CLI
from grokimagine.domain.operator import fleet
from grokimagine.domain.tasks.records import AccountDisabledError, NewTask, submit_task
from grokimagine.services import Services
from grokimagine.settings import Settings
from grokimagine.storage.schema import audit_log, ledger, tasks
from tests.helpers.admin import (
    admin_headers,
    app_with,
    audit_actions,
    balance,
    data,
    error,
    ledger_total,
)
from tests.helpers.customers import Customer, make_customer, make_worker

BODY = {"prompt": "a paper boat on a river", "duration": 1}


async def test_admin_and_api_keys_are_never_accepted_in_each_others_place(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    operator = await admin_headers(services)
    # An admin key is no API key.
    for path in ("/v1/account", "/v1/pricing"):
        error(await client.get(path, headers=operator), 401, "UNAUTHORIZED")
    error(await client.post("/v1/generate", json=BODY, headers=operator), 401, "UNAUTHORIZED")
    # An API key is no admin key, nor is nothing, nor a forged admin-looking token.
    for headers in (
        customer.headers,
        {},
        {"Authorization": "Bearer gi_admin_" + "x" * 40},
        {"Authorization": "Basic abc"},
    ):
        error(await client.get("/admin/v1/accounts", headers=headers), 401, "UNAUTHORIZED")
    data(await client.get("/admin/v1/accounts", headers=operator))
    # A revoked admin key stops at once (admin lookups are not cached).
    key_id = (await services.db.fetch_all(select(audit_log.c.target_id)))[0].target_id
    assert await revoke_admin_key(services.db, CLI, key_id)
    error(await client.get("/admin/v1/accounts", headers=operator), 401, "UNAUTHORIZED")


async def test_failed_admin_authentications_are_rate_limited(
    settings: Settings, services: Services
) -> None:
    async with app_with(settings, auth_failure_limit=3) as (own, client):
        operator = await admin_headers(own)
        wrong = {"Authorization": "Bearer gi_admin_" + "y" * 40}
        for _ in range(3):
            error(await client.get("/admin/v1/plans", headers=wrong), 401, "UNAUTHORIZED")
        blocked = await client.get("/admin/v1/plans", headers=operator)
        error(blocked, 429, "RATE_LIMITED")
        assert "Retry-After" in blocked.headers


async def test_accounts_are_created_found_changed_disabled_and_enabled(
    settings: Settings, services: Services
) -> None:
    # A token cache as in production: a change must still show at once in this process.
    async with app_with(settings, auth_cache_seconds=60) as (own, client):
        operator = await admin_headers(own)
        made = data(
            await client.post(
                "/admin/v1/accounts",
                json={"name": "Acme Films", "plan": "pro", "credits": 100},
                headers=operator,
            )
        )
        assert (made["plan"], made["balance"], made["disabled"]) == ("pro", 100, False)
        error(
            await client.post("/admin/v1/accounts", json={"plan": "gold"}, headers=operator),
            400,
            "INVALID_REQUEST",
        )
        error(
            await client.post("/admin/v1/accounts", json={"credits": -1}, headers=operator),
            400,
            "INVALID_REQUEST",
        )
        for index in range(3):
            data(
                await client.post(
                    "/admin/v1/accounts", json={"name": f"other {index}"}, headers=operator
                )
            )
        found = data(await client.get("/admin/v1/accounts?q=acme", headers=operator))
        assert [account["id"] for account in found["accounts"]] == [made["id"]]
        by_id = data(await client.get(f"/admin/v1/accounts?q={made['id']}", headers=operator))
        assert len(by_id["accounts"]) == 1
        pattern = data(await client.get("/admin/v1/accounts?q=%25", headers=operator))
        assert pattern["accounts"] == []  # % is a character, not a wildcard
        pros = data(await client.get("/admin/v1/accounts?plan=pro", headers=operator))
        assert [account["id"] for account in pros["accounts"]] == [made["id"]]
        seen, cursor = [], None
        while True:
            params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            page = data(await client.get("/admin/v1/accounts", params=params, headers=operator))
            seen += [account["id"] for account in page["accounts"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 4
        error(
            await client.get("/admin/v1/accounts?cursor=forged", headers=operator),
            400,
            "INVALID_REQUEST",
        )
        error(
            await client.get("/admin/v1/accounts/acct_none", headers=operator),
            404,
            "ACCOUNT_NOT_FOUND",
        )

        key = data(await client.post(f"/admin/v1/accounts/{made['id']}/keys", headers=operator))
        customer = {"Authorization": f"Bearer {key['token']}"}
        assert key["token"].startswith("gi_live_") and key["key"]["kind"] == "live"
        data(await client.get("/v1/account", headers=customer))  # cached from now on

        changed = data(
            await client.patch(
                f"/admin/v1/accounts/{made['id']}",
                json={"plan": "enterprise", "allow_spicy": True, "name": "Acme Studio"},
                headers=operator,
            )
        )
        assert (changed["plan"], changed["allow_spicy"], changed["name"]) == (
            "enterprise",
            True,
            "Acme Studio",
        )
        assert data(await client.get("/v1/account", headers=customer))["plan"] == "enterprise"
        error(
            await client.patch(
                f"/admin/v1/accounts/{made['id']}", json={"plan": "gold"}, headers=operator
            ),
            400,
            "INVALID_REQUEST",
        )
        error(
            await client.patch(
                f"/admin/v1/accounts/{made['id']}", json={"balance": 5}, headers=operator
            ),
            400,
            "INVALID_REQUEST",
        )

        disabled = data(
            await client.post(f"/admin/v1/accounts/{made['id']}/disable", headers=operator)
        )
        assert disabled["disabled"] is True
        for answer in (
            await client.get("/v1/account", headers=customer),
            await client.post("/v1/generate", json=BODY, headers=customer),
            await client.post("/v1/quote", json=BODY, headers=customer),
        ):
            error(answer, 403, "ACCOUNT_DISABLED")
        listed = data(await client.get("/admin/v1/accounts?disabled=true", headers=operator))
        assert [account["id"] for account in listed["accounts"]] == [made["id"]]
        data(await client.post(f"/admin/v1/accounts/{made['id']}/disable", headers=operator))
        data(await client.post(f"/admin/v1/accounts/{made['id']}/enable", headers=operator))
        data(await client.post("/v1/generate", json=BODY, headers=customer))

        actions = [action for _, action, _ in await audit_actions(own)]
        assert actions == [
            "admin_key.create",
            "account.create",
            "account.create",
            "account.create",
            "account.create",
            "key.create",
            "account.plan",
            "account.spicy",
            "account.rename",
            "account.disable",  # disabling twice is one change
            "account.enable",
        ]
        entries = data(
            await client.get(f"/admin/v1/audit?target_id={made['id']}", headers=operator)
        )["entries"]
        plan_change = next(e for e in entries if e["action"] == "account.plan")
        assert plan_change["before"] == {"plan": "pro"}
        assert plan_change["after"] == {"plan": "enterprise"}
        assert plan_change["actor"].startswith("adk_") and plan_change["created_at"]


async def test_a_disabled_account_cannot_spend_even_through_a_stale_cached_key(
    services: Services, customer: Customer
) -> None:
    """Another process may hold the key in its cache for a moment; the submission itself
    re-reads the account under its lock."""
    from grokimagine.domain.operator.accounts import disable_account

    await disable_account(services.db, CLI, customer.account_id)
    stale = Principal(customer.account_id, customer.key_id, "free", False, True)
    new_task = NewTask(mode="normal", prompt="p", ratio="1:1")
    try:
        await submit_task(services.db, services.store, stale, new_task, price=40)
    except AccountDisabledError:
        pass
    else:
        raise AssertionError("a disabled account was charged")
    assert await balance(services, customer.account_id) == 400


async def test_keys_of_an_account_are_made_listed_and_revoked(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    operator = await admin_headers(services)
    base = f"/admin/v1/accounts/{customer.account_id}/keys"
    test_key = data(await client.post(base, json={"kind": "test"}, headers=operator))
    assert test_key["token"].startswith("gi_test_")
    listed = data(await client.get(base, headers=operator))["keys"]
    assert [key["kind"] for key in listed] == ["live", "test"]
    assert customer.token not in str(listed) and test_key["token"] not in str(listed)
    other = await make_customer(services)
    error(
        await client.delete(
            f"/admin/v1/accounts/{other.account_id}/keys/{customer.key_id}", headers=operator
        ),
        404,
        "KEY_NOT_FOUND",
    )
    data(await client.get("/v1/account", headers=customer.headers))
    after = data(await client.delete(f"{base}/{customer.key_id}", headers=operator))["keys"]
    assert after[0]["revoked_at"] is not None and after[1]["revoked_at"] is None
    error(await client.get("/v1/account", headers=customer.headers), 401, "UNAUTHORIZED")
    error(await client.delete(f"{base}/{customer.key_id}", headers=operator), 404, "KEY_NOT_FOUND")
    error(
        await client.get("/admin/v1/accounts/acct_x/keys", headers=operator),
        404,
        "ACCOUNT_NOT_FOUND",
    )
    error(
        await client.post("/admin/v1/accounts/acct_x/keys", headers=operator),
        404,
        "ACCOUNT_NOT_FOUND",
    )


async def test_credits_are_granted_and_deducted_with_a_reason_never_below_zero(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    operator = await admin_headers(services)
    base = f"/admin/v1/accounts/{customer.account_id}/credits"
    granted = data(
        await client.post(
            f"{base}/grant", json={"amount": 100, "reason": "goodwill"}, headers=operator
        )
    )
    assert granted == {"account_id": customer.account_id, "balance": 500}
    deducted = data(
        await client.post(
            f"{base}/deduct", json={"amount": 450, "reason": "chargeback"}, headers=operator
        )
    )
    assert deducted["balance"] == 50
    refused = await client.post(
        f"{base}/deduct", json={"amount": 51, "reason": "too much"}, headers=operator
    )
    body = error(refused, 409, "BALANCE_TOO_LOW")
    assert "50" in body["message"]
    for bad in (
        {"amount": 10},
        {"amount": 10, "reason": " "},
        {"amount": 0, "reason": "x"},
        {"amount": -5, "reason": "x"},
        {"amount": "5", "reason": "x"},
        {"amount": 5, "reason": "x" * 201},
    ):
        error(
            await client.post(f"{base}/grant", json=bad, headers=operator), 400, "INVALID_REQUEST"
        )
    error(
        await client.post(
            "/admin/v1/accounts/acct_x/credits/grant",
            json={"amount": 1, "reason": "x"},
            headers=operator,
        ),
        404,
        "ACCOUNT_NOT_FOUND",
    )
    assert await balance(services, customer.account_id) == 50
    assert await ledger_total(services, customer.account_id) == 50
    rows = await services.db.fetch_all(
        select(ledger.c.reason, ledger.c.delta, ledger.c.note, ledger.c.admin_key_id)
        .where(ledger.c.account_id == customer.account_id)
        .order_by(ledger.c.id)
    )
    admin_key_id = (await audit_actions(services))[0][2]
    assert [tuple(row) for row in rows] == [
        ("grant", 400, "opening grant", None),
        ("grant", 100, "goodwill", admin_key_id),
        ("deduct", -450, "chargeback", admin_key_id),
    ]
    page = data(
        await client.get(f"/admin/v1/accounts/{customer.account_id}/ledger", headers=operator)
    )
    assert page["entries"][0]["admin_key_id"] == admin_key_id
    own_view = data(await client.get("/v1/account/ledger", headers=customer.headers))
    assert "admin_key_id" not in own_view["entries"][0]
    entries = data(await client.get("/admin/v1/audit?action=credits.deduct", headers=operator))
    assert [(e["before"], e["after"], e["note"]) for e in entries["entries"]] == [
        ({"balance": 500}, {"balance": 50, "amount": 450}, "chargeback")
    ]


async def test_tasks_across_accounts_are_filtered_inspected_refunded_once_and_canceled(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    operator = await admin_headers(services)
    other = await make_customer(services)
    done = data(await client.post("/v1/generate", json=BODY, headers=customer.headers))["task_id"]
    assert await make_worker(services).run_once()
    waiting = data(await client.post("/v1/generate", json=BODY, headers=other.headers))["task_id"]

    every = data(await client.get("/admin/v1/tasks", headers=operator))["tasks"]
    assert [task["task_id"] for task in every] == [waiting, done]
    mine = data(
        await client.get(f"/admin/v1/tasks?account_id={customer.account_id}", headers=operator)
    )
    assert [task["task_id"] for task in mine["tasks"]] == [done]
    pending = data(await client.get("/admin/v1/tasks?status=pending", headers=operator))
    assert [task["task_id"] for task in pending["tasks"]] == [waiting]
    on_preview = data(await client.get("/admin/v1/tasks?engine=preview", headers=operator))
    assert {task["task_id"] for task in on_preview["tasks"]} == {waiting, done}
    assert data(await client.get("/admin/v1/tasks?engine=xai", headers=operator))["tasks"] == []
    future = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (
        data(await client.get("/admin/v1/tasks", params={"since": future}, headers=operator))[
            "tasks"
        ]
        == []
    )
    assert (
        len(
            data(await client.get("/admin/v1/tasks", params={"until": future}, headers=operator))[
                "tasks"
            ]
        )
        == 2
    )
    error(
        await client.get("/admin/v1/tasks?since=2026-01-01T00:00:00", headers=operator),
        400,
        "INVALID_REQUEST",
    )
    error(await client.get("/admin/v1/tasks?status=lost", headers=operator), 400, "INVALID_REQUEST")
    page = data(await client.get("/admin/v1/tasks?limit=1", headers=operator))
    second = data(
        await client.get(
            "/admin/v1/tasks", params={"limit": 1, "cursor": page["next_cursor"]}, headers=operator
        )
    )
    assert [t["task_id"] for t in page["tasks"] + second["tasks"]] == [waiting, done]

    detail = data(await client.get(f"/admin/v1/tasks/{done}", headers=operator))
    assert (detail["engine"], detail["attempts"], detail["status"]) == ("preview", 1, "completed")
    assert detail["account_id"] == customer.account_id and detail["price"] == 10
    assert detail["provider"] == {"job_ids": [], "cost_usd": None}  # the preview engine is ours
    assert (detail["money"]["charged"], detail["money"]["refunded"]) == (10, 0)
    error(await client.get("/admin/v1/tasks/task_none", headers=operator), 404, "TASK_NOT_FOUND")

    refunded = data(
        await client.post(
            f"/admin/v1/tasks/{done}/refund", json={"reason": "blurry"}, headers=operator
        )
    )
    assert refunded["refunded"] == 10
    error(
        await client.post(f"/admin/v1/tasks/{done}/refund", headers=operator),
        409,
        "TASK_NOT_REFUNDABLE",
    )
    not_yet = error(
        await client.post(f"/admin/v1/tasks/{waiting}/refund", headers=operator),
        409,
        "TASK_NOT_REFUNDABLE",
    )
    assert "cancel it instead" in not_yet["message"]
    error(
        await client.post("/admin/v1/tasks/task_none/refund", headers=operator),
        404,
        "TASK_NOT_FOUND",
    )
    assert await balance(services, customer.account_id) == 400

    canceled = data(await client.post(f"/admin/v1/tasks/{waiting}/cancel", headers=operator))
    assert canceled["status"] == "canceled" and canceled["money"]["refunded"] == 10
    error(
        await client.post(f"/admin/v1/tasks/{waiting}/cancel", headers=operator),
        409,
        "TASK_NOT_CANCELABLE",
    )
    error(
        await client.post(f"/admin/v1/tasks/{waiting}/refund", headers=operator),
        409,
        "TASK_NOT_REFUNDABLE",
    )
    assert await balance(services, other.account_id) == 400
    audit = [(action, target) for _, action, target in await audit_actions(services)]
    assert audit[-2:] == [("task.refund", done), ("task.cancel", waiting)]


async def test_usage_and_margin_per_day_and_engine_with_provider_cost_where_known(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    operator = await admin_headers(services)
    ids = [
        data(await client.post("/v1/generate", json=body, headers=customer.headers))["task_id"]
        for body in (BODY, BODY, {**BODY, "resolution": "720p", "duration": 2})
    ]
    worker = make_worker(services)
    while await worker.run_once():
        pass
    # What a relay engine records (the preview engine costs nothing): one task ran on xai.
    async with services.db.write() as conn:
        await conn.execute(
            update(tasks)
            .where(tasks.c.id == ids[2])
            .values(
                engine="xai",
                engine_info={"videos": [{"provider_task_id": "req-1", "provider_cost_usd": 0.1}]},
            )
        )
    data(await client.post(f"/admin/v1/tasks/{ids[1]}/refund", headers=operator))
    detail = data(await client.get(f"/admin/v1/tasks/{ids[2]}", headers=operator))
    assert detail["provider"] == {"job_ids": ["req-1"], "cost_usd": 0.1}

    report = data(await client.get("/admin/v1/usage", headers=operator))
    today = datetime.now(UTC).date().isoformat()
    assert report["until"] == today and report["usd_per_credit"] == 0.01
    lines = {line["engine"]: line for line in report["lines"]}
    assert set(lines) == {"preview", "xai"} and {line["date"] for line in lines.values()} == {today}
    assert lines["preview"] == {
        "date": today,
        "engine": "preview",
        "tasks": 2,
        "credits_charged": 20,
        "credits_refunded": 10,
        "credits_net": 10,
        "revenue_usd": 0.1,
        "provider_cost_usd": None,
        "tasks_with_cost": 0,
        "margin_usd": 0.1,
    }
    xai = lines["xai"]
    assert (xai["credits_charged"], xai["revenue_usd"], xai["provider_cost_usd"]) == (22, 0.22, 0.1)
    assert abs(xai["margin_usd"] - 0.12) < 1e-9
    empty = data(
        await client.get("/admin/v1/usage?since=2020-01-01&until=2020-01-02", headers=operator)
    )
    assert empty["lines"] == []
    error(
        await client.get("/admin/v1/usage?since=2026-02-01&until=2026-01-01", headers=operator),
        400,
        "INVALID_REQUEST",
    )
    error(
        await client.get("/admin/v1/usage?since=2020-01-01&until=2026-01-01", headers=operator),
        400,
        "INVALID_REQUEST",
    )
    error(
        await client.get("/admin/v1/usage?since=yesterday", headers=operator),
        400,
        "INVALID_REQUEST",
    )


async def test_workers_and_engines_alive(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    operator = await admin_headers(services)
    await fleet.register_worker(services.db, "w-live", ["preview", "xai"])
    await fleet.register_worker(services.db, "w-gone", ["diffusers"])
    from grokimagine.storage.schema import workers

    async with services.db.write() as conn:
        await conn.execute(
            update(workers)
            .where(workers.c.id == "w-gone")
            .values(last_seen_at=datetime.now(UTC) - timedelta(minutes=5))
        )
    data(await client.post("/v1/generate", json=BODY, headers=customer.headers))
    fleet_view = data(await client.get("/admin/v1/workers", headers=operator))
    alive = {worker["id"]: worker["alive"] for worker in fleet_view["workers"]}
    assert alive == {"w-gone": False, "w-live": True}
    engines = {engine["engine"]: engine for engine in fleet_view["engines"]}
    assert engines["preview"] == {"engine": "preview", "alive_workers": 1, "pending": 1}
    assert engines["xai"]["alive_workers"] == 1 and "diffusers" not in engines


async def test_plans_pricing_and_the_openapi_document(
    client: httpx.AsyncClient, services: Services
) -> None:
    operator = await admin_headers(services)
    plans = data(await client.get("/admin/v1/plans", headers=operator))["plans"]
    assert [(p["name"], p["requests_per_minute"]) for p in plans] == [
        ("free", 100),
        ("pro", 1000),
        ("enterprise", 5000),
    ]
    pricing = data(await client.get("/admin/v1/pricing", headers=operator))
    assert pricing["table"]["default"]["480p"] == {"base": 4, "per_second": 6}
    document = (await client.get("/openapi.json")).json()
    assert document["components"]["securitySchemes"]["AdminKey"]["scheme"] == "bearer"
    admin_paths = [path for path in document["paths"] if path.startswith("/admin/v1")]
    assert len(admin_paths) >= 15
    for path in admin_paths:
        for operation in document["paths"][path].values():
            assert operation["tags"] == ["admin"], path
            assert operation["security"] == [{"AdminKey": []}], path
    for path, item in document["paths"].items():
        if path.startswith("/v1"):
            # API keys, never admin keys (issue 10 declared the API's Bearer scheme).
            assert all(
                operation["security"] == [{"bearerAuth": []}] for operation in item.values()
            ), path
    assert "admin" in [tag["name"] for tag in document["tags"]]
    assert "/v1/quote" in document["paths"]


async def test_the_cli_account_key_and_credit_commands_are_audited_as_cli(
    services: Services,
) -> None:
    from grokimagine.domain.operator import accounts as account_admin

    account = await accounts.create_account(services.db, plan="free", credits_granted=5, actor=CLI)
    await accounts.create_key(services.db, account.id, actor=CLI)
    await account_admin.grant(services.db, CLI, account.id, 10, "cli")
    assert [(actor, action) for actor, action, _ in await audit_actions(services)] == [
        ("cli", "account.create"),
        ("cli", "key.create"),
        ("cli", "credits.grant"),
    ]


async def test_an_oversized_admin_body_is_refused_before_it_is_read(
    client: httpx.AsyncClient, services: Services
) -> None:
    operator = await admin_headers(services)
    big = b'{"name": "' + b"a" * (50 * 1024 * 1024) + b'"}'
    for headers in ({}, operator):
        answer = await client.post(
            "/admin/v1/accounts",
            content=big,
            headers={**headers, "Content-Type": "application/json"},
        )
        error(answer, 413, "PAYLOAD_TOO_LARGE")

    async def chunks():  # no Content-Length: counted as it arrives
        for _ in range(100):
            yield b"a" * 1024

    streamed = await client.post("/admin/v1/accounts", content=chunks(), headers=operator)
    error(streamed, 413, "PAYLOAD_TOO_LARGE")
    # A prompt-like name holding markup is data, stored and returned as given (JSON-escaped).
    made = data(
        await client.post(
            "/admin/v1/accounts", json={"name": "<script>alert(1)</script>"}, headers=operator
        )
    )
    assert made["name"] == "<script>alert(1)</script>"
    assert (
        data(await client.get("/admin/v1/accounts", headers=operator))["accounts"][0]["id"]
        == made["id"]
    )
