"""Plans: the reference page's three, and the ones an operator defines.

A plan sets requests per minute, whether spicy may be used, how many tasks an account may have
pending or running at once, and an optional monthly credit grant. Plans are read once at start-up
from one setting (``GROKIMAGINE_PLANS``: JSON text or a JSON/TOML file) over the defaults, so
every API process and worker agrees on them.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from grokimagine.domain.catalog import PLAN_NAMES

MAX_PLAN_NAME = 20  # accounts.plan is a String(20)


class PlanTableError(ValueError):
    """The plans setting is malformed; the message names the entry at fault."""


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


def build_catalog(source: str | None, rate_overrides: dict[str, int] | None = None) -> PlanCatalog:
    """The plans in force: defaults, then the plans setting, then the per-plan rate overrides
    (``GROKIMAGINE_PLAN_LIMITS``, kept for its existing users)."""
    plans = dict(PLANS)
    plans.update(load_plans(source))
    for name, per_minute in (rate_overrides or {}).items():
        if name not in plans:
            raise ValueError(f"unknown plan {name!r} in the plan limits; plans: {', '.join(plans)}")
        if per_minute < 1:
            raise ValueError(f"the limit of plan {name!r} must be at least 1")
        plans[name] = replace(plans[name], requests_per_minute=per_minute)
    return PlanCatalog(plans)


def load_plans(source: str | None) -> dict[str, Plan]:
    """Plans from a setting: ``None``/empty, JSON text, or a JSON/TOML file of name -> fields."""
    if source is None or not source.strip():
        return {}
    text = source.strip()
    if text.startswith("{"):
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PlanTableError(f"not valid JSON: {exc}") from None
    else:
        path = Path(text)
        try:
            content = path.read_text()
            raw = tomllib.loads(content) if path.suffix == ".toml" else json.loads(content)
        except OSError as exc:
            raise PlanTableError(f"cannot read {path}: {exc.strerror or exc}") from None
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise PlanTableError(f"{path}: {exc}") from None
    return parse_plans(raw)


_FIELDS = {"requests_per_minute", "allow_spicy", "max_active_tasks", "monthly_credits"}


def parse_plans(raw: Any) -> dict[str, Plan]:
    """Validate decoded plans; a plan named like a default changes that default's fields."""
    if not isinstance(raw, dict):
        raise PlanTableError("plans must be an object of plan name -> fields")
    plans = {}
    for name, fields in raw.items():
        if not isinstance(name, str) or not name or len(name) > MAX_PLAN_NAME:
            raise PlanTableError(f"{name!r}: a plan name is 1 to {MAX_PLAN_NAME} characters")
        if not name.replace("-", "").replace("_", "").isalnum():
            raise PlanTableError(f"{name}: letters, digits, - and _ only")
        if not isinstance(fields, dict):
            raise PlanTableError(f"{name}: must be an object of fields")
        unknown = set(fields) - _FIELDS
        if unknown:
            raise PlanTableError(f"{name}.{sorted(unknown)[0]}: unknown field")
        base = PLANS.get(name)
        if base is None and "requests_per_minute" not in fields:
            raise PlanTableError(f"{name}.requests_per_minute: missing")
        values = asdict(base) if base else {"name": name}
        for key, value in fields.items():
            values[key] = _check(name, key, value)
        plans[name] = Plan(**values)
    return plans


def _check(plan: str, key: str, value: Any) -> Any:
    where = f"{plan}.{key}"
    if key == "allow_spicy":
        if not isinstance(value, bool):
            raise PlanTableError(f"{where}: must be true or false")
        return value
    if key == "max_active_tasks" and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlanTableError(f"{where}: must be a whole number, not {value!r}")
    least = 0 if key == "monthly_credits" else 1
    if value < least:
        raise PlanTableError(f"{where}: must be at least {least}")
    return value
