"""Running the command line in a subprocess against a live server, with this tree importable."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.helpers.live_server import LiveServer

ROOT = Path(__file__).resolve().parents[2]
CLIENT = [sys.executable, "-m", "grokimagine_client.cli"]
SERVER_COMMAND = [sys.executable, "-m", "grokimagine.cli"]


def cli_env(server: LiveServer) -> dict[str, str]:
    """The environment of a CLI subprocess: this tree's sources first, the server's key and URL."""
    paths = [str(ROOT / "sdk" / "python" / "src"), str(ROOT / "src"), str(ROOT)]
    inherited = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([*paths, *([inherited] if inherited else [])]),
        "GROKIMAGINE_API_KEY": server.token,
        "GROKIMAGINE_BASE_URL": server.url,
        "TERM": "xterm-256color",
        "COLUMNS": "160",
    }
