"""Admin API, operations: tasks across accounts, usage and margin, workers, the audit log, plans
and prices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from grokimagine.domain.accounts.audit import audit_page
from grokimagine.domain.billing.plans import plan_catalog
from grokimagine.domain.billing.price_table import price_table
from grokimagine.domain.operator import tasks as task_admin
from grokimagine.domain.operator.reports import usage_and_margin, workers_and_engines
from grokimagine.http.admin.accounts import services_of
from grokimagine.http.admin.auth import AdminActor
from grokimagine.http.admin.schemas import (
    ADMIN_ERRORS,
    AdminPricing,
    AdminTask,
    AdminTaskList,
    AuditPage,
    Fleet,
    PlanList,
    Refund,
    RefundBody,
    UsageReport,
)
from grokimagine.http.admin.views import admin_task_detail_view, admin_task_view
from grokimagine.http.envelope import success
from grokimagine.http.fields import Day, LineText, Moment
from grokimagine.http.params import TaskIdPath
from grokimagine.http.v1.schemas import Envelope, Error
from grokimagine.http.v1.task_schemas import CursorParam

router = APIRouter(prefix="/admin/v1", tags=["admin"], responses=ADMIN_ERRORS)

TaskStatus = Literal["pending", "processing", "completed", "failed", "canceled"]
DEFAULT_REPORT_DAYS = 7


@router.get("/tasks", summary="Tasks across accounts", response_model=Envelope[AdminTaskList])
async def list_tasks(
    request: Request,
    actor: AdminActor,
    account_id: Annotated[LineText | None, Query(max_length=40)] = None,
    status: TaskStatus | None = None,
    engine: Annotated[LineText | None, Query(max_length=40)] = None,
    since: Annotated[Moment | None, Query(description="Created at or after.")] = None,
    until: Annotated[Moment | None, Query(description="Created before.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: CursorParam = None,
) -> Response:
    """Tasks of every account (deleted ones too), newest first, filtered. ``engine`` is the
    engine that ran the task, or the first of its route for one not run yet."""
    page = await task_admin.list_all_tasks(
        services_of(request).db,
        limit=limit,
        cursor=cursor,
        account_id=account_id,
        status=status,
        engine=engine,
        since=since,
        until=until,
    )
    return success(
        {
            "tasks": [admin_task_view(record) for record in page.records],
            "next_cursor": page.next_cursor,
        }
    )


@router.get("/tasks/{task_id}", summary="One task", response_model=Envelope[AdminTask])
async def get_task(request: Request, actor: AdminActor, task_id: TaskIdPath) -> Response:
    """A task with its engine, attempts, provider job ids and cost, price, charges, refunds
    and ledger rows."""
    detail = await task_admin.task_detail(services_of(request).db, task_id)
    return success(admin_task_detail_view(detail))


@router.post(
    "/tasks/{task_id}/refund",
    summary="Refund a task",
    response_model=Envelope[Refund],
    responses={
        409: {
            "model": Error,
            "description": "TASK_NOT_REFUNDABLE: not completed, already refunded, or free",
        }
    },
)
async def refund_task(
    request: Request, actor: AdminActor, task_id: TaskIdPath, body: RefundBody | None = None
) -> Response:
    """Give back exactly what a completed task was charged, once; a second refund is 409.
    Failed and canceled tasks were refunded when they ended; cancel an unfinished one."""
    refunded = await task_admin.refund_task(
        services_of(request).db, actor, task_id, body.reason if body else ""
    )
    return success({"task_id": task_id, "refunded": refunded})


@router.post(
    "/tasks/{task_id}/cancel",
    summary="Cancel a task",
    response_model=Envelope[AdminTask],
    responses={409: {"model": Error, "description": "TASK_NOT_CANCELABLE: finished"}},
)
async def cancel_task(request: Request, actor: AdminActor, task_id: TaskIdPath) -> Response:
    """As its owner would: a pending task at once (refunded), a processing one at its engine's
    next step."""
    db = services_of(request).db
    await task_admin.cancel_task(db, actor, task_id)
    detail = await task_admin.task_detail(db, task_id)
    return success(admin_task_detail_view(detail))


@router.get("/usage", summary="Usage and margin", response_model=Envelope[UsageReport])
async def usage(
    request: Request,
    actor: AdminActor,
    since: Annotated[Day | None, Query(description="First UTC day; default 6 days ago.")] = None,
    until: Annotated[Day | None, Query(description="Last UTC day; default today.")] = None,
) -> Response:
    """Per UTC day (of task creation) and engine: tasks, credits charged and refunded, revenue
    at GROKIMAGINE_PRICING_USD_PER_CREDIT, provider cost in USD where known, margin."""
    services = services_of(request)
    last = until or datetime.now(UTC).date()
    first = since or last - timedelta(days=DEFAULT_REPORT_DAYS - 1)
    per_credit = services.settings.pricing.usd_per_credit
    lines = await usage_and_margin(services.db, since=first, until=last, usd_per_credit=per_credit)
    return success(
        {
            "since": first.isoformat(),
            "until": last.isoformat(),
            "usd_per_credit": float(per_credit),
            "lines": lines,
        }
    )


@router.get("/workers", summary="Workers and engines", response_model=Envelope[Fleet])
async def workers(request: Request, actor: AdminActor) -> Response:
    """Workers seen in the last hour (alive: checked in within 30 s, or holding a task) and
    the engines they serve, with the tasks waiting for each; the GPU nodes of the fleet
    engines (health, jobs in flight, recent latency) as the live workers last reported them."""
    return success(await workers_and_engines(services_of(request).db))


@router.get("/fleet", summary="Fleet: workers, engines, GPU nodes", response_model=Envelope[Fleet])
async def fleet_view(request: Request, actor: AdminActor) -> Response:
    """The same document as ``/admin/v1/workers``, under the name the GPU fleet docs use."""
    return success(await workers_and_engines(services_of(request).db))


@router.get("/audit", summary="Audit log", response_model=Envelope[AuditPage])
async def audit(
    request: Request,
    actor: AdminActor,
    target_id: Annotated[LineText | None, Query(max_length=64)] = None,
    actor_id: Annotated[LineText | None, Query(alias="actor", max_length=40)] = None,
    action: Annotated[LineText | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: CursorParam = None,
) -> Response:
    """Every admin action (API and CLI): who, what, when, before and after; newest first."""
    page = await audit_page(
        services_of(request).db,
        limit=limit,
        cursor=cursor,
        target_id=target_id,
        actor=actor_id,
        action=action,
    )
    return success({"entries": page.entries, "next_cursor": page.next_cursor})


@router.get("/plans", summary="Plans", response_model=Envelope[PlanList])
async def plans(request: Request, actor: AdminActor) -> Response:
    """The plans in force: the three defaults and GROKIMAGINE_PLANS."""
    return success(
        {"plans": [plan.describe() for plan in plan_catalog(services_of(request).settings)]}
    )


@router.get("/pricing", summary="Price table", response_model=Envelope[AdminPricing])
async def pricing(request: Request, actor: AdminActor) -> Response:
    """The whole price table in force, per-engine rules included."""
    services = services_of(request)
    return success(
        {
            "table": price_table(services.settings).describe(),
            "usd_per_credit": float(services.settings.pricing.usd_per_credit),
        }
    )
