"""Plans and their rate limits, per the reference page."""

from __future__ import annotations

from dataclasses import dataclass

from grokimagine.domain.catalog import PLAN_NAMES


@dataclass(frozen=True)
class Plan:
    """A plan: its name and how many ``/v1`` requests a minute an account on it may make."""

    name: str
    requests_per_minute: int


PLANS: dict[str, Plan] = {
    name: Plan(name, per_minute)
    for name, per_minute in zip(PLAN_NAMES, (100, 1000, 5000), strict=True)
}


def plan_limits(overrides: dict[str, int] | None = None) -> dict[str, int]:
    """Requests per minute of each plan, with an operator's overrides applied."""
    limits = {plan.name: plan.requests_per_minute for plan in PLANS.values()}
    for name, per_minute in (overrides or {}).items():
        if name not in limits:
            raise ValueError(f"unknown plan {name!r} in the plan limits; plans: {', '.join(PLANS)}")
        if per_minute < 1:
            raise ValueError(f"the limit of plan {name!r} must be at least 1")
        limits[name] = per_minute
    return limits
