"""The official ``openai`` SDK against a live server, and the settings those servers run."""

from __future__ import annotations

import secrets
from pathlib import Path

import openai

from grokimagine.settings import Settings
from tests.helpers.live_server import LiveServer


def openai_settings(database_url: str, tmp_path: Path, **overrides: object) -> Settings:
    """The embedded default on ``database_url``, with a named model besides the default."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        auth_cache_seconds=0,
        poll_seconds=0.05,
        redis_prefix=f"gi-test-{secrets.token_hex(4)}",
        openai_api_models={"preview-fast": ["preview"]},
        **overrides,
    )


def sdk(running: LiveServer, token: str | None = None) -> openai.OpenAI:
    """The official client on the server's /v1, without retries (errors surface at once)."""
    return openai.OpenAI(
        base_url=f"{running.url}/v1", api_key=token or running.token, max_retries=0, timeout=60
    )
