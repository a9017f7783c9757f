"""A real server (uvicorn, the in-process worker, the preview engine) on SQLite and on
PostgreSQL, and the official ``openai`` SDK pointed at it with one of its keys."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from grokimagine.settings import Settings
from tests.live_server import LiveServer, live_server


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


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A running server with the worker; its customer has 4000 credits on a live key."""
    with live_server(openai_settings(database_url, tmp_path)) as running:
        yield running


@pytest.fixture
def idle_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A running server without a worker: videos stay queued."""
    with live_server(openai_settings(database_url, tmp_path), worker=False) as running:
        yield running


def sdk(running: LiveServer, token: str | None = None) -> openai.OpenAI:
    """The official client on the server's /v1, without retries (errors surface at once)."""
    return openai.OpenAI(
        base_url=f"{running.url}/v1", api_key=token or running.token, max_retries=0, timeout=60
    )


@pytest.fixture
def openai_client(server: LiveServer) -> Iterator[openai.OpenAI]:
    with sdk(server) as made:
        yield made
