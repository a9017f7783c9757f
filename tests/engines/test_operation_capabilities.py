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


def test_the_worker_skips_an_engine_that_cannot_extend_when_the_routes_changed(tmp_path) -> None:
    from grokimagine.engines.base import (
        EngineError,
        GenerationRequest,
        GenerationResult,
        InputVideo,
        RenderControl,
    )
    from grokimagine.engines.routing import EngineRouter, run_with_fallback

    ran: list[str] = []

    class Recording:
        def __init__(self, name: str) -> None:
            self.name = name

        def generate(self, request, output, control) -> GenerationResult:
            ran.append(self.name)
            return GenerationResult()

    settings = Settings(
        engine_plugins={"plain": "tests.http.v1.test_video_operations:plain_engine"},
        routes={"default": ["plain", "preview"]},
    )
    router = EngineRouter(settings, factory=lambda _s, name: Recording(name))
    source = InputVideo(b"", "video/mp4", 1.0, 64, 64)
    request = GenerationRequest("p", "normal", "1:1", 64, 64, 24, 24, 1, operation="extend",
                                source=source)  # fmt: skip
    name, result = run_with_fallback(router, ["plain", "preview"], request, tmp_path / "o.mp4",
                                     RenderControl())  # fmt: skip
    assert (name, ran) == ("preview", ["preview"])
    assert result.details["fallback_from"] == [{"engine": "plain", "code": "OPERATION_UNSUPPORTED"}]
    import pytest

    with pytest.raises(EngineError) as raised:
        run_with_fallback(router, ["plain"], request, tmp_path / "o.mp4", RenderControl())
    assert raised.value.code == "OPERATION_UNSUPPORTED"
