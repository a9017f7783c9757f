"""Start fast (issue 20): `grokimagine --help` and the operator commands load neither the server
nor the engines. Checked by what a fresh interpreter has imported, never by timing (bench/
cli_start.py measures the time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from grokimagine.storage.migrate import (
    alembic_config,
    database_is_current,
    shipped_head,
    upgrade_database,
)

# Modules no command of the operator needs: the engines and their GPU stack, the S3 store, the
# web app and its templates, the video codecs.
HEAVY = (
    "torch",
    "diffusers",
    "transformers",
    "boto3",
    "botocore",
    # The engine families; the registry of their specs is light by design (it imports a family
    # only when that engine is built) and the price table checks engine names against it.
    "grokimagine.engines.diffusers",
    "grokimagine.engines.relay",
    "grokimagine.engines.preview",
    "grokimagine.console",
    "grokimagine.http",
    "grokimagine.services",
    "grokimagine.worker",
    "fastapi",
    "starlette",
    "uvicorn",
    "jinja2",
    "av",
    "numpy",
    "PIL",
)
# `--help` only parses: no database, no settings, no HTTP client either.
NOT_FOR_HELP = (
    *HEAVY,
    "sqlalchemy",
    "alembic",
    "pydantic",
    "httpx",
    "grokimagine.domain",
    "grokimagine.engines",
)

_RUN_AND_LIST_MODULES = """
import json, sys
from grokimagine.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print("MODULES=" + json.dumps(sorted(sys.modules)))
sys.exit(code or 0)
"""


def _modules_loaded_by(argv: list[str], data_dir: Path) -> tuple[set[str], str]:
    """Run ``grokimagine ARGV`` in a fresh interpreter; the modules it imported, and its output."""
    env = {**os.environ, "GROKIMAGINE_DATA_DIR": str(data_dir)}
    env.pop("GROKIMAGINE_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST_MODULES, *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}: {done.stdout}\n{done.stderr}"
    line = next(x for x in done.stdout.splitlines() if x.startswith("MODULES="))
    return set(json.loads(line.removeprefix("MODULES="))), done.stdout + done.stderr


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


@pytest.mark.parametrize("argv", [["--help"], ["keys", "--help"], ["generate", "--help"]])
def test_help_imports_nothing_heavy(argv: list[str], tmp_path: Path) -> None:
    modules, output = _modules_loaded_by(argv, tmp_path)
    assert "usage: grokimagine" in output
    assert _loaded(modules, NOT_FOR_HELP) == []


OPERATOR_COMMANDS = [
    ["plans"],
    ["accounts", "list"],
    ["keys", "list"],
    ["keys", "create", "--credits", "10"],
    ["admin-keys", "list"],
    ["migrate"],
]


@pytest.mark.parametrize("argv", OPERATOR_COMMANDS, ids=" ".join)
def test_operator_commands_import_nothing_heavy(argv: list[str], tmp_path: Path) -> None:
    upgrade_database(f"sqlite:///{tmp_path / 'grokimagine.db'}")
    modules, _ = _modules_loaded_by(argv, tmp_path)
    assert _loaded(modules, HEAVY) == []
    # The schema is current: the command checked its version without loading Alembic.
    assert _loaded(modules, ("alembic",)) == []


def test_first_command_on_an_empty_folder_migrates(tmp_path: Path) -> None:
    modules, output = _modules_loaded_by(["accounts", "list"], tmp_path)
    assert "alembic" in modules
    assert database_is_current(f"sqlite:///{tmp_path / 'grokimagine.db'}"), output


def test_shipped_head_is_alembics_head(tmp_path: Path) -> None:
    script = ScriptDirectory.from_config(alembic_config(f"sqlite:///{tmp_path / 'x.db'}"))
    assert [shipped_head()] == script.get_heads()


def test_database_is_current_only_at_the_head(database_url: str, tmp_path: Path) -> None:
    """`database_url` is migrated to the head (SQLite and PostgreSQL); older or absent: not."""
    assert database_is_current(database_url)
    assert not database_is_current(f"sqlite:///{tmp_path / 'absent.db'}")
    assert not (tmp_path / "absent.db").exists()  # the check never creates a database
    behind = f"sqlite:///{tmp_path / 'behind.db'}"
    from alembic import command

    command.upgrade(alembic_config(behind), "0001")
    assert not database_is_current(behind)
    upgrade_database(behind)
    assert database_is_current(behind)
