"""scripts/serve.sh installs only when a pyproject file changed, and says what it does. Run on a
copy of the scripts and pyproject files with a stand-in .venv whose python, uv and grokimagine
only record how they were called (the real install is tests/install's)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.helpers.patience import PATIENCE

REPO = Path(__file__).resolve().parents[2]
RECORDER = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$(dirname "$0")/../calls.log"
[ "$(basename "$0")" != uv ] || [ -z "${UV_FAILS:-}" ]
"""


def _checkout(root: Path) -> Path:
    (root / "scripts").mkdir(parents=True)
    (root / "sdk/python").mkdir(parents=True)
    for script in ("serve.sh", "install.sh"):
        shutil.copy(REPO / "scripts" / script, root / "scripts" / script)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    shutil.copy(REPO / "sdk/python/pyproject.toml", root / "sdk/python/pyproject.toml")
    bin_dir = root / ".venv/bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "uv", "grokimagine"):
        (bin_dir / name).write_text(RECORDER)
        (bin_dir / name).chmod(0o755)
    return root


def _serve(root: Path, **env: str) -> tuple[str, list[str]]:
    done = subprocess.run(
        ["bash", "scripts/serve.sh", "--port", "8123"],
        cwd=root,
        env={**os.environ, "PYTHON": "false", **env},  # a venv exists: it must not make another
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    calls = (root / ".venv/calls.log").read_text().splitlines()
    (root / ".venv/calls.log").unlink()
    return done.stdout, calls


UV_INSTALL = "uv pip install --python .venv/bin/python -e ."


def test_serve_sh_installs_once_then_only_when_a_pyproject_changes(tmp_path: Path) -> None:
    root = _checkout(tmp_path / "checkout")

    said, calls = _serve(root)
    assert "installing grokimagine into .venv" in said
    assert calls[0] == "python -m pip install --quiet --disable-pip-version-check uv"
    assert calls[-2:] == [UV_INSTALL, "grokimagine serve --port 8123"]

    said, calls = _serve(root)  # a restart: no install
    assert "dependencies unchanged since the last install: nothing to install" in said
    assert calls == ["grokimagine serve --port 8123"]

    with (root / "sdk/python/pyproject.toml").open("a") as changed:
        changed.write("\n# a new dependency\n")
    said, calls = _serve(root)
    assert "installing grokimagine" in said and UV_INSTALL in calls


def test_serve_sh_installs_with_pip_where_uv_cannot(tmp_path: Path) -> None:
    root = _checkout(tmp_path / "checkout")
    said, calls = _serve(root, UV_FAILS="1")
    assert "uv could not install: pip instead" in said
    assert calls[-3] == UV_INSTALL
    assert calls[-2].startswith("python -m pip install") and calls[-2].endswith("-e .")
    assert calls[-1] == "grokimagine serve --port 8123"
    said, calls = _serve(root)  # pip's install counts: a restart installs nothing
    assert calls == ["grokimagine serve --port 8123"]
