"""What operators watch in /admin: usage and margin per day and engine, the fleet, the audit log,
the plans."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from grokimagine.console.admin.accounts import PAGE, bad_cursor
from grokimagine.console.charts import daily_chart
from grokimagine.console.forms import (
    check_address,
    query_day,
    query_text,
)
from grokimagine.console.web import PageError, admin_user, render, services_of
from grokimagine.domain.accounts import users
from grokimagine.domain.accounts.audit import audit_page
from grokimagine.domain.billing.plans import plan_catalog
from grokimagine.domain.billing.price_table import price_table
from grokimagine.domain.clock import utcnow
from grokimagine.domain.cursors import InvalidCursorError
from grokimagine.domain.operator.reports import (
    ReportRangeError,
    usage_and_margin,
    workers_and_engines,
)

USAGE_DAYS = 30  # the usage page's default range

router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(check_address)])


@router.get("/usage")
async def usage_page(request: Request) -> Response:
    """Tasks, credits, revenue, provider cost and margin per day and per engine."""
    user = await admin_user(request)
    services = services_of(request)
    today = utcnow().date()
    until = query_day(request, "until", today)
    since = query_day(request, "since", until - timedelta(days=USAGE_DAYS - 1))
    try:
        lines = await usage_and_margin(
            services.db,
            since=since,
            until=until,
            usd_per_credit=services.settings.pricing.usd_per_credit,
        )
    except ReportRangeError as exc:
        raise PageError(400, f"That range cannot be shown: {exc}.") from None
    per_day: dict[str, list[float]] = {}
    per_engine: dict[str, dict[str, Any]] = {}
    for line in lines:
        day = per_day.setdefault(line["date"], [0, 0])
        day[0] += line["credits_net"]
        day[1] += line["tasks"]
        engine = per_engine.setdefault(
            line["engine"],
            {
                "engine": line["engine"],
                "tasks": 0,
                "credits_net": 0,
                "revenue_usd": 0.0,
                "provider_cost_usd": 0.0,
                "margin_usd": 0.0,
            },
        )
        for key in ("tasks", "credits_net", "revenue_usd", "margin_usd"):
            engine[key] += line[key]
        engine["provider_cost_usd"] += line["provider_cost_usd"] or 0.0
    chart = daily_chart(
        {day: (values[0], values[1]) for day, values in per_day.items()},
        days=(until - since).days + 1,
        today=until,
        bar_name="credits",
        line_name="tasks",
    )
    return render(
        request,
        "admin/usage.html",
        user,
        section="admin-usage",
        lines=list(reversed(lines)),
        engines=sorted(per_engine.values(), key=lambda item: -item["credits_net"]),
        chart=chart,
        since=since.isoformat(),
        until=until.isoformat(),
        usd_per_credit=services.settings.pricing.usd_per_credit,
    )


@router.get("/fleet")
async def fleet_page(request: Request) -> Response:
    """Workers seen in the last hour, alive or not, and the engines they serve."""
    user = await admin_user(request)
    fleet = await workers_and_engines(services_of(request).db)
    return render(request, "admin/fleet.html", user, section="admin-fleet", fleet=fleet)


@router.get("/audit")
async def audit(request: Request) -> Response:
    """Every admin action, newest first, filtered by actor, action or target."""
    user = await admin_user(request)
    query = request.query_params
    target = query_text(request, "target", max_chars=64)
    actor = query_text(request, "actor", max_chars=64)
    action = query_text(request, "action", max_chars=40)
    try:
        page = await audit_page(
            services_of(request).db,
            limit=PAGE,
            cursor=query.get("cursor") or None,
            target_id=target or None,
            actor=actor or None,
            action=action or None,
        )
    except InvalidCursorError:
        raise bad_cursor() from None
    return render(
        request,
        "admin/audit.html",
        user,
        section="admin-audit",
        entries=page.entries,
        people_by_id=await users.emails_of(
            services_of(request).db, (entry["actor"] for entry in page.entries)
        ),
        next_cursor=page.next_cursor,
        target=target,
        actor=actor,
        action=action,
    )


@router.get("/plans")
async def plans_page(request: Request) -> Response:
    """The plans and the price table in force (edited in /admin/settings)."""
    user = await admin_user(request)
    services = services_of(request)
    return render(
        request,
        "admin/plans.html",
        user,
        section="admin-plans",
        plans=list(plan_catalog(services.settings)),
        table=price_table(services.settings).describe(),
        usd_per_credit=services.settings.pricing.usd_per_credit,
    )
