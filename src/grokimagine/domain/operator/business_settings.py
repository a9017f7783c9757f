"""The operator's business settings, checked before anything serves: the price table and plans."""

from __future__ import annotations

from grokimagine.domain.billing.plans import plan_catalog
from grokimagine.domain.billing.price_coverage import check_price_coverage
from grokimagine.domain.billing.price_table import price_table
from grokimagine.engines.registry import engine_spec
from grokimagine.settings import Settings


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
