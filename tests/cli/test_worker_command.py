"""``grokimagine worker`` runs the worker loop and the webhook delivery loop, and stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.helpers.patience import PATIENCE


def test_sigterm_stops_the_worker_and_the_delivery_loop(tmp_path: Path) -> None:
    env = {**os.environ, "GROKIMAGINE_DATA_DIR": str(tmp_path / "data")}
    env.pop("GROKIMAGINE_DATABASE_URL", None)
    command = [Path(sys.executable).parent / "grokimagine", "worker"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if "started with engines" in line:
                break
        process.send_signal(signal.SIGTERM)
        # The process ends only when both loops have returned.
        assert process.wait(timeout=PATIENCE) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
