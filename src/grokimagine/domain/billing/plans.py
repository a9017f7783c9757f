"""Plans: the reference page's three, and the ones an operator defines.

A plan sets requests per minute, whether spicy may be used, how many tasks an account may have
pending or running at once, and an optional monthly credit grant. Plans come from one setting
(``GROKIMAGINE_PLANS``, JSON, shape-checked by the settings) over the defaults, read at start-up,
so every API process and worker agrees on them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

from grokimagine.settings import Settings
from grokimagine.vocabulary import PLAN_NAMES


class PlanTableError(ValueError):
    """The plans settings do not make a catalog; the message names the variable and entry."""


class UnknownPlanError(LookupError):
    """No plan has that name."""


@dataclass(frozen=True)
class Plan:
    """A plan and its limits."""

    name: str
    requests_per_minute: int
    allow_spicy: bool = True  # the account's own allow_spicy must be set too
    max_active_tasks: int | None = None  # pending + processing per account; None: no limit
    monthly_credits: int = 0  # granted on the first of each month (UTC); 0: none

    def describe(self) -> dict[str, Any]:
        """The plan as the admin API shows it."""
        return asdict(self)


PLANS: dict[str, Plan] = {
    name: Plan(name, per_minute)
    for name, per_minute in zip(PLAN_NAMES, (100, 1000, 5000), strict=True)
}
DEFAULT_PLAN = "free"


@dataclass(frozen=True)
class PlanCatalog:
    """Every plan in force, by name."""

    plans: Mapping[str, Plan]

    def __iter__(self) -> Iterator[Plan]:
        return iter(self.plans.values())

    def __contains__(self, name: object) -> bool:
        return name in self.plans

    def get(self, name: str) -> Plan:
        """The plan ``name``; raises :class:`UnknownPlanError`."""
        plan = self.plans.get(name)
        if plan is None:
            raise UnknownPlanError(f"unknown plan {name!r}; plans: {', '.join(self.plans)}")
        return plan

    def of_account(self, name: str) -> Plan:
        """The plan of an account; an account left on a plan removed from the settings gets the
        default plan's limits rather than no service at all."""
        return self.plans.get(name) or self.plans[DEFAULT_PLAN]

    def names(self) -> list[str]:
        """Plan names, in the order they were defined."""
        return list(self.plans)

    def limits(self) -> dict[str, int]:
        """Requests per minute of each plan."""
        return {plan.name: plan.requests_per_minute for plan in self}


def plan_limits(overrides: dict[str, int] | None = None) -> dict[str, int]:
    """Requests per minute of each reference plan, with an operator's overrides applied."""
    return build_catalog(None, overrides).limits()


class PlanFieldsLike(Protocol):
    """The fields of a plan as the settings hold them (``settings.PlanFields``); None: not set."""

    requests_per_minute: int | None
    allow_spicy: bool | None
    max_active_tasks: int | None
    monthly_credits: int | None


def build_catalog(
    plans: Mapping[str, PlanFieldsLike] | None, rate_overrides: Mapping[str, int] | None = None
) -> PlanCatalog:
    """The plans in force: the defaults, then ``plans`` (``GROKIMAGINE_PLANS``: a default's name
    changes the fields given), then the per-plan rates of ``GROKIMAGINE_PLAN_LIMITS``.

    Raises :class:`PlanTableError` naming the variable and the entry at fault.
    """
    catalog = dict(PLANS)
    for name, fields in (plans or {}).items():
        given = {key: value for key, value in vars(fields).items() if value is not None}
        base = catalog.get(name)
        if base is None:
            if "requests_per_minute" not in given:
                raise PlanTableError(
                    f"GROKIMAGINE_PLANS: {name}: requests_per_minute: missing (a new plan needs it)"
                )
            base = Plan(name, given["requests_per_minute"])
        catalog[name] = replace(base, **given)
    for name, per_minute in (rate_overrides or {}).items():
        if name not in catalog:
            raise PlanTableError(
                f"GROKIMAGINE_PLAN_LIMITS: unknown plan {name!r}; plans: {', '.join(catalog)}"
            )
        if per_minute < 1:
            raise PlanTableError(f"GROKIMAGINE_PLAN_LIMITS: {name}: must be at least 1")
        catalog[name] = replace(catalog[name], requests_per_minute=per_minute)
    return PlanCatalog(catalog)


_CATALOGS: dict[str, PlanCatalog] = {}


def plan_catalog(settings: Settings) -> PlanCatalog:
    """The plans in force under ``settings`` (built once per distinct configuration)."""
    limits = settings.limits
    key = json.dumps(
        [{n: vars(f) for n, f in limits.plans.items()}, limits.plan_limits], sort_keys=True
    )
    catalog = _CATALOGS.get(key)
    if catalog is None:
        catalog = _CATALOGS[key] = build_catalog(limits.plans, limits.plan_limits)
    return catalog
