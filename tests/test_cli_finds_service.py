"""Operator commands find the service that serve recorded, from any folder, or refuse; they never
create an empty database."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from grokimagine.ops.service_record import read_record, write_record
from grokimagine.storage.migrate import upgrade_database


def _env(tmp_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "GROKIMAGINE_LOG_FORMAT": "text",
    }
    for name in ("GROKIMAGINE_DATA_DIR", "GROKIMAGINE_DATABASE_URL", "GROKIMAGINE_SERVICE_RECORD"):
        env.pop(name, None)
    return env


def _cli(env: dict[str, str], cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "grokimagine.cli", *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_a_service_a_command_refuses_and_creates_nothing(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    answer = _cli(_env(tmp_path), elsewhere, "accounts", "list")
    assert answer.returncode == 1
    assert "no grokimagine service found" in answer.stderr
    assert "grokimagine serve" in answer.stderr
    assert list(elsewhere.iterdir()) == []  # no ./data, no database


def test_a_command_from_another_folder_finds_the_recorded_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _env(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", env["XDG_STATE_HOME"])
    monkeypatch.delenv("GROKIMAGINE_SERVICE_RECORD", raising=False)
    data_dir = tmp_path / "service" / "data"
    database_url = f"sqlite:///{data_dir / 'grokimagine.db'}"
    upgrade_database(database_url)
    path = write_record(
        data_dir=data_dir, database_url=database_url, base_url="http://127.0.0.1:8000"
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # the URL may hold a password
    assert read_record().database_url == database_url

    made = _cli(env, tmp_path / "one", "keys", "create", "--credits", "70", "--name", "Found")
    assert made.returncode == 0, made.stderr
    listed = _cli(env, tmp_path / "two", "accounts", "list")
    assert listed.returncode == 0, listed.stderr
    assert "\t70\t" in listed.stdout
    assert not (tmp_path / "one" / "data").exists() and not (tmp_path / "two" / "data").exists()


def test_a_record_of_a_removed_database_is_refused_not_recreated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _env(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", env["XDG_STATE_HOME"])
    monkeypatch.delenv("GROKIMAGINE_SERVICE_RECORD", raising=False)
    gone = tmp_path / "gone" / "grokimagine.db"
    write_record(data_dir=gone.parent, database_url=f"sqlite:///{gone}", base_url="http://x")
    answer = _cli(env, tmp_path / "here", "credits", "add", "acct_x", "5")
    assert answer.returncode == 1 and str(gone) in answer.stderr
    assert not gone.exists()


def test_an_unreadable_record_counts_as_none(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GROKIMAGINE_SERVICE_RECORD", str(tmp_path / "service.json"))
    (tmp_path / "service.json").write_text(json.dumps({"data_dir": 1}))
    assert read_record() is None


def test_commands_know_the_plans_an_operator_saved_in_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import create_engine, insert

    from grokimagine.storage.schema import business_settings

    env = _env(tmp_path)
    data_dir = tmp_path / "service"
    env["GROKIMAGINE_DATA_DIR"] = str(data_dir)
    database_url = f"sqlite:///{data_dir / 'grokimagine.db'}"
    upgrade_database(database_url)
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            insert(business_settings).values(
                version=1,
                settings={"plans": {"studio": {"requests_per_minute": 90}}},
                actor="user_x",
                note="",
                created_at=datetime.now(UTC),
            )
        )
    engine.dispose()
    listed = _cli(env, tmp_path / "cwd", "plans")
    assert listed.returncode == 0, listed.stderr
    assert "studio" in listed.stdout
