"""Builds the engine named in the settings. Heavy engines are imported only when chosen."""

from __future__ import annotations

from grokimagine.engines.base import Engine
from grokimagine.settings import Settings


class UnknownEngineError(ValueError):
    """The settings name an engine that does not exist."""


def build_engine(settings: Settings, name: str | None = None) -> Engine:
    """Return a ready engine for ``name`` (default: ``settings.engine``)."""
    name = name or settings.engine
    if name == "preview":
        from grokimagine.engines.preview import PreviewEngine

        return PreviewEngine()
    if name == "diffusers":
        # Imports torch and diffusers (the ``gpu`` extra) only when chosen.
        from grokimagine.engines.diffusers_engine import DiffusersEngine

        return DiffusersEngine.from_settings(settings)
    raise UnknownEngineError(f"unknown engine {name!r}; known: preview, diffusers")
