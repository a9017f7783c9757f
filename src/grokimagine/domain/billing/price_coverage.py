"""Whether the price table prices every request the engines accept: checked whole at start-up.

A table can be well formed and still leave a gap: a tiered rule whose longest tier is shorter
than a duration an engine of some route accepts, or an engine's own extend rule without a tier
for one of its extend durations. Such a table would refuse (or fail) requests the engines take,
so ``serve`` refuses it at start with the gap named, rather than any customer finding it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from grokimagine.domain.billing.plans import PlanCatalog
from grokimagine.domain.billing.price_table import NoPriceError, PriceTable, PriceTableError
from grokimagine.engines.capabilities import Capabilities
from grokimagine.engines.registry import route_capabilities
from grokimagine.engines.routing import TEST_KEY_ROUTE, RoutingError, RoutingTable
from grokimagine.settings import Settings
from grokimagine.vocabulary import MODES, RESOLUTIONS


@dataclass(frozen=True)
class PricedRoute:
    """A route some task may take, where it comes from, and what its engines accept."""

    engines: tuple[str, ...]
    origin: str  # "plan pro, mode spicy" or "test keys"
    capabilities: Capabilities


def routes_in_force(settings: Settings, plans: PlanCatalog) -> list[PricedRoute]:
    """Every distinct route a task may take under ``settings`` (each plan and mode, each model
    of ``GROKIMAGINE_OPENAI_API_MODELS``, test keys).

    A malformed ``GROKIMAGINE_ROUTES`` gives none here: the engine router refuses it, named.
    """
    try:
        table = RoutingTable.parse(settings.routes, settings.engine, plans.names())
    except RoutingError:
        return []
    seen: dict[tuple[str, ...], str] = {TEST_KEY_ROUTE: "test keys"}
    for plan in plans.names():
        for mode in MODES:
            seen.setdefault(table.route(plan, mode), f"plan {plan}, mode {mode}")
    # The models of POST /v1/videos may name routes of their own.
    for model, engines in settings.openai_api.models.items():
        seen.setdefault(tuple(engines), f"model {model}")
    return [
        PricedRoute(engines, origin, route_capabilities(settings, engines))
        for engines, origin in seen.items()
    ]


def price_gaps(table: PriceTable, routes: list[PricedRoute]) -> Iterator[str]:
    """Each request some route accepts that ``table`` cannot price, as a sentence."""
    for route in routes:
        head = route.engines[0] if route.engines else None
        on = f"on {head} ({route.origin})"
        capabilities = route.capabilities
        for resolution in capabilities.resolutions:
            for seconds in capabilities.durations:
                if not _priced(table.price_per_video, resolution, seconds, head):
                    yield f"no price for a {seconds} s video at {resolution} {on}"
        # An extend's or edit's result keeps its source's size: any resolution.
        if capabilities.offers("extend"):
            for resolution in RESOLUTIONS:
                for seconds in capabilities.extend_durations:
                    if not _priced(table.extend_price, resolution, seconds, head):
                        yield f"no price for extending by {seconds} s at {resolution} {on}"
        if capabilities.offers("edit"):
            for resolution in RESOLUTIONS:
                if not _priced(table.edit_price, resolution, head):
                    yield f"no price for an edit at {resolution} {on}"


def check_price_coverage(table: PriceTable, settings: Settings, plans: PlanCatalog) -> None:
    """Raise :class:`PriceTableError` naming the first request the engines accept that the
    table cannot price."""
    for gap in price_gaps(table, routes_in_force(settings, plans)):
        raise PriceTableError(f"GROKIMAGINE_PRICING_TABLE: {gap}")


def _priced(price: Callable[..., int], *args: str | int | None) -> bool:
    try:
        price(*args)
    except NoPriceError:
        return False
    return True
