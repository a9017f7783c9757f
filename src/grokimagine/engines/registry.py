"""Every engine this build knows, as one spec each: how to build it, check it, and what it offers.

No engine is imported here at module level: an engine's module (and torch, for diffusers) is
imported only when that engine is built or its settings are checked. Plugin engines named in
``GROKIMAGINE_ENGINE_PLUGINS`` get a spec of the same shape.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from grokimagine.domain.catalog import RESOLUTIONS
from grokimagine.engines.base import Engine
from grokimagine.engines.capabilities import BASELINE, Capabilities
from grokimagine.engines.errors import EngineConfigError, UnknownEngineError
from grokimagine.settings import Settings

__all__ = [
    "EngineConfigError",
    "EngineSpec",
    "UnknownEngineError",
    "build_engine",
    "check_engine",
    "engine_capabilities",
    "engine_spec",
    "known_engines",
    "route_capabilities",
]

# Durations in whole seconds. The preview engine draws any length; ten seconds keeps it fast.
PREVIEW_DURATIONS = tuple(range(1, 11))
XAI_DURATIONS = tuple(range(1, 16))


def _no_check(settings: Settings) -> None:
    return None


def _baseline(settings: Settings) -> Capabilities:
    return BASELINE


@dataclass(frozen=True)
class EngineSpec:
    """One engine: ``build`` makes it, ``check`` vets its settings cheaply (raising
    EngineConfigError), ``capabilities`` says what requests it accepts."""

    name: str
    build: Callable[[Settings], Engine]
    check: Callable[[Settings], None] = _no_check
    capabilities: Callable[[Settings], Capabilities] = _baseline


# -- preview ---------------------------------------------------------------------------------


def _build_preview(settings: Settings) -> Engine:
    from grokimagine.engines.preview import PreviewEngine

    return PreviewEngine()


def _preview_capabilities(settings: Settings) -> Capabilities:
    return Capabilities(PREVIEW_DURATIONS, RESOLUTIONS, seed=True, negative_prompt=True)


# -- relay: xAI ------------------------------------------------------------------------------


def _build_xai(settings: Settings) -> Engine:
    from grokimagine.engines.relay.xai import XaiEngine

    return XaiEngine(settings)


def _check_xai(settings: Settings) -> None:
    from grokimagine.engines.relay.xai import check_settings

    check_settings(settings)


def _xai_capabilities(settings: Settings) -> Capabilities:
    # xAI takes a duration and a resolution but no seed or negative prompt.
    resolutions = (settings.xai.resolution,) if settings.xai.resolution else RESOLUTIONS
    return Capabilities(XAI_DURATIONS, resolutions, seed=False, negative_prompt=False)


# -- relay: OpenAI-style /v1/videos servers --------------------------------------------------


def _build_openai_videos(settings: Settings) -> Engine:
    from grokimagine.engines.relay.openai_videos import OpenAIVideosEngine

    return OpenAIVideosEngine(settings)


def _check_openai_videos(settings: Settings) -> None:
    from grokimagine.engines.relay.openai_videos import check_settings

    check_settings(settings)


def _openai_videos_capabilities(settings: Settings) -> Capabilities:
    durations = tuple(sorted(set(settings.openai_videos.seconds))) or PREVIEW_DURATIONS
    extras = settings.openai_videos.send_extras
    return Capabilities(durations, RESOLUTIONS, seed=extras, negative_prompt=extras)


# -- diffusers (open-weight models on a GPU) -------------------------------------------------


def _build_diffusers(settings: Settings) -> Engine:
    # Imports torch and diffusers (the ``gpu`` extra) only when chosen.
    from grokimagine.engines.diffusers.engine import DiffusersEngine

    return DiffusersEngine.from_settings(settings)


def _check_diffusers(settings: Settings) -> None:
    # Settings only: the weights live on the GPU machine, which may not be this one.
    if not (settings.diffusers.t2v_model or settings.diffusers.i2v_model):
        raise EngineConfigError(
            "the diffusers engine needs GROKIMAGINE_DIFFUSERS_T2V_MODEL "
            "and/or GROKIMAGINE_DIFFUSERS_I2V_MODEL"
        )


def _diffusers_capabilities(settings: Settings) -> Capabilities:
    largest = int(settings.diffusers.max_resolution.removesuffix("p"))
    tiers = tuple(r for r in RESOLUTIONS if int(r.removesuffix("p")) <= largest)
    return Capabilities(PREVIEW_DURATIONS, tiers, seed=True, negative_prompt=True)


SPECS: dict[str, EngineSpec] = {
    spec.name: spec
    for spec in (
        EngineSpec("preview", _build_preview, capabilities=_preview_capabilities),
        EngineSpec("xai", _build_xai, _check_xai, _xai_capabilities),
        EngineSpec(
            "openai-videos", _build_openai_videos, _check_openai_videos, _openai_videos_capabilities
        ),
        EngineSpec("diffusers", _build_diffusers, _check_diffusers, _diffusers_capabilities),
    )
}


def known_engines() -> frozenset[str]:
    """Names of every built-in engine."""
    return frozenset(SPECS)


# -- plugins ---------------------------------------------------------------------------------


def _plugin_spec(settings: Settings, name: str) -> EngineSpec:
    """The spec of a plugin engine named in ``GROKIMAGINE_ENGINE_PLUGINS`` ("module:attr").

    The target is an :class:`EngineSpec`, or a factory ``factory(settings) -> engine``; a factory
    may carry ``capabilities(settings) -> Capabilities`` as an attribute (else: the baseline).
    """
    target = settings.engine_plugins[name]
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise EngineConfigError(f"engine plugin {name!r}: {target!r} is not 'module:factory'")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise EngineConfigError(f"engine plugin {name!r}: cannot load {target!r}: {exc}") from exc
    if isinstance(found, EngineSpec):
        return EngineSpec(name, found.build, found.check, found.capabilities)
    if not callable(found):
        raise EngineConfigError(f"engine plugin {name!r}: {target!r} is not callable")
    declared = getattr(found, "capabilities", None)
    capabilities = declared if callable(declared) else _baseline
    return EngineSpec(name, found, capabilities=capabilities)


def engine_spec(settings: Settings, name: str) -> EngineSpec:
    """The spec of ``name`` (built-in or plugin); raise UnknownEngineError or EngineConfigError."""
    if name in settings.engine_plugins:
        if name in SPECS:
            raise EngineConfigError(f"engine plugin {name!r} would hide the built-in engine")
        return _plugin_spec(settings, name)
    spec = SPECS.get(name)
    if spec is None:
        known = ", ".join(sorted(SPECS))
        raise UnknownEngineError(f"unknown engine {name!r}; known: {known}")
    return spec


def check_engine(settings: Settings, name: str) -> None:
    """Raise UnknownEngineError or EngineConfigError unless ``name`` can be built from settings."""
    engine_spec(settings, name).check(settings)


def build_engine(settings: Settings, name: str | None = None) -> Engine:
    """Return a ready engine for ``name`` (default: ``settings.engine``)."""
    spec = engine_spec(settings, name or settings.engine)
    spec.check(settings)
    return spec.build(settings)


def engine_capabilities(settings: Settings, name: str) -> Capabilities:
    """What the engine ``name`` accepts under ``settings`` (an unknown one: the baseline)."""
    try:
        spec = engine_spec(settings, name)
    except ValueError:
        return BASELINE
    return spec.capabilities(settings)


def route_capabilities(settings: Settings, names: Iterable[str]) -> Capabilities:
    """What every engine of a route accepts (an empty route: the baseline)."""
    combined: Capabilities | None = None
    for name in names:
        own = engine_capabilities(settings, name)
        combined = own if combined is None else combined.intersect(own)
    return combined or BASELINE
