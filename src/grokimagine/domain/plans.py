"""Plans and their rate limits, per the reference page."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    """A plan: its name and how many ``/v1`` requests a minute an account on it may make."""

    name: str
    requests_per_minute: int


PLANS: dict[str, Plan] = {
    "free": Plan("free", 100),
    "pro": Plan("pro", 1000),
    "enterprise": Plan("enterprise", 5000),
}


def get_plan(name: str) -> Plan:
    """The plan called ``name``; raises ``KeyError`` for an unknown one."""
    return PLANS[name]
