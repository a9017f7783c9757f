"""Quotes: what a task is charged, computed once and stored on the task.

Every price a customer pays or is told comes from here, under the operator's table, and the
rule that test keys (``gi_test_``) are never charged lives here alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grokimagine.domain.billing.price_table import PriceQuery, PriceTable


@dataclass(frozen=True)
class Quote:
    """What a task would cost: ``price`` is what is charged (0 on a test key)."""

    price: int
    per_video: int
    videos: int
    seconds: int
    resolution: str
    charged: bool

    def describe(self) -> dict[str, Any]:
        """As ``POST /v1/quote`` answers it."""
        return {
            "price": self.price,
            "credits_per_video": self.per_video,
            "n": self.videos,
            "duration": self.seconds,
            "resolution": self.resolution,
            "charged": self.charged,
        }


def quote(live: bool, per_video: int, videos: int, seconds: int, resolution: str) -> Quote:
    """The quote of ``videos`` clips at ``per_video`` credits each, for a live key (``live``)
    or a test key, which is never charged."""
    return Quote(
        price=per_video * videos if live else 0,
        per_video=per_video,
        videos=videos,
        seconds=seconds,
        resolution=resolution,
        charged=live,
    )


def quote_generation_price(prices: PriceTable, live: bool, query: PriceQuery) -> Quote:
    """The quote of a generation under ``prices`` (the rule of ``query.engine``, if any).

    Raises :class:`~grokimagine.domain.billing.price_table.NoPriceError` when the table has none.
    """
    per_video = prices.price_per_video(query.resolution, query.seconds, query.engine)
    return quote(live, per_video, query.videos, query.seconds, query.resolution)


@dataclass(frozen=True)
class Estimate:
    """What ``POST /v1/quote`` answers: the price, and whether the balance covers it now."""

    quote: Quote
    balance: int

    def describe(self) -> dict[str, Any]:
        """As JSON."""
        return {
            **self.quote.describe(),
            "balance": self.balance,
            "affordable": self.balance >= self.quote.price,
        }
