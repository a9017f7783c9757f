"""What extend and edit cost and offer: their prices from the operator's table, and what
``GET /v1/pricing`` shows of them per mode."""

from __future__ import annotations

from typing import Any

from grokimagine.domain.billing.price_table import price_table
from grokimagine.engines.capabilities import Capabilities
from grokimagine.settings import Settings
from grokimagine.vocabulary import VideoSize

EXTEND, EDIT = "extend", "edit"


def price_resolution(size: VideoSize) -> str:
    """The price table's resolution of a result of ``size`` (its short side's tier)."""
    return "720p" if min(size.width, size.height) >= 720 else "480p"


def operation_price(
    settings: Settings, operation: str, size: VideoSize, seconds: int, engine: str | None
) -> int:
    """Credits an extend by ``seconds`` or an edit of one clip costs at ``size`` on ``engine``.

    Raises :class:`~grokimagine.domain.billing.price_table.NoPriceError` when the table has
    no price.
    """
    table = price_table(settings)
    resolution = price_resolution(size)
    if operation == EXTEND:
        return table.extend_price(resolution, seconds, engine)
    return table.edit_price(resolution, engine)


def operation_offers(
    settings: Settings, capabilities: Capabilities, engine: str | None
) -> dict[str, Any]:
    """What ``GET /v1/pricing`` shows of extend and edit for one mode (``None``: not offered)."""
    max_seconds = settings.limits.max_video_seconds
    rules = price_table(settings).operation_rules(engine)
    offers: dict[str, Any] = {"operations": list(capabilities.operations), EXTEND: None, EDIT: None}
    if capabilities.offers(EXTEND):
        low, high = capabilities.extend_source_seconds or (0.0, max_seconds)
        offers[EXTEND] = {
            "durations": list(capabilities.extend_durations),
            "source_seconds": [low, min(high, max_seconds)],
            "prices": rules[EXTEND],
        }
    if capabilities.offers(EDIT):
        longest = capabilities.edit_max_seconds or max_seconds
        offers[EDIT] = {
            "max_source_seconds": min(longest, max_seconds),
            "prices": rules[EDIT],
        }
    return offers
