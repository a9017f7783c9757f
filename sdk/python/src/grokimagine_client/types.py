"""What the API returns, as objects that keep every field, known or not.

A newer server may add fields or statuses: unknown fields stay in ``raw`` (and are readable as
attributes), and an unknown status counts as still running, so waiting goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FINISHED_STATUSES = frozenset({"completed", "failed", "canceled"})


class _Raw:
    raw: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        # Only reached for names that are not fields: the server's newer fields.
        raw = self.__dict__.get("raw") or {}
        if name in raw:
            return raw[name]
        raise AttributeError(name)

    def to_dict(self) -> dict[str, Any]:
        """The object as the server sent it."""
        return dict(self.raw)


@dataclass(eq=False)
class Task(_Raw):
    """A video task."""

    id: str
    status: str
    progress: int = 0
    queue_position: int | None = None
    consumed_credits: int = 0
    created_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    expires_at: str | None = None
    request: dict[str, Any] = field(default_factory=dict)
    videos: list[str] = field(default_factory=list)
    error_code: str | None = None
    error_message: str | None = None
    cancel_requested: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Task:
        """A task from the ``data`` of a status or task answer (or an event)."""
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        return cls(
            id=str(data.get("task_id") or data.get("id") or ""),
            status=str(data.get("status") or "unknown"),
            progress=int(data.get("progress") or 0),
            queue_position=data.get("queue_position"),
            consumed_credits=int(data.get("consumed_credits") or 0),
            created_at=data.get("created_at"),
            started_at=data.get("started_at"),
            completed_at=data.get("completed_at"),
            expires_at=data.get("expires_at"),
            request=dict(data.get("request") or {}),
            videos=list(data.get("response") or []),
            error_code=error.get("code"),
            error_message=error.get("message"),
            cancel_requested=bool(data.get("cancel_requested")),
            raw=dict(data),
        )

    @property
    def finished(self) -> bool:
        """Whether the task reached a final state; an unknown status counts as running."""
        return self.status in FINISHED_STATUSES

    @property
    def succeeded(self) -> bool:
        """Whether the task completed with its videos."""
        return self.status == "completed"


@dataclass(eq=False)
class Account(_Raw):
    """The account behind the key."""

    account_id: str
    plan: str
    balance: int
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Account:
        return cls(
            account_id=str(data.get("account_id", "")),
            plan=str(data.get("plan", "")),
            balance=int(data.get("balance") or 0),
            raw=dict(data),
        )


@dataclass(eq=False)
class LedgerEntry(_Raw):
    """One change of balance."""

    id: int
    delta: int
    reason: str
    task_id: str | None
    created_at: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> LedgerEntry:
        return cls(
            id=int(data.get("id") or 0),
            delta=int(data.get("delta") or 0),
            reason=str(data.get("reason", "")),
            task_id=data.get("task_id"),
            created_at=data.get("created_at"),
            raw=dict(data),
        )


@dataclass(eq=False)
class Quote(_Raw):
    """The price of a request before anything is charged."""

    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def credits(self) -> int | None:
        """The credits the request would cost, under whichever name the server gives them."""
        for name in ("credits", "price", "price_credits", "cost"):
            value = self.raw.get(name)
            if isinstance(value, int):
                return value
        return None
