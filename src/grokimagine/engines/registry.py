"""Builds the engine named in the settings. Heavy engines are imported only when chosen."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from grokimagine.engines.base import Engine
from grokimagine.settings import Settings


class UnknownEngineError(ValueError):
    """The settings name an engine that does not exist."""


class EngineConfigError(ValueError):
    """An engine is named but its settings are missing or wrong (e.g. no API key)."""


def _preview(settings: Settings) -> Engine:
    from grokimagine.engines.preview import PreviewEngine

    return PreviewEngine()


def _xai(settings: Settings) -> Engine:
    from grokimagine.engines.xai import XaiEngine

    return XaiEngine(settings)


def _openai_videos(settings: Settings) -> Engine:
    from grokimagine.engines.openai_videos import OpenAIVideosEngine

    return OpenAIVideosEngine(settings)


def _diffusers(settings: Settings) -> Engine:
    # Imports torch and diffusers (the ``gpu`` extra) only when chosen.
    from grokimagine.engines.diffusers_engine import DiffusersEngine

    return DiffusersEngine.from_settings(settings)


def _check_diffusers(settings: Settings) -> None:
    # Settings only: the weights live on the GPU machine, which may not be this one.
    if not (settings.diffusers.t2v_model or settings.diffusers.i2v_model):
        raise EngineConfigError(
            "the diffusers engine needs GROKIMAGINE_DIFFUSERS_T2V_MODEL "
            "and/or GROKIMAGINE_DIFFUSERS_I2V_MODEL"
        )


def _check_xai(settings: Settings) -> None:
    from grokimagine.engines.xai import check_settings

    check_settings(settings)


def _check_openai_videos(settings: Settings) -> None:
    from grokimagine.engines.openai_videos import check_settings

    check_settings(settings)


_BUILDERS: dict[str, Callable[[Settings], Engine]] = {
    "preview": _preview,
    "xai": _xai,
    "openai-videos": _openai_videos,
    "diffusers": _diffusers,
}

# Cheap start-up checks of an engine's settings, for engines that have any.
_CHECKS: dict[str, Callable[[Settings], None]] = {
    "xai": _check_xai,
    "openai-videos": _check_openai_videos,
    "diffusers": _check_diffusers,
}


def known_engines() -> frozenset[str]:
    """Names of every engine this build can make."""
    return frozenset(_BUILDERS)


def _plugin(settings: Settings, name: str) -> Callable[[Settings], Engine]:
    """The factory of a plugin engine named in ``GROKIMAGINE_ENGINE_PLUGINS`` ("module:attr")."""
    target = settings.engine_plugins[name]
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise EngineConfigError(f"engine plugin {name!r}: {target!r} is not 'module:factory'")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise EngineConfigError(f"engine plugin {name!r}: cannot load {target!r}: {exc}") from exc
    if not callable(factory):
        raise EngineConfigError(f"engine plugin {name!r}: {target!r} is not callable")
    return factory


def check_engine(settings: Settings, name: str) -> None:
    """Raise UnknownEngineError or EngineConfigError unless ``name`` can be built from settings."""
    if name in settings.engine_plugins:
        if name in _BUILDERS:
            raise EngineConfigError(f"engine plugin {name!r} would hide the built-in engine")
        _plugin(settings, name)
        return
    if name not in _BUILDERS:
        known = ", ".join(sorted(_BUILDERS))
        raise UnknownEngineError(f"unknown engine {name!r}; known: {known}")
    check = _CHECKS.get(name)
    if check is not None:
        check(settings)


def build_engine(settings: Settings, name: str | None = None) -> Engine:
    """Return a ready engine for ``name`` (default: ``settings.engine``)."""
    name = name or settings.engine
    check_engine(settings, name)
    if name in settings.engine_plugins:
        return _plugin(settings, name)(settings)
    return _BUILDERS[name](settings)
