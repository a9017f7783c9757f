"""Routing: which engines serve a task per plan and mode, validation, and fallback."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from pydantic import ValidationError

from grokimagine.engines.base import (
    Engine,
    EngineError,
    GenerationCanceled,
    GenerationRequest,
    GenerationResult,
    RenderControl,
)
from grokimagine.engines.encoding import encode_mp4
from grokimagine.engines.registry import build_engine, check_engine
from grokimagine.engines.relay.errors import CONTENT_REJECTED, PROVIDER_UNAVAILABLE
from grokimagine.engines.routing import EngineRouter, RoutingError, RoutingTable, run_with_fallback
from grokimagine.settings import Settings

from .fake_xai import FakeXai, XaiScenario
from .helpers import fast_settings, make_request, probe_mp4

LOCAL_NAMES = {"local", "local2", "broken"}


class LocalEngine:
    """A real (tiny) engine: renders grey frames with our encoder."""

    name: ClassVar[str] = "local"

    def __init__(self, fail_with: EngineError | None = None):
        self.fail_with = fail_with
        self.calls = 0

    def generate(
        self, request: GenerationRequest, output: Path, control: RenderControl
    ) -> GenerationResult:
        self.calls += 1
        control.check_canceled()
        control.report(0.3)
        if self.fail_with is not None:
            output.write_bytes(b"half-written")
            raise self.fail_with
        frames = [np.full((32, 48, 3), 128, dtype=np.uint8)] * 4
        encode_mp4(frames, output, width=48, height=32, fps=8)
        control.report(1.0)
        return GenerationResult(details={"engine": "local"})


def _check(settings: Settings, name: str) -> None:
    if name not in LOCAL_NAMES:
        check_engine(settings, name)


def make_router(settings: Settings, engines: dict[str, Engine] | None = None) -> EngineRouter:
    engines = engines if engines is not None else {}

    def factory(settings: Settings, name: str) -> Engine:
        if name in LOCAL_NAMES:
            return engines.setdefault(name, LocalEngine())
        return build_engine(settings, name)

    return EngineRouter(settings, factory=factory, check=_check)


ROUTES = {
    "default": ["local"],
    "plan:pro": ["xai", "local"],
    "mode:spicy": ["local2"],
    "plan:pro+mode:fun": ["local2", "local"],
}


def test_most_specific_route_wins() -> None:
    table = RoutingTable.parse(ROUTES, "preview")
    assert table.route("free", "normal") == ("local",)
    assert table.route("pro", "normal") == ("xai", "local")
    assert table.route("pro", "spicy") == ("local2",)  # mode beats plan
    assert table.route("free", "spicy") == ("local2",)
    assert table.route("pro", "fun") == ("local2", "local")  # plan+mode beats both
    assert table.engine_names() == {"local", "local2", "xai"}


def test_without_routes_the_configured_engine_serves_everything() -> None:
    table = RoutingTable.parse({}, "xai")
    assert table.route("pro", "spicy") == ("xai",)
    assert RoutingTable.parse({"plan:pro": ["local"]}, "xai").route("free", "fun") == ("xai",)


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        ({"plan:pro": ["xia"]}, "unknown engine 'xia'"),
        ({"tier:pro": ["local"]}, "route key 'tier:pro'"),
        ({"mode:silly": ["local"]}, "unknown mode 'silly'"),
        ({"plan:por": ["local"]}, "unknown plan 'por'"),
        ({"plan:gold+mode:fun": ["local"]}, "unknown plan 'gold'"),
        ({"plan:pro": []}, "non-empty list"),
        ({"plan:pro": ["local", "local"]}, "twice"),
    ],
)
def test_bad_routes_fail_at_start_up_with_a_clear_message(
    routes: dict[str, Any], message: str
) -> None:
    with pytest.raises(RoutingError, match=message):
        make_router(fast_settings(routes=routes))


def test_a_route_that_is_not_a_list_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(routes={"plan:pro": "local"})
    with pytest.raises(RoutingError, match="non-empty list"):
        RoutingTable.parse({"plan:pro": "local"}, "preview")  # type: ignore[dict-item]


def test_a_routed_relay_engine_without_its_key_fails_at_start_up() -> None:
    with pytest.raises(RoutingError, match="GROKIMAGINE_XAI_API_KEY"):
        make_router(fast_settings(routes={"plan:pro": ["xai", "local"]}))


def test_routes_come_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROKIMAGINE_ROUTES", '{"default": ["local"], "mode:spicy": ["local2"]}')
    router = make_router(Settings())
    assert router.route("free", "spicy") == ["local2"]
    assert router.engine_names() == {"local", "local2", "preview"}  # preview: test keys


def test_engines_are_built_once() -> None:
    built: list[str] = []

    def factory(settings: Settings, name: str) -> Engine:
        built.append(name)
        return LocalEngine()

    router = EngineRouter(
        fast_settings(routes={"default": ["local"]}), factory=factory, check=_check
    )
    assert router.engine("local") is router.engine("local")
    assert built == ["local"]
    with pytest.raises(RoutingError):
        router.engine("local2")
    router.close()
    router.engine("local")
    assert built == ["local", "local"]  # closed engines are forgotten, then built afresh


def test_per_plan_and_per_mode_routing_choose_the_serving_engine(tmp_path: Path) -> None:
    engines: dict[str, Engine] = {}
    router = make_router(
        fast_settings(routes={"default": ["local"], "mode:spicy": ["local2"]}), engines
    )
    name, _ = run_with_fallback(
        router, router.route("free", "spicy"), make_request(), tmp_path / "a.mp4", RenderControl()
    )
    assert name == "local2"
    name, _ = run_with_fallback(
        router, router.route("free", "normal"), make_request(), tmp_path / "b.mp4", RenderControl()
    )
    assert name == "local"
    assert probe_mp4(tmp_path / "b.mp4")[1] == 4


def test_fallback_moves_on_after_a_fallback_error_and_cleans_the_output(tmp_path: Path) -> None:
    down = LocalEngine(EngineError("provider down", PROVIDER_UNAVAILABLE, fallback=True))
    engines: dict[str, Engine] = {"broken": down}
    router = make_router(fast_settings(routes={"default": ["broken", "local"]}), engines)
    reported: list[float] = []

    name, result = run_with_fallback(
        router,
        router.route("free", "normal"),
        make_request(),
        tmp_path / "v.mp4",
        RenderControl(reported.append),
    )

    assert name == "local"
    assert result.details["fallback_from"] == [{"engine": "broken", "code": PROVIDER_UNAVAILABLE}]
    assert probe_mp4(tmp_path / "v.mp4")[1] == 4
    assert reported == sorted(reported)  # progress never goes back across engines


def test_no_fallback_after_a_content_refusal(tmp_path: Path) -> None:
    refusing = LocalEngine(EngineError("refused", CONTENT_REJECTED, fallback=False))
    engines: dict[str, Engine] = {"broken": refusing}
    router = make_router(fast_settings(routes={"default": ["broken", "local"]}), engines)

    with pytest.raises(EngineError) as raised:
        run_with_fallback(
            router,
            router.route("free", "normal"),
            make_request(),
            tmp_path / "v.mp4",
            RenderControl(),
        )

    assert raised.value.code == CONTENT_REJECTED
    assert "local" not in engines  # the next engine was never even built
    assert not (tmp_path / "v.mp4").exists()


def test_when_every_engine_falls_back_the_last_error_is_raised(tmp_path: Path) -> None:
    engines: dict[str, Engine] = {
        "broken": LocalEngine(EngineError("a", PROVIDER_UNAVAILABLE, fallback=True)),
        "local2": LocalEngine(EngineError("b", "PROVIDER_BUSY", fallback=True)),
    }
    router = make_router(fast_settings(routes={"default": ["broken", "local2"]}), engines)
    with pytest.raises(EngineError) as raised:
        run_with_fallback(
            router,
            router.route("free", "normal"),
            make_request(),
            tmp_path / "v.mp4",
            RenderControl(),
        )
    assert raised.value.code == "PROVIDER_BUSY"


def test_cancellation_is_not_a_reason_to_fall_back(tmp_path: Path) -> None:
    engines: dict[str, Engine] = {}
    router = make_router(fast_settings(routes={"default": ["local", "local2"]}), engines)
    control = RenderControl()
    control.cancel_event.set()
    with pytest.raises(GenerationCanceled):
        run_with_fallback(
            router, router.route("free", "normal"), make_request(), tmp_path / "v.mp4", control
        )
    assert "local2" not in engines


def test_pro_plan_falls_back_from_xai_when_it_is_down(
    xai: FakeXai, xai_settings, tmp_path: Path
) -> None:
    xai.reset(XaiScenario(create_status=503))
    settings = xai_settings(routes=ROUTES, relay_retries=1)
    engines: dict[str, Engine] = {}
    router = make_router(settings, engines)

    name, result = run_with_fallback(
        router, router.route("pro", "normal"), make_request(), tmp_path / "v.mp4", RenderControl()
    )

    assert name == "local"
    assert result.details["fallback_from"] == [{"engine": "xai", "code": PROVIDER_UNAVAILABLE}]
    assert xai.calls == ["create"]
    assert probe_mp4(tmp_path / "v.mp4")[1] == 4


def test_pro_plan_is_served_by_xai_when_it_is_up(
    xai: FakeXai, xai_settings, tmp_path: Path
) -> None:
    engines: dict[str, Engine] = {}
    router = make_router(xai_settings(routes=ROUTES), engines)

    name, result = run_with_fallback(
        router, router.route("pro", "normal"), make_request(), tmp_path / "v.mp4", RenderControl()
    )

    assert name == "xai"
    assert result.provider_task_id in xai.jobs
    assert "local" not in engines
    assert probe_mp4(tmp_path / "v.mp4") == ("h264", 12)


def test_pro_plan_does_not_fall_back_when_xai_refuses_the_content(
    xai: FakeXai, xai_settings, tmp_path: Path
) -> None:
    xai.reset(XaiScenario(outcome="moderated"))
    engines: dict[str, Engine] = {}
    router = make_router(xai_settings(routes=ROUTES), engines)

    with pytest.raises(EngineError) as raised:
        run_with_fallback(
            router,
            router.route("pro", "normal"),
            make_request(),
            tmp_path / "v.mp4",
            RenderControl(),
        )

    assert raised.value.code == CONTENT_REJECTED
    assert "local" not in engines
