"""The operator's business settings: plans, the price table, sign-ups, starter credits, the fetch
allow-list and how long videos are kept.

They live in the database, one row per version (``business_settings``), edited in /admin and the
admin API. The environment (``GROKIMAGINE_PLANS``, ``GROKIMAGINE_PRICING_TABLE``, ...) only seeds
version 1 on the first start. Every version is validated as start-up validates the environment
(:func:`check_business_settings`) before it is stored, and audited with its before and after.

Each process applies the newest version to its ``services.settings``: at once in the process
that made the change, within :data:`REFRESH_SECONDS` in the others. A task's price is fixed when
it is submitted, so a new price table changes only tasks submitted after it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from grokimagine.domain.accounts.audit import Actor, record_action
from grokimagine.domain.billing.plans import PlanTableError, plan_catalog
from grokimagine.domain.billing.price_coverage import check_price_coverage
from grokimagine.domain.billing.price_table import (
    PriceTableError,
    price_table,
    read_price_table_source,
)
from grokimagine.domain.clock import iso_utc, utcnow
from grokimagine.engines.registry import engine_spec
from grokimagine.net.policy import Allowlist
from grokimagine.settings import Settings
from grokimagine.settings.service import PlanFields
from grokimagine.storage.db import Database
from grokimagine.storage.schema import business_settings

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # the composition root; imported at run time it would load every engine
    from grokimagine.services import Services

REFRESH_SECONDS = 2.0
ENV_ACTOR = "env"
MAX_RETENTION_DAYS = 3650


def check_business_settings(settings: Settings) -> None:
    """Build the price table and the plan catalog once; a bad entry raises ``ValueError`` with
    the variable's name and the entry at fault (``serve``, ``worker`` and the app call this).
    The table must also price every request the engines of the routes accept."""
    check_price_coverage(price_table(settings), settings, plan_catalog(settings))
    for model, route in settings.openai_api.models.items():
        for engine in route:
            try:
                engine_spec(settings, engine)
            except ValueError as exc:
                raise ValueError(f"GROKIMAGINE_OPENAI_API_MODELS: model {model!r}: {exc}") from None


class BusinessSettingsError(ValueError):
    """A proposed version is invalid; the message names the field and the entry at fault."""


class StaleVersionError(BusinessSettingsError):
    """Someone saved another version since the one this change was based on."""


class BusinessValues(BaseModel):
    """One version's values, as stored (JSON) and as the admin API takes them."""

    model_config = ConfigDict(extra="forbid")

    plans: dict[str, PlanFields] = Field(
        default_factory=dict, description="Plans over the defaults (as GROKIMAGINE_PLANS)."
    )
    plan_limits: dict[str, int] = Field(
        default_factory=dict, description="Requests per minute per plan, over the plans'."
    )
    price_table: dict[str, Any] | None = Field(
        None, description="The price table (as GROKIMAGINE_PRICING_TABLE); null: the default."
    )
    signup: Literal["closed", "open", "invitation"] = "closed"
    starter_credits: int = Field(0, ge=0, le=1_000_000_000)
    fetch_allowlist: list[str] = Field(default_factory=list)
    retention_days: dict[str, int] = Field(
        default_factory=dict,
        description="Days result videos, posters and sources are kept after a task ends, per "
        'plan ("default" for the rest); none: kept until the task is deleted.',
    )

    @field_validator("retention_days")
    @classmethod
    def _days(cls, days: dict[str, int]) -> dict[str, int]:
        for name, value in days.items():
            if not 1 <= value <= MAX_RETENTION_DAYS:
                raise ValueError(f"{name}: between 1 and {MAX_RETENTION_DAYS} days")
        return days


@dataclass(frozen=True)
class Version:
    """One stored version: its number, values, who made it and when."""

    version: int
    values: BusinessValues
    actor: str
    note: str
    created_at: datetime

    def describe(self) -> dict[str, Any]:
        """The version as JSON."""
        return {
            "version": self.version,
            "settings": self.values.model_dump(mode="json", exclude_none=False),
            "actor": self.actor,
            "note": self.note,
            "created_at": iso_utc(self.created_at),
        }


def values_of(settings: Settings) -> BusinessValues:
    """The business values ``settings`` hold (what the environment seeds)."""
    return BusinessValues(
        plans=dict(settings.limits.plans),
        plan_limits=dict(settings.limits.plan_limits),
        price_table=read_price_table_source(settings.pricing.table),
        signup=settings.console.signup,
        starter_credits=settings.console.starter_credits,
        fetch_allowlist=list(settings.fetch_allowlist),
    )


def apply_values(settings: Settings, values: BusinessValues) -> Settings:
    """``settings`` with ``values`` in place of their business fields, validated as start-up
    validates them; raises :class:`BusinessSettingsError` naming the entry at fault."""
    try:
        applied = settings.replace(
            limits={
                **settings.limits.model_dump(),
                "plans": {name: fields.model_dump() for name, fields in values.plans.items()},
                "plan_limits": values.plan_limits,
            },
            pricing={
                **settings.pricing.model_dump(),
                "table": None if values.price_table is None else json.dumps(values.price_table),
            },
            console={
                **settings.console.model_dump(),
                "signup": values.signup,
                "starter_credits": values.starter_credits,
            },
            fetch_allowlist=values.fetch_allowlist,
        )
        check_business_settings(applied)
        Allowlist.parse(applied.fetch_allowlist)
        catalog = plan_catalog(applied)
    except (PriceTableError, PlanTableError, ValidationError, ValueError) as exc:
        raise BusinessSettingsError(str(exc).removeprefix("invalid settings: ")) from None
    unknown = [name for name in values.retention_days if name != "default" and name not in catalog]
    if unknown:
        raise BusinessSettingsError(
            f"retention_days: unknown plan {unknown[0]!r}; plans: {', '.join(catalog.names())}"
        )
    return applied


def parse_values(raw: Any) -> BusinessValues:
    """Values from JSON-like input; raises :class:`BusinessSettingsError` naming the field."""
    try:
        return BusinessValues.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        raise BusinessSettingsError(f"{where}: {first['msg']}") from None


def _version(row: Any) -> Version:
    return Version(
        version=row.version,
        values=BusinessValues.model_validate(row.settings),
        actor=row.actor,
        note=row.note,
        created_at=row.created_at,
    )


async def current_version(db: Database) -> Version | None:
    """The version in force, or ``None`` before the first start seeded one."""
    row = await db.fetch_one(
        select(business_settings).order_by(business_settings.c.version.desc()).limit(1)
    )
    return None if row is None else _version(row)


async def history(db: Database, limit: int = 50) -> list[Version]:
    """The newest versions first."""
    rows = await db.fetch_all(
        select(business_settings).order_by(business_settings.c.version.desc()).limit(limit)
    )
    return [_version(row) for row in rows]


def _use(services: Services, version: Version) -> None:
    services.settings = apply_values(services.settings, version.values)
    services.fetch_allowlist = Allowlist.parse(services.settings.fetch_allowlist)
    services.retention_days = dict(version.values.retention_days)
    services.business_version = version.version
    services.business_checked_at = time.monotonic()


async def load_business_settings(services: Services) -> Version:
    """Apply the version in force to ``services``; on the very first start, store the
    environment's values as version 1 (they were validated at start-up)."""
    found = await current_version(services.db)
    if found is None:
        seed = values_of(services.settings)
        try:
            async with services.db.write() as conn:
                await conn.execute(
                    insert(business_settings).values(
                        version=1,
                        settings=seed.model_dump(mode="json"),
                        actor=ENV_ACTOR,
                        note="seeded from the environment on the first start",
                        created_at=utcnow(),
                    )
                )
        except IntegrityError:  # another process seeded it first: theirs is the same
            pass
        found = await current_version(services.db)
        assert found is not None
    _use(services, found)
    return found


async def refresh_business_settings(services: Services, *, force: bool = False) -> bool:
    """Pick up a version saved by another process (checked at most every
    :data:`REFRESH_SECONDS`); whether the settings changed."""
    if services.business_version == 0:  # nothing applied yet in this process
        found = await current_version(services.db)
        if found is not None:
            _use(services, found)
            return True
        if force:  # an operator's page or the admin API wants version 1 in hand
            await load_business_settings(services)
            return True
        # A first start: the environment's values (validated at start-up) are in force already;
        # storing them as version 1 is a write, which must not hold up this request (on SQLite
        # another process may hold the write lock). Done beside it, once.
        if services.business_seeding is None or services.business_seeding.done():
            services.business_seeding = asyncio.create_task(_seed_quietly(services))
        return False
    now = time.monotonic()
    if not force and now - services.business_checked_at < REFRESH_SECONDS:
        return False
    services.business_checked_at = now
    row = await services.db.fetch_one(select(func.max(business_settings.c.version)))
    newest = row[0] if row is not None else None
    if newest is None or newest == services.business_version:
        return False
    await load_business_settings(services)
    return True


async def _seed_quietly(services: Services) -> None:
    try:
        await load_business_settings(services)
    except Exception:  # a busy or closed database: the next request tries again
        log.warning("could not store the business settings' first version", exc_info=True)


def _changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = [key for key in new if old.get(key) != new[key]]
    return {key: old.get(key) for key in keys}, {key: new[key] for key in keys}


async def change_business_settings(
    services: Services,
    actor: Actor,
    values: BusinessValues,
    *,
    based_on: int,
    note: str = "",
) -> Version:
    """Store ``values`` as the next version, if ``based_on`` is still the version in force.

    Raises :class:`BusinessSettingsError` (invalid, named) or :class:`StaleVersionError`.
    """
    apply_values(services.settings, values)  # validate before anything is written
    stored = values.model_dump(mode="json")
    try:
        async with services.db.write() as conn:
            row = (
                await conn.execute(
                    select(business_settings)
                    .order_by(business_settings.c.version.desc())
                    .limit(1)
                    .with_for_update()
                )
            ).first()
            current = row.version if row is not None else 0
            if current != based_on:
                raise StaleVersionError(
                    f"the settings changed (version {current}) since you loaded version "
                    f"{based_on}: reload and apply your change again"
                )
            await conn.execute(
                insert(business_settings).values(
                    version=current + 1,
                    settings=stored,
                    actor=actor.id,
                    note=note.strip()[:200],
                    created_at=utcnow(),
                )
            )
            before, after = _changes(row.settings if row is not None else {}, stored)
            await record_action(
                conn,
                actor,
                "settings.change",
                "settings",
                str(current + 1),
                before=before,
                after=after,
                note=note.strip(),
            )
    except IntegrityError:  # two saves based on the same version: the other one won
        raise StaleVersionError(
            "the settings were changed at the same moment: reload and apply your change again"
        ) from None
    version = await current_version(services.db)
    assert version is not None
    _use(services, version)
    return version
