"""The operator's price table: credits per video by resolution and duration, optionally per engine.

A table is read once at start-up from one setting (JSON text, or a ``.json``/``.toml`` file) and
validated; every error names the entry at fault. The price of a task is computed once, when it is
submitted, and stored on the task: changing the table never changes tasks already submitted.

Each resolution has one rule, either linear or tiered::

    {"default": {"480p": {"base": 4, "per_second": 6},       # 6 s: 4 + 6*6 = 40
                 "720p": {"base": 4, "per_second": 9}},      # 10 s: 94
     "engines": {"xai": {"720p": {"tiers": {"6": 60, "10": 100, "15": 150}}}}}

Extending a video is priced by the seconds it adds and editing one per clip, per resolution of
the result; both are optional, and by default extend uses the resolution's rule on the seconds
added and edit costs what a default-length (6 s) video costs::

    {"default": {...}, "extend": {"480p": {"base": 0, "per_second": 6}, "720p": ...},
     "edit": {"480p": 40, "720p": 58}}

``per_second`` may be a decimal (``"6.5"``); a video's price is rounded up to whole credits.
A tiered rule charges the smallest tier at least as long as the video; a video longer than every
tier has no price (the request is refused). A task costs ``n`` times its video's price.
"""

from __future__ import annotations

import functools
import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from grokimagine.settings import Settings
from grokimagine.vocabulary import DEFAULT_SECONDS, RESOLUTIONS

MAX_CREDITS_PER_VIDEO = 10_000_000
MAX_TIER_SECONDS = 3600  # far past any video an engine makes
_SECONDS = re.compile(r"^[0-9]{1,4}$")


class PriceTableError(ValueError):
    """The table is malformed; the message names the entry at fault."""


class NoPriceError(LookupError):
    """The table has no price for this resolution and duration."""


@dataclass(frozen=True)
class PriceRule:
    """How one resolution is priced: ``base + per_second * seconds``, or by duration tiers."""

    base: int = 0
    per_second: Decimal = Decimal(0)
    tiers: tuple[tuple[int, int], ...] = ()  # (longest seconds, credits), shortest first

    def credits_for(self, seconds: int) -> int:
        """Credits for one video of ``seconds``; raises :class:`NoPriceError` past every tier."""
        if self.tiers:
            for longest, credits in self.tiers:
                if seconds <= longest:
                    return credits
            raise NoPriceError(f"no tier holds {seconds} s (longest {self.tiers[-1][0]} s)")
        return math.ceil(self.base + self.per_second * seconds)

    def describe(self) -> dict[str, Any]:
        """The rule as ``GET /v1/pricing`` shows it."""
        if self.tiers:
            return {"tiers": {str(longest): credits for longest, credits in self.tiers}}
        return {"base": self.base, "per_second": _number(self.per_second)}


@dataclass(frozen=True)
class PriceTable:
    """Rules per resolution, with optional per-engine rules over them."""

    default: Mapping[str, PriceRule]
    engines: Mapping[str, Mapping[str, PriceRule]] = field(default_factory=dict)
    extend: Mapping[str, PriceRule] = field(default_factory=dict)  # per resolution, seconds added
    edit: Mapping[str, int] = field(default_factory=dict)  # per resolution, credits per clip

    def rule_for(self, resolution: str, engine: str | None) -> PriceRule:
        """The engine's own rule for ``resolution`` if it has one, else the default rule."""
        own = self.engines.get(engine or "", {})
        rule = own.get(resolution) or self.default.get(resolution)
        if rule is None:
            raise NoPriceError(f"no price for {resolution}")
        return rule

    def price_per_video(self, resolution: str, seconds: int, engine: str | None = None) -> int:
        """Credits for one video of ``seconds`` at ``resolution`` on ``engine``."""
        return self.rule_for(resolution, engine).credits_for(seconds)

    def extend_price(self, resolution: str, seconds: int, engine: str | None = None) -> int:
        """Credits for extending a video by ``seconds`` at ``resolution``."""
        rule = self.extend.get(resolution) or self.rule_for(resolution, engine)
        return rule.credits_for(seconds)

    def edit_price(self, resolution: str, engine: str | None = None) -> int:
        """Credits for editing one clip at ``resolution``."""
        if resolution in self.edit:
            return self.edit[resolution]
        return self.rule_for(resolution, engine).credits_for(DEFAULT_SECONDS)

    def operation_rules(self, engine: str | None) -> dict[str, Any]:
        """How extend and edit are priced on ``engine``, per resolution, as shown to callers."""
        return {
            "extend": {
                name: (self.extend.get(name) or self.rule_for(name, engine)).describe()
                for name in self.default
            },
            "edit": {name: self._edit_or_none(name, engine) for name in self.default},
        }

    def _edit_or_none(self, resolution: str, engine: str | None) -> int | None:
        # Shown, not charged: a gap the engines never reach (start-up checks those) is null.
        try:
            return self.edit_price(resolution, engine)
        except NoPriceError:
            return None

    def rules_for_engine(self, engine: str | None) -> dict[str, dict[str, Any]]:
        """The rule of each resolution that applies on ``engine``, described."""
        return {name: self.rule_for(name, engine).describe() for name in self.default}

    def describe(self) -> dict[str, Any]:
        """The whole table in the form it is configured in."""
        described: dict[str, Any] = {
            "default": {name: rule.describe() for name, rule in self.default.items()},
            "engines": {
                engine: {name: rule.describe() for name, rule in rules.items()}
                for engine, rules in self.engines.items()
            },
        }
        if self.extend:
            described["extend"] = {name: rule.describe() for name, rule in self.extend.items()}
        if self.edit:
            described["edit"] = dict(self.edit)
        return described


@dataclass(frozen=True)
class PriceQuery:
    """What a price depends on: resolution, seconds, videos, the engine first in the route."""

    resolution: str
    seconds: int
    videos: int = 1
    engine: str | None = None


def price_of(table: PriceTable, query: PriceQuery) -> int:
    """Credits a task of ``query`` costs under ``table``: ``videos`` times one video's price
    (what a test key is charged is ``domain/billing/quotes.py``'s rule).

    Raises :class:`NoPriceError` when the table has no price for the request.
    """
    per_video = table.price_per_video(query.resolution, query.seconds, query.engine)
    return per_video * query.videos


# The reference page's figure: the default request (480p, 6 s) costs exactly 40 credits. 720p
# costs 1.5 times as much per second, like a provider's price per second at 720p (0.07 against
# 0.05 USD): a 10 s 720p video costs 94 credits.
DEFAULT_TABLE = PriceTable(
    default={
        "480p": PriceRule(base=4, per_second=Decimal(6)),
        "720p": PriceRule(base=4, per_second=Decimal(9)),
    }
)


@functools.lru_cache(maxsize=8)
def _cached_table(source: str | None) -> PriceTable:
    try:
        return load_price_table(source)
    except PriceTableError as exc:
        raise PriceTableError(f"GROKIMAGINE_PRICING_TABLE: {exc}") from None


def price_table(settings: Settings) -> PriceTable:
    """The table in force under ``settings`` (read once per source); a bad one raises
    :class:`PriceTableError` naming the variable and the entry."""
    return _cached_table(settings.pricing.table)


def load_price_table(source: str | None) -> PriceTable:
    """The table from a setting: ``None``/empty (the default), JSON text, or a JSON/TOML file."""
    raw = read_price_table_source(source)
    return DEFAULT_TABLE if raw is None else parse_price_table(raw)


def read_price_table_source(source: str | None) -> Any:
    """The decoded table a setting names (JSON text, or a JSON/TOML file), not yet validated;
    ``None`` for the default."""
    if source is None or not source.strip():
        return None
    text = source.strip()
    if text.startswith("{"):
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as exc:
            # ValueError: JSONDecodeError, or an integer past Python's digit limit.
            raise PriceTableError(f"not valid JSON: {exc}") from None
    path = Path(text)
    try:
        content = path.read_text()
    except OSError as exc:
        raise PriceTableError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(content) if path.suffix == ".toml" else json.loads(content)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise PriceTableError(f"{path}: {exc}") from None


def parse_price_table(raw: Any) -> PriceTable:
    """Validate a decoded table; errors name the entry (``engines.xai.720p.per_second``)."""
    if not isinstance(raw, dict):
        raise PriceTableError("the table must be an object with 'default' (and 'engines')")
    unknown = set(raw) - {"default", "engines", "extend", "edit"}
    if unknown:
        raise PriceTableError(
            f"unknown key {sorted(unknown)[0]!r}: expected default, engines, extend, edit"
        )
    if "default" not in raw:
        raise PriceTableError("default: missing (rules per resolution)")
    default = _parse_rules(raw["default"], "default")
    missing = [name for name in RESOLUTIONS if name not in default]
    if missing:
        raise PriceTableError(f"default: no rule for {missing[0]} (every resolution needs one)")
    engines_raw = raw.get("engines", {})
    if not isinstance(engines_raw, dict):
        raise PriceTableError("engines: must be an object of engine name -> rules")
    engines = {
        str(engine): _parse_rules(rules, f"engines.{engine}")
        for engine, rules in engines_raw.items()
    }
    extend = _parse_rules(raw.get("extend", {}), "extend")
    edit_raw = raw.get("edit", {})
    if not isinstance(edit_raw, dict):
        raise PriceTableError("edit: must be an object of resolution -> credits per clip")
    edit = {}
    for resolution, credits in edit_raw.items():
        if resolution not in RESOLUTIONS:
            raise PriceTableError(
                f"edit.{resolution}: unknown resolution; known: {', '.join(RESOLUTIONS)}"
            )
        edit[resolution] = _whole(credits, f"edit.{resolution}")
    return PriceTable(default=default, engines=engines, extend=extend, edit=edit)


def _parse_rules(raw: Any, where: str) -> dict[str, PriceRule]:
    if not isinstance(raw, dict):
        raise PriceTableError(f"{where}: must be an object of resolution -> rule")
    rules = {}
    for resolution, rule in raw.items():
        if resolution not in RESOLUTIONS:
            raise PriceTableError(
                f"{where}.{resolution}: unknown resolution; known: {', '.join(RESOLUTIONS)}"
            )
        rules[resolution] = _parse_rule(rule, f"{where}.{resolution}")
    return rules


def _parse_rule(raw: Any, where: str) -> PriceRule:
    if not isinstance(raw, dict):
        raise PriceTableError(f"{where}: must be an object (base/per_second, or tiers)")
    unknown = set(raw) - {"base", "per_second", "tiers"}
    if unknown:
        raise PriceTableError(f"{where}.{sorted(unknown)[0]}: unknown key")
    if "tiers" in raw:
        if "base" in raw or "per_second" in raw:
            raise PriceTableError(f"{where}: give either tiers or base/per_second, not both")
        return PriceRule(tiers=_parse_tiers(raw["tiers"], f"{where}.tiers"))
    if "per_second" not in raw:
        raise PriceTableError(f"{where}.per_second: missing")
    base = _whole(raw.get("base", 0), f"{where}.base")
    per_second = _decimal(raw["per_second"], f"{where}.per_second")
    rule = PriceRule(base=base, per_second=per_second)
    if rule.credits_for(60) > MAX_CREDITS_PER_VIDEO:
        raise PriceTableError(f"{where}: over {MAX_CREDITS_PER_VIDEO} credits a video")
    return rule


def _parse_tiers(raw: Any, where: str) -> tuple[tuple[int, int], ...]:
    if not isinstance(raw, dict) or not raw:
        raise PriceTableError(f"{where}: must be a non-empty object of seconds -> credits")
    tiers = []
    for seconds, credits in raw.items():
        # ASCII digits only: int() would take "٦", " 6" and "1_0" too.
        if not isinstance(seconds, str) or not _SECONDS.match(seconds):
            raise PriceTableError(f"{where}.{seconds}: seconds must be a whole number")
        longest = int(seconds)
        if not 1 <= longest <= MAX_TIER_SECONDS:
            raise PriceTableError(
                f"{where}.{seconds}: seconds must be from 1 to {MAX_TIER_SECONDS}"
            )
        tiers.append((longest, _whole(credits, f"{where}.{seconds}")))
    tiers.sort()
    return tuple(tiers)


def _whole(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PriceTableError(f"{where}: must be a whole number of credits, not {value!r}")
    if not 0 <= value <= MAX_CREDITS_PER_VIDEO:
        raise PriceTableError(f"{where}: must be between 0 and {MAX_CREDITS_PER_VIDEO}")
    return value


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PriceTableError(f"{where}: must be a number, not {value!r}")
    try:
        # Through str: 6.1 as a float would otherwise become 6.0999999...
        number = Decimal(str(value))
    except InvalidOperation:
        raise PriceTableError(f"{where}: must be a number, not {value!r}") from None
    # Bounded before any arithmetic: 1e999999 times 60 overflows the decimal context.
    if not number.is_finite() or not 0 <= number <= MAX_CREDITS_PER_VIDEO:
        raise PriceTableError(f"{where}: must be a number from 0 to {MAX_CREDITS_PER_VIDEO}")
    return number


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)
