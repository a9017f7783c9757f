"""Response models of the Part 3 routes (tasks, webhooks, account, pricing), for the OpenAPI doc."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from grokimagine.http.params import CursorQuery
from grokimagine.http.v1.schemas import Envelope, Status

# The ``cursor`` query parameter of the paginated lists.
CursorParam = CursorQuery


class TaskOptions(BaseModel):
    """The options the task runs with (defaults filled in; ``seed`` is the one used)."""

    n: int = Field(examples=[1])
    duration: int = Field(description="Seconds per video.", examples=[6])
    resolution: str = Field(examples=["480p"])
    seed: int
    negative_prompt: str | None = None


class TaskLedgerRow(BaseModel):
    """One ledger row of a task."""

    id: int
    delta: int = Field(description="Negative: a charge; positive: a refund.")
    reason: str = Field(examples=["reserve", "refund"])
    note: str
    created_at: str


class TaskMoneyData(BaseModel):
    """What the task cost: its price at submission, and what was charged and refunded, and why."""

    price: int | None = Field(
        description="Credits at submission under the price table then in force (0 on test keys)."
    )
    charged: int
    refunded: int
    ledger: list[TaskLedgerRow]


class Task(Status):
    """The task resource: the status body and the fields only Part 3 clients see."""

    thumbnail_url: str | None = Field(
        None,
        description="Once completed: a signed URL of a JPEG poster frame of the first video "
        "(expires with the video URLs).",
    )
    cancel_requested: bool = Field(
        description="A cancel was asked while processing; the worker stops at the engine's next"
        " step, then the status is canceled and the credits are refunded."
    )
    deleted_at: str | None = Field(None, description="Set once the task's files were deleted.")
    live: bool = Field(description="False for tasks made with a gi_test_ key (never charged).")
    options: TaskOptions
    money: TaskMoneyData | None = None


class TaskList(BaseModel):
    """One page of tasks, newest first."""

    tasks: list[Task]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class DeliveryAttempt(BaseModel):
    """One POST to the callback URL."""

    at: str
    status_code: int | None = Field(description="The receiver's status; null on a timeout.")
    error: str | None
    ms: int = Field(description="Milliseconds the attempt took.")


class DeliveryData(BaseModel):
    """A webhook message and its attempts."""

    id: str = Field(description="The webhook-id header, the same on every retry.")
    event: Literal["task.completed", "task.failed", "task.canceled"]
    url: str
    status: Literal["pending", "delivered", "failed"] = Field(
        description="failed: every retry over the retry window (a day) got no 2xx."
    )
    attempts: int
    next_attempt_at: str | None
    last_status_code: int | None
    last_error: str | None
    created_at: str
    finished_at: str | None
    attempt_log: list[DeliveryAttempt]


class DeliveryList(BaseModel):
    """The webhook deliveries of a task, oldest first."""

    deliveries: list[DeliveryData]


class WebhookPayload(BaseModel):
    """The body POSTed to a callback URL, signed per Standard Webhooks."""

    type: Literal["task.completed", "task.failed", "task.canceled"]
    timestamp: str
    data: Task


class RateLimitWindow(BaseModel):
    """The account's rate limit and the current one-minute window (this request included)."""

    limit: int = Field(description="Requests per minute.")
    remaining: int
    reset: int = Field(description="Unix epoch seconds at which the window resets.")


class UsageDay(BaseModel):
    """One UTC day of usage."""

    date: str = Field(examples=["2026-11-24"])
    tasks: int
    credits: int = Field(description="Credits consumed by that day's tasks (refunds deducted).")


class KeyInfo(BaseModel):
    """The key making the request."""

    id: str
    kind: Literal["live", "test"]


class Account(BaseModel):
    """What ``GET /v1/account`` returns."""

    account_id: str
    plan: str
    balance: int
    allow_spicy: bool
    key: KeyInfo
    rate_limit: RateLimitWindow
    usage: list[UsageDay] = Field(description="The last 30 days with any task, newest first.")
    webhook_secret: str = Field(
        description="whsec_ + base64: the key of the webhook signatures (Standard Webhooks)."
    )


class LedgerEntry(BaseModel):
    """One change of balance."""

    id: int
    delta: int
    # purchase: a paid Stripe payment; redeem: a code; takeback: a refund or lost dispute of a
    # payment (may take the balance below zero), its note naming the payment.
    reason: Literal[
        "grant", "deduct", "monthly", "reserve", "refund", "purchase", "redeem", "takeback"
    ]
    task_id: str | None
    note: str
    created_at: str
    admin_key_id: str | None = Field(
        None, description="Admin API only: the admin key behind a grant or deduction."
    )


class LedgerPage(BaseModel):
    """One page of the ledger, newest first."""

    entries: list[LedgerEntry]
    next_cursor: str | None


class ExtendOptions(BaseModel):
    """What ``POST /v1/extend`` accepts in a mode."""

    durations: list[int] = Field(description="Seconds that may be added.")
    source_seconds: list[float] = Field(description="Shortest and longest source accepted.")
    prices: dict[str, dict] = Field(
        description="Per resolution of the result, the rule applied to the seconds added."
    )


class EditOptions(BaseModel):
    """What ``POST /v1/edit`` accepts in a mode."""

    max_source_seconds: float = Field(description="Longest source accepted.")
    prices: dict[str, int] = Field(description="Per resolution of the result, credits a clip.")


class ModeOptions(BaseModel):
    """What a mode accepts for the caller: the options its engines all support."""

    allowed: bool = Field(description="False for spicy on an account not enabled for it.")
    durations: list[int]
    resolutions: list[str]
    max_n: int
    seed: bool
    negative_prompt: bool
    prices: dict[str, dict] = Field(
        description="Per resolution, the price rule for this mode: `base + per_second *"
        " seconds` (rounded up), or `tiers` of longest seconds -> credits; times n."
    )
    max_images: int = Field(description="Most input images a task of this mode may carry.")
    operations: list[str] = Field(
        description="What the mode's engines do: generate, and extend and edit where they can."
    )
    extend: ExtendOptions | None = Field(None, description="Absent where extend is not offered.")
    edit: EditOptions | None = Field(None, description="Absent where edit is not offered.")


class Pricing(BaseModel):
    """Prices and options, before anything is charged."""

    credits_per_video: int = Field(examples=[40])
    charged: bool = Field(description="False for gi_test_ keys, which are never charged.")
    price_formula: str = Field(examples=["n * 40"])
    modes: dict[str, ModeOptions]
    table: dict = Field(
        description="The default rules of the price table in force (a mode's own `prices`"
        " may differ where the operator prices its engines apart)."
    )


class QuoteData(BaseModel):
    """What a generate body would cost; nothing was created or charged."""

    price: int = Field(description="Credits the task would be charged.", examples=[40])
    credits_per_video: int = Field(examples=[40])
    n: int
    duration: int
    resolution: str
    charged: bool = Field(description="False for gi_test_ keys, which are never charged.")
    balance: int
    affordable: bool = Field(description="Whether the balance covers the price now.")


# Named envelopes: generated clients name their classes after these ("TaskResponse").


class TaskResponse(Envelope[Task]):
    """An answer carrying one task."""


class TaskListResponse(Envelope[TaskList]):
    """An answer carrying a page of tasks."""


class DeliveryListResponse(Envelope[DeliveryList]):
    """An answer carrying a task's webhook deliveries."""


class AccountResponse(Envelope[Account]):
    """The answer of ``GET /v1/account``."""


class LedgerResponse(Envelope[LedgerPage]):
    """An answer carrying a page of the ledger."""


class PricingResponse(Envelope[Pricing]):
    """The answer of ``GET /v1/pricing``."""
