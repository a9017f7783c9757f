"""Errors about choosing and configuring engines (start-up), apart from rendering errors.

Kept apart from the registry so that engine modules can raise them without importing it.
"""

from __future__ import annotations


class UnknownEngineError(ValueError):
    """The settings name an engine that does not exist."""


class EngineConfigError(ValueError):
    """An engine is named but its settings are missing or wrong (e.g. no API key)."""
