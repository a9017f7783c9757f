"""The operator's story of issue 12, over HTTP with nothing but an admin key, on both databases.

An operator who sells videos on a "studio" plan of their own creates an account on it, gives it
a key and credits, watches its tasks and the day's margin, refunds a bad video and finally
disables the account; every step is in the audit log.
"""

from __future__ import annotations

from datetime import UTC, datetime

from grokimagine.services import Services
from grokimagine.settings import Settings
from tests.helpers.admin import admin_headers, app_with, balance, data, error, ledger_total
from tests.helpers.customers import make_worker

STUDIO_PLAN = {"studio": {"requests_per_minute": 600, "max_active_tasks": 4, "allow_spicy": False}}
REFERENCE = {"mode": "fun", "prompt": "a beautiful landscape with mountains", "ratio": "1:1"}


async def test_an_operator_runs_a_customer_with_only_an_admin_key(
    settings: Settings, services: Services
) -> None:
    async with app_with(settings, plans=STUDIO_PLAN) as (own, http):
        operator = await admin_headers(own)  # `grokimagine admin-keys create` does the same

        # The operator's own plan is in force.
        plans = data(await http.get("/admin/v1/plans", headers=operator))["plans"]
        assert plans[-1] == {
            "name": "studio",
            "requests_per_minute": 600,
            "allow_spicy": False,
            "max_active_tasks": 4,
            "monthly_credits": 0,
        }

        # 1. Create an account on it, give it a key and credits.
        account = data(
            await http.post(
                "/admin/v1/accounts",
                json={"name": "Northwind Media", "plan": "studio"},
                headers=operator,
            )
        )
        account_id = account["id"]
        key = data(await http.post(f"/admin/v1/accounts/{account_id}/keys", headers=operator))
        customer = {"Authorization": f"Bearer {key['token']}"}
        granted = data(
            await http.post(
                f"/admin/v1/accounts/{account_id}/credits/grant",
                json={"amount": 1000, "reason": "welcome pack"},
                headers=operator,
            )
        )
        assert granted["balance"] == 1000

        # The customer asks the price, then generates: the reference request and a 10 s 720p one.
        long_720p = {**REFERENCE, "duration": 10, "resolution": "720p"}
        quotes = [
            data(await http.post("/v1/quote", json=body, headers=customer))["price"]
            for body in (REFERENCE, long_720p)
        ]
        assert quotes == [40, 94]
        first = data(await http.post("/v1/generate", json=REFERENCE, headers=customer))
        second = data(await http.post("/v1/generate", json=long_720p, headers=customer))
        assert await balance(own, account_id) == 1000 - 40 - 94
        worker = make_worker(own)
        assert await worker.run_once()  # the reference video is made; the long one waits

        # 2. See its tasks and the margin of the day.
        listed = data(await http.get(f"/admin/v1/tasks?account_id={account_id}", headers=operator))[
            "tasks"
        ]
        assert [(t["task_id"], t["status"], t["price"]) for t in listed] == [
            (second["task_id"], "pending", 94),
            (first["task_id"], "completed", 40),
        ]
        made = data(await http.get(f"/admin/v1/tasks/{first['task_id']}", headers=operator))
        assert (made["engine"], made["attempts"], made["money"]["charged"]) == ("preview", 1, 40)
        today = datetime.now(UTC).date().isoformat()
        usage = data(await http.get(f"/admin/v1/usage?since={today}", headers=operator))
        assert usage["lines"] == [
            {
                "date": today,
                "engine": "preview",
                "tasks": 2,
                "credits_charged": 134,
                "credits_refunded": 0,
                "credits_net": 134,
                "revenue_usd": 1.34,
                "provider_cost_usd": None,  # the preview engine costs the operator nothing
                "tasks_with_cost": 0,
                "margin_usd": 1.34,
            }
        ]

        # 3. The customer complains about the first video: refund it, exactly its price, once.
        refund = data(
            await http.post(
                f"/admin/v1/tasks/{first['task_id']}/refund",
                json={"reason": "customer complaint: wrong style"},
                headers=operator,
            )
        )
        assert refund["refunded"] == 40
        error(
            await http.post(f"/admin/v1/tasks/{first['task_id']}/refund", headers=operator),
            409,
            "TASK_NOT_REFUNDABLE",
        )
        task = data(await http.get(f"/v1/tasks/{first['task_id']}", headers=customer))
        assert (task["money"]["price"], task["money"]["refunded"]) == (40, 40)
        assert await balance(own, account_id) == 1000 - 94

        # 4. Disable the account: its key is refused at once and it cannot spend.
        data(await http.post(f"/admin/v1/accounts/{account_id}/disable", headers=operator))
        error(await http.get("/v1/account", headers=customer), 403, "ACCOUNT_DISABLED")
        error(
            await http.post("/v1/generate", json=REFERENCE, headers=customer),
            403,
            "ACCOUNT_DISABLED",
        )
        assert await balance(own, account_id) == 1000 - 94
        assert await ledger_total(own, account_id) == 1000 - 94

        # Every admin action is in the audit log, newest first, with who did it.
        audit = data(await http.get(f"/admin/v1/audit?target_id={account_id}", headers=operator))
        assert [entry["action"] for entry in audit["entries"]] == [
            "account.disable",
            "credits.grant",
            "account.create",
        ]
        everything = data(await http.get("/admin/v1/audit", headers=operator))["entries"]
        assert [entry["action"] for entry in everything] == [
            "account.disable",
            "task.refund",
            "credits.grant",
            "key.create",
            "account.create",
            "admin_key.create",
        ]
        assert all(entry["actor"].startswith("adk_") for entry in everything[:-1])
        assert everything[-1]["actor"] == "cli"
