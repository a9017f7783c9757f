"""Request and response models of the admin API (``/admin/v1``), for parsing and the OpenAPI doc."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from grokimagine.domain.billing.credits import MAX_CREDITS_PER_CHANGE
from grokimagine.http.fields import LineText
from grokimagine.http.v1.schemas import Error
from grokimagine.http.v1.task_schemas import TaskMoneyData

MAX_REASON = 200
MAX_PLAN_NAME = 40


class _Body(BaseModel):
    # Strict: false is not 0 credits, "true" is not a boolean (schemathesis found the first).
    model_config = ConfigDict(extra="forbid", strict=True)


class AccountCreate(_Body):
    """A new account."""

    name: LineText = Field("", max_length=200)
    plan: LineText = Field(
        "free", max_length=MAX_PLAN_NAME, description="One of GET /admin/v1/plans."
    )
    allow_spicy: bool = False
    credits: int = Field(0, ge=0, le=MAX_CREDITS_PER_CHANGE, description="Opening grant.")


class AccountChange(_Body):
    """Fields to change; each change is its own audit entry."""

    plan: LineText | None = Field(None, max_length=MAX_PLAN_NAME)
    allow_spicy: bool | None = None
    name: LineText | None = Field(None, max_length=200)


class CreditChange(_Body):
    """Credits to grant or deduct, and why (kept on the ledger row and in the audit log)."""

    amount: int = Field(gt=0, le=MAX_CREDITS_PER_CHANGE, strict=True)
    reason: LineText = Field(min_length=1, max_length=MAX_REASON)


class KeyCreate(_Body):
    """A new API key of an account."""

    kind: Literal["live", "test"] = "live"


class RefundBody(_Body):
    """Why a task is refunded."""

    reason: LineText = Field("", max_length=MAX_REASON)


class AdminAccount(BaseModel):
    """An account as operators see it."""

    id: str
    name: str
    plan: str
    balance: int
    allow_spicy: bool
    disabled: bool
    disabled_at: str | None
    created_at: str


class AccountList(BaseModel):
    """One page of accounts, newest first."""

    accounts: list[AdminAccount]
    next_cursor: str | None


class AdminApiKey(BaseModel):
    """An API key, never its token."""

    id: str
    account_id: str
    token_prefix: str
    kind: Literal["live", "test"]
    created_at: str
    revoked_at: str | None


class KeyList(BaseModel):
    """The keys of an account, oldest first."""

    keys: list[AdminApiKey]


class NewApiKey(BaseModel):
    """A key just made: ``token`` is shown this once."""

    key: AdminApiKey
    token: str


class Balance(BaseModel):
    """The balance after a grant or deduction."""

    account_id: str
    balance: int


class ProviderInfo(BaseModel):
    """What the provider said: job ids and cost in USD (null where unknown)."""

    job_ids: list[str]
    cost_usd: float | None


class AdminTask(BaseModel):
    """A task of any account, with what operators need to help its owner."""

    task_id: str
    account_id: str
    key_id: str
    live: bool
    status: str
    mode: str
    prompt: str
    request: dict[str, Any]
    route: list[str]
    engine: str | None = Field(description="The engine that ran it.")
    attempts: int
    progress: int
    error: dict[str, str] | None
    cancel_requested: bool
    created_at: str
    started_at: str | None
    completed_at: str | None
    deleted_at: str | None
    price: int | None = Field(description="Credits at submission (null: made before prices).")
    consumed_credits: int = Field(description="What it costs now: 0 once refunded.")
    provider: ProviderInfo | None = None
    money: TaskMoneyData | None = None


class AdminTaskList(BaseModel):
    """One page of tasks across accounts, newest first."""

    tasks: list[AdminTask]
    next_cursor: str | None


class Refund(BaseModel):
    """A refund made."""

    task_id: str
    refunded: int


class UsageLine(BaseModel):
    """One UTC day and engine."""

    date: str
    engine: str
    tasks: int
    credits_charged: int
    credits_refunded: int
    credits_net: int
    revenue_usd: float = Field(description="credits_net times GROKIMAGINE_PRICING_USD_PER_CREDIT.")
    provider_cost_usd: float | None = Field(description="Sum over tasks whose cost is known.")
    tasks_with_cost: int
    margin_usd: float


class UsageReport(BaseModel):
    """Usage and margin per day (of task creation) and engine."""

    since: str
    until: str
    usd_per_credit: float
    lines: list[UsageLine]


class WorkerInfo(BaseModel):
    """A worker seen in the last hour."""

    id: str
    engines: list[str]
    alive: bool
    busy: bool
    started_at: str | None
    last_seen_at: str | None


class NodeInfo(BaseModel):
    """A GPU node of a fleet engine (sglang, vllm-omni) as the live workers see it."""

    engine: str
    name: str
    url: str
    healthy: bool
    reason: str | None = Field(None, description="Why it was taken out, while it is.")
    since: float | None = Field(None, description="Unix time of its last health change.")
    weight: float
    concurrency: int
    in_flight: int = Field(description="Jobs on it now, summed over the live workers.")
    jobs_done: int
    jobs_failed: int
    models: list[str] = Field(default_factory=list)
    latency_p50_s: float | None = Field(None, description="Median seconds of its recent jobs.")
    latency_last_s: float | None = None
    workers: list[str] = Field(default_factory=list)


class EngineInfo(BaseModel):
    """An engine: live workers serving it and tasks waiting for it."""

    engine: str
    alive_workers: int
    pending: int


class Fleet(BaseModel):
    """Workers and engines."""

    workers: list[WorkerInfo]
    engines: list[EngineInfo]
    nodes: list[NodeInfo] = Field(default_factory=list)


class AuditEntry(BaseModel):
    """One admin action."""

    id: int
    actor: str = Field(description="The admin key's id, or cli.")
    action: str = Field(examples=["account.disable"])
    target_type: str
    target_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    note: str
    created_at: str


class AuditPage(BaseModel):
    """One page of the audit log, newest first."""

    entries: list[AuditEntry]
    next_cursor: str | None


class PlanData(BaseModel):
    """A plan in force."""

    name: str
    requests_per_minute: int
    allow_spicy: bool
    max_active_tasks: int | None
    monthly_credits: int


class PlanList(BaseModel):
    """Every plan in force (GROKIMAGINE_PLANS over the three defaults)."""

    plans: list[PlanData]


class AdminPricing(BaseModel):
    """The whole price table, engines included, and what a credit sells for."""

    table: dict[str, Any]
    usd_per_credit: float


ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Error, "description": description}
    for status, description in {
        400: "Invalid request",
        401: "Missing, unknown or revoked admin key (API keys are never accepted here)",
        404: "No such account, key or task",
        429: "Too many failed authentications from this address",
    }.items()
}
