"""What a route offers for extend and edit is what every engine of it offers."""

from __future__ import annotations

from grokimagine.engines.capabilities import BASELINE
from grokimagine.engines.registry import route_capabilities
from grokimagine.settings import Settings

SETTINGS = Settings(xai_api_key="xai-test", diffusers_i2v_model="/models/ltx")


def test_a_route_of_xai_and_preview_takes_xais_narrower_limits() -> None:
    both = route_capabilities(SETTINGS, ["xai", "preview"])
    assert both.operations == ("generate", "extend", "edit")
    assert both.extend_durations == tuple(range(2, 11))
    assert both.extend_source_seconds == (2.0, 15.0)
    assert both.edit_max_seconds == 8.7


def test_one_engine_that_cannot_edit_takes_edit_off_the_route() -> None:
    route = route_capabilities(SETTINGS, ["preview", "diffusers"])
    assert route.operations == ("generate", "extend")
    assert not route.offers("edit") and route.offers("extend")


def test_an_engine_that_declares_nothing_only_generates() -> None:
    assert BASELINE.operations == ("generate",) and BASELINE.extend_durations == ()
    assert route_capabilities(SETTINGS, ["preview"]).intersect(BASELINE).operations == ("generate",)
