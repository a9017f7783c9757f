"""Which engines serve a task: a table of routes per plan and per mode, with fallbacks.

``GROKIMAGINE_ROUTES`` is a JSON object from route keys to engine names in the order to try::

    {"default": ["preview"], "plan:pro": ["xai", "preview"], "mode:spicy": ["diffusers"],
     "plan:enterprise+mode:fun": ["openai-videos", "xai"]}

The most specific key wins: ``plan:P+mode:M``, then ``mode:M``, then ``plan:P``, then
``default`` (which is ``[GROKIMAGINE_ENGINE]`` when absent). A task moves to the next engine of
its route only when an engine fails with ``EngineError(fallback=True)``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grokimagine.engines.base import (
    Engine,
    EngineError,
    GenerationRequest,
    GenerationResult,
    RenderControl,
    close_engine,
)
from grokimagine.engines.registry import build_engine, check_engine, engine_capabilities
from grokimagine.settings import Settings
from grokimagine.vocabulary import MODES, PLAN_NAMES

log = logging.getLogger(__name__)

_KEY = re.compile(
    r"^(?:default|plan:(?P<plan>[\w.-]+)|mode:(?P<mode>\w+)|"
    r"plan:(?P<pplan>[\w.-]+)\+mode:(?P<pmode>\w+))$"
)


MAX_ENGINE_NAME = 40
# Tasks of test keys (gi_test_) always run on the fast preview engine, whatever the routes say.
TEST_KEY_ROUTE: tuple[str, ...] = ("preview",)


class RoutingError(ValueError):
    """The routing table is malformed or names an engine that cannot run."""


@dataclass(frozen=True)
class RoutingTable:
    """Engine lists by route key, already validated."""

    default: tuple[str, ...]
    by_plan: dict[str, tuple[str, ...]] = field(default_factory=dict)
    by_mode: dict[str, tuple[str, ...]] = field(default_factory=dict)
    by_plan_mode: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def parse(
        cls,
        routes: Mapping[str, Sequence[str]],
        default_engine: str,
        plans: Collection[str] = PLAN_NAMES,
    ) -> RoutingTable:
        """Build a table from ``GROKIMAGINE_ROUTES`` for the plan names ``plans``; raise
        RoutingError on any malformed entry."""
        table = cls(default=(default_engine,))
        default = table.default
        for key, names in routes.items():
            match = _KEY.match(key)
            if match is None:
                raise RoutingError(
                    f"route key {key!r} is not default, plan:NAME, mode:NAME or plan:NAME+mode:NAME"
                )
            engines = _engine_list(key, names)
            mode = match["mode"] or match["pmode"]
            if mode is not None and mode not in MODES:
                raise RoutingError(f"route {key!r}: unknown mode {mode!r}; modes: {MODES}")
            plan = match["plan"] or match["pplan"]
            if plan is not None and plan not in plans:
                raise RoutingError(f"route {key!r}: unknown plan {plan!r}; plans: {tuple(plans)}")
            if key == "default":
                default = engines
            elif match["plan"]:
                table.by_plan[match["plan"]] = engines
            elif match["mode"]:
                table.by_mode[match["mode"]] = engines
            else:
                table.by_plan_mode[(match["pplan"], match["pmode"])] = engines
        return cls(default, table.by_plan, table.by_mode, table.by_plan_mode)

    def route(self, plan: str, mode: str) -> tuple[str, ...]:
        """The engines for a task of ``plan`` and ``mode``, most specific route first."""
        return (
            self.by_plan_mode.get((plan, mode))
            or self.by_mode.get(mode)
            or self.by_plan.get(plan)
            or self.default
        )

    def engine_names(self) -> set[str]:
        """Every engine named anywhere in the table."""
        names = set(self.default)
        for group in (self.by_plan, self.by_mode, self.by_plan_mode):
            for engines in group.values():
                names.update(engines)
        return names


def _engine_list(key: str, names: object) -> tuple[str, ...]:
    if (
        not isinstance(names, list | tuple)
        or not names
        or not all(isinstance(name, str) and name for name in names)
    ):
        raise RoutingError(f"route {key!r} must be a non-empty list of engine names")
    if len(set(names)) != len(names):
        raise RoutingError(f"route {key!r} names an engine twice: {list(names)}")
    too_long = [name for name in names if len(name) > MAX_ENGINE_NAME]
    if too_long:  # tasks store the names (tasks.engine, tasks.route_head)
        raise RoutingError(f"route {key!r}: engine names over {MAX_ENGINE_NAME} characters")
    return tuple(names)


class EngineRouter:
    """Routes tasks to engines; builds each engine once, on first use, and keeps it."""

    def __init__(
        self,
        settings: Settings,
        *,
        factory: Callable[[Settings, str], Engine] = build_engine,
        check: Callable[[Settings, str], None] = check_engine,
    ):
        self._settings = settings
        self._factory = factory
        # The default plans and the operator's (GROKIMAGINE_PLANS) may have routes.
        plans = (*PLAN_NAMES, *settings.limits.plans)
        self.table = RoutingTable.parse(settings.routes, settings.engine, plans)
        for name in sorted(self.table.engine_names()):
            try:
                check(settings, name)
            except ValueError as exc:
                raise RoutingError(f"engine {name!r} in the routes: {exc}") from exc
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    def engine_names(self) -> set[str]:
        """Every engine some task may use: the routes', and the test keys' preview engine."""
        return self.table.engine_names() | set(TEST_KEY_ROUTE)

    def route(self, plan: str, mode: str) -> list[str]:
        """Engine names to try, in order, for a task of ``plan`` and ``mode``."""
        return list(self.table.route(plan, mode))

    def engine(self, name: str) -> Engine:
        """The engine ``name``, built on first use and cached."""
        if name not in self.engine_names():
            raise RoutingError(f"engine {name!r} is in no route")
        with self._lock:
            engine = self._engines.get(name)
            if engine is None:
                engine = self._factory(self._settings, name)
                self._engines[name] = engine
            return engine

    def refusal(self, name: str, operation: str) -> EngineError | None:
        """Why ``name`` cannot do ``operation`` (extend, edit), if it cannot; else ``None``.

        Submission checked the task's route, but the routes may have changed since.
        """
        if operation == "generate" or engine_capabilities(self._settings, name).offers(operation):
            return None
        return EngineError(
            f"engine {name} cannot {operation} videos", "OPERATION_UNSUPPORTED", fallback=True
        )

    def close(self) -> None:
        """Close the engines built so far that hold resources (connection pools)."""
        with self._lock:
            engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            close_engine(engine)


def _attempt_control(control: RenderControl, floor: list[float], name: str) -> RenderControl:
    """A control for engine ``name`` sharing ``control``'s cancel flag and provider jobs, whose
    progress never goes back."""

    def report(fraction: float) -> None:
        if fraction > floor[0]:
            floor[0] = fraction
            control.report(fraction)

    return RenderControl(
        on_progress=report,
        cancel_event=control.cancel_event,
        provider_jobs=control.provider_jobs,
        on_provider_job=control.on_provider_job,
        engine_name=name,
    )


def run_with_fallback(
    router: EngineRouter,
    names: Sequence[str],
    request: GenerationRequest,
    output: Path,
    control: RenderControl,
) -> tuple[str, GenerationResult]:
    """Try the engines ``names`` (a task's route) in order; return the serving one and its result.

    Moves on only after an EngineError with ``fallback=True``; any other error, cancellation
    included, is raised at once. When every engine falls back, the last error is raised.
    """
    floor = [0.0]
    skipped: list[dict[str, str]] = []
    last_error: EngineError | None = None
    for name in names:
        control.check_canceled()
        refusal = router.refusal(name, request.operation)
        if refusal is not None:
            skipped.append({"engine": name, "code": refusal.code})
            last_error = refusal
            continue
        try:
            attempt = _attempt_control(control, floor, name)
            result = router.engine(name).generate(request, output, attempt)
        except EngineError as error:
            output.unlink(missing_ok=True)
            if not error.fallback:
                raise
            log.warning("engine %s failed (%s: %s); trying the next", name, error.code, error)
            skipped.append({"engine": name, "code": error.code})
            last_error = error
            continue
        if skipped:
            result.details["fallback_from"] = skipped
        return name, result
    if last_error is None:
        raise EngineError("the task's route names no engine", "INTERNAL_ERROR")
    raise last_error
