"""Every engine this build knows, as one spec each: how to build it, check it, and what it offers.

No engine is imported here at module level: an engine's module (and torch, for diffusers) is
imported only when that engine is built or its settings are checked. Plugin engines named in
``GROKIMAGINE_ENGINE_PLUGINS`` get a spec of the same shape.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from grokimagine.engines.base import Engine
from grokimagine.engines.capabilities import BASELINE, Capabilities
from grokimagine.engines.errors import EngineConfigError, UnknownEngineError
from grokimagine.settings import Settings
from grokimagine.vocabulary import RATIOS, RESOLUTIONS, WIDE_RATIOS

__all__ = [
    "EngineConfigError",
    "EngineSpec",
    "UnknownEngineError",
    "build_engine",
    "check_engine",
    "engine_capabilities",
    "engine_concurrency",
    "engine_spec",
    "known_engines",
    "route_capabilities",
]

# Durations in whole seconds. The preview engine draws any length; ten seconds keeps it fast.
PREVIEW_DURATIONS = tuple(range(1, 11))
XAI_DURATIONS = tuple(range(1, 16))
XAI_MAX_IMAGES = 7  # xAI's reference-to-video takes 1-7 reference_images
# xAI's video extensions: 2-10 s more, of a source of 2-15 s; its edits take up to 8.7 s.
XAI_EXTEND_DURATIONS = tuple(range(2, 11))
XAI_EXTEND_SOURCE_SECONDS = (2.0, 15.0)
XAI_EDIT_MAX_SECONDS = 8.7
ALL_OPERATIONS = ("generate", "extend", "edit")


def _no_check(settings: Settings) -> None:
    return None


def _baseline(settings: Settings) -> Capabilities:
    return BASELINE


def _one_at_a_time(settings: Settings) -> int:
    return 1


def cpu_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class EngineSpec:
    """One engine: ``build`` makes it, ``check`` vets its settings cheaply (raising
    EngineConfigError), ``capabilities`` says what requests it accepts, ``concurrency`` how
    many tasks one worker may run on it at once (the engine must be thread-safe for more than
    one)."""

    name: str
    build: Callable[[Settings], Engine]
    check: Callable[[Settings], None] = _no_check
    capabilities: Callable[[Settings], Capabilities] = _baseline
    concurrency: Callable[[Settings], int] = _one_at_a_time


# -- preview ---------------------------------------------------------------------------------


def _build_preview(settings: Settings) -> Engine:
    from grokimagine.engines.preview.engine import PreviewEngine

    return PreviewEngine()


def _preview_capabilities(settings: Settings) -> Capabilities:
    return Capabilities(
        PREVIEW_DURATIONS,
        RESOLUTIONS,
        seed=True,
        negative_prompt=True,
        operations=ALL_OPERATIONS,
        extend_durations=PREVIEW_DURATIONS,
        ratios=RATIOS + WIDE_RATIOS,  # it draws any size
    )


def _preview_concurrency(settings: Settings) -> int:
    # One render per core: each encodes on one thread.
    return settings.preview_concurrency or cpu_cores()


def _relay_concurrency(settings: Settings) -> int:
    # A relay task mostly waits on its provider: as many as the provider key's cap.
    return settings.relay.max_concurrency


# -- relay: xAI ------------------------------------------------------------------------------


def _build_xai(settings: Settings) -> Engine:
    from grokimagine.engines.relay.xai import XaiEngine

    return XaiEngine(settings)


def _check_xai(settings: Settings) -> None:
    from grokimagine.engines.relay.xai import check_settings

    check_settings(settings)


def _xai_capabilities(settings: Settings) -> Capabilities:
    # xAI takes a duration and a resolution but no seed or negative prompt.
    # One image is animated (xAI's image input); 2-7 go as reference_images.
    resolutions = (settings.xai.resolution,) if settings.xai.resolution else RESOLUTIONS
    return Capabilities(
        XAI_DURATIONS,
        resolutions,
        seed=False,
        negative_prompt=False,
        max_images=XAI_MAX_IMAGES,
        operations=ALL_OPERATIONS,
        extend_durations=XAI_EXTEND_DURATIONS,
        extend_source_seconds=XAI_EXTEND_SOURCE_SECONDS,
        edit_max_seconds=XAI_EDIT_MAX_SECONDS,
        ratios=RATIOS + WIDE_RATIOS,  # xAI's aspect_ratio takes 16:9 and 9:16 too
    )


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
    # /v1/videos takes one input_reference image.
    return Capabilities(durations, RESOLUTIONS, seed=extras, negative_prompt=extras, max_images=1)


# -- GPU fleets: SGLang Diffusion and vLLM-Omni servers (docs/gpu-fleet.md) -----------------


def _build_sglang(settings: Settings) -> Engine:
    from grokimagine.engines.relay.fleet_engine import SglangEngine

    return SglangEngine(settings)


def _build_vllm_omni(settings: Settings) -> Engine:
    from grokimagine.engines.relay.fleet_engine import VllmOmniEngine

    return VllmOmniEngine(settings)


def _fleet_check(engine: str) -> Callable[[Settings], None]:
    def check(settings: Settings) -> None:
        from grokimagine.engines.relay.fleet_engine import check_fleet_settings

        check_fleet_settings(settings, engine)

    return check


def _fleet_capabilities(group_name: str) -> Callable[[Settings], Capabilities]:
    def capabilities(settings: Settings) -> Capabilities:
        group = getattr(settings, group_name)
        durations = tuple(sorted(set(group.durations))) or PREVIEW_DURATIONS
        # Both servers take seed and negative_prompt, and one input image when the served
        # model is an image-to-video one.
        images = 1 if group.image_to_video else 0
        return Capabilities(
            durations, RESOLUTIONS, seed=True, negative_prompt=True, max_images=images
        )

    return capabilities


def _fleet_concurrency(group_name: str) -> Callable[[Settings], int]:
    def concurrency(settings: Settings) -> int:
        # Every job slot of every node: the pool hands each task to a node with a free one.
        return max(1, sum(node.concurrency for node in getattr(settings, group_name).nodes))

    return concurrency


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
    # From the settings alone: an image-to-video model (Wan or LTX) continues a video from its
    # last frame(s); an edit model (Wan VACE) edits one.
    operations = ("generate",)
    if settings.diffusers.i2v_model:
        operations += ("extend",)
    if settings.diffusers.edit_model:
        operations += ("edit",)
    return Capabilities(
        PREVIEW_DURATIONS,
        tiers,
        seed=True,
        negative_prompt=True,
        operations=operations,
        extend_durations=PREVIEW_DURATIONS if settings.diffusers.i2v_model else (),
    )


SPECS: dict[str, EngineSpec] = {
    spec.name: spec
    for spec in (
        EngineSpec(
            "preview",
            _build_preview,
            capabilities=_preview_capabilities,
            concurrency=_preview_concurrency,
        ),
        EngineSpec("xai", _build_xai, _check_xai, _xai_capabilities, _relay_concurrency),
        EngineSpec(
            "openai-videos",
            _build_openai_videos,
            _check_openai_videos,
            _openai_videos_capabilities,
            _relay_concurrency,
        ),
        EngineSpec(
            "sglang",
            _build_sglang,
            _fleet_check("sglang"),
            _fleet_capabilities("sglang"),
            _fleet_concurrency("sglang"),
        ),
        EngineSpec(
            "vllm-omni",
            _build_vllm_omni,
            _fleet_check("vllm-omni"),
            _fleet_capabilities("vllm_omni"),
            _fleet_concurrency("vllm_omni"),
        ),
        # One pipeline on one GPU renders one video at a time; run a worker per GPU.
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
    may carry ``capabilities(settings) -> Capabilities`` and ``concurrency(settings) -> int`` as
    attributes (else: the baseline, and one task at a time).
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
        return replace(found, name=name)
    if not callable(found):
        raise EngineConfigError(f"engine plugin {name!r}: {target!r} is not callable")
    capabilities = getattr(found, "capabilities", None)
    concurrency = getattr(found, "concurrency", None)
    return EngineSpec(
        name,
        found,
        capabilities=capabilities if callable(capabilities) else _baseline,
        concurrency=concurrency if callable(concurrency) else _one_at_a_time,
    )


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


def engine_concurrency(settings: Settings, name: str) -> int:
    """How many tasks one worker runs on engine ``name`` at once (unknown engines: one)."""
    try:
        spec = engine_spec(settings, name)
    except ValueError:
        return 1
    return max(1, int(spec.concurrency(settings)))


def route_capabilities(settings: Settings, names: Iterable[str]) -> Capabilities:
    """What every engine of a route accepts (an empty route: the baseline)."""
    combined: Capabilities | None = None
    for name in names:
        own = engine_capabilities(settings, name)
        combined = own if combined is None else combined.intersect(own)
    return combined or BASELINE
