"""scripts/serve.sh runs pip only when a pyproject file changed, and says what it does. Run on a
copy of the scripts and pyproject files with a stand-in .venv whose python and grokimagine only
record how they were called (the real install is tests/install's)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.helpers.patience import PATIENCE

REPO = Path(__file__).resolve().parents[2]
RECORDER = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$(dirname "$0")/../calls.log"
"""


def _checkout(root: Path) -> Path:
    (root / "scripts").mkdir(parents=True)
    (root / "sdk/python").mkdir(parents=True)
    shutil.copy(REPO / "scripts/serve.sh", root / "scripts/serve.sh")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    shutil.copy(REPO / "sdk/python/pyproject.toml", root / "sdk/python/pyproject.toml")
    bin_dir = root / ".venv/bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "grokimagine"):
        (bin_dir / name).write_text(RECORDER)
        (bin_dir / name).chmod(0o755)
    return root


def _serve(root: Path) -> tuple[str, list[str]]:
    done = subprocess.run(
        ["bash", "scripts/serve.sh", "--port", "8123"],
        cwd=root,
        env={**os.environ, "PYTHON": "false"},  # a venv exists: it must not make another
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    calls = (root / ".venv/calls.log").read_text().splitlines()
    (root / ".venv/calls.log").unlink()
    return done.stdout, calls


def test_serve_sh_installs_once_then_only_when_a_pyproject_changes(tmp_path: Path) -> None:
    root = _checkout(tmp_path / "checkout")

    said, calls = _serve(root)
    assert "installing grokimagine and its dependencies" in said
    assert calls[0].startswith("python -m pip install") and calls[0].endswith("-e .")
    assert calls[1] == "grokimagine serve --port 8123"

    said, calls = _serve(root)  # a restart: no pip
    assert "dependencies unchanged since the last install: no pip run" in said
    assert calls == ["grokimagine serve --port 8123"]

    with (root / "sdk/python/pyproject.toml").open("a") as changed:
        changed.write("\n# a new dependency\n")
    said, calls = _serve(root)
    assert "installing grokimagine" in said and calls[0].startswith("python -m pip install")
