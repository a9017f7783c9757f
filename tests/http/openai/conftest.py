"""A real server (uvicorn, the in-process worker, the preview engine) on SQLite and on
PostgreSQL, and the official ``openai`` SDK pointed at it with one of its keys."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.helpers.live_server import LiveServer, live_server
from tests.helpers.openai_sdk import openai_settings, sdk

NODE_DIR = Path(__file__).parent / "node"


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


@pytest.fixture
def openai_client(server: LiveServer) -> Iterator[openai.OpenAI]:
    with sdk(server) as made:
        yield made


@pytest.fixture(scope="module")
def node_sdk() -> Path:
    """node/ with its pinned openai package installed (once; npm's cache makes reruns quick)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed on this machine")
    if not (NODE_DIR / "node_modules" / "openai" / "package.json").exists():
        done = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--no-package-lock"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            pytest.skip(
                f"npm could not install openai (registry unreachable?): {done.stderr[-500:]}"
            )
    return NODE_DIR
