"""Operator commands find the service that serve recorded, from any folder, or refuse; they never
create an empty database."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from grokimagine.ops.service_record import read_record, write_record
from grokimagine.storage.migrate import upgrade_database
from tests.helpers.patience import PATIENCE


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


class _Output:
    """A process's output, read as it comes (the pipe never fills and blocks the server)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._ended = False
        self._reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._reader.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def wait_for(self, text: str) -> None:
        """Until a line holds ``text``; fails with the output if the process ends first."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._ended or any(text in line for line in self.lines), PATIENCE
            )
            if not any(text in line for line in self.lines):
                raise AssertionError(f"no {text!r} in the output:\n{''.join(self.lines)}")

    def join(self) -> None:
        self._reader.join(PATIENCE)


@contextlib.contextmanager
def _serve(env: dict[str, str], cwd: Path) -> Iterator[_Output]:
    """The real ``grokimagine serve`` on a free loopback port, until it has stopped."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cwd.mkdir(parents=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "grokimagine.cli", "serve", "--port", str(port)],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = _Output(process)
    try:
        output.wait_for("Application startup complete")
        yield output
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(PATIENCE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(PATIENCE)
        output.join()


def test_serve_records_its_service_and_a_command_elsewhere_finds_it(tmp_path: Path) -> None:
    env = _env(tmp_path)
    record = tmp_path / "state" / "service.json"
    env["GROKIMAGINE_SERVICE_RECORD"] = str(record)
    data_dir = tmp_path / "service" / "data"
    served = {
        **env,
        "GROKIMAGINE_DATA_DIR": str(data_dir),
        "GROKIMAGINE_DEMO_CREDITS": "321",
    }

    with _serve(served, tmp_path / "service") as output:
        output.wait_for(f"find it through {record}")
        assert json.loads(record.read_text())["data_dir"] == str(data_dir.resolve())
        # The command is told nothing of the data folder: only the record can lead it there.
        listed = _cli(env, tmp_path / "elsewhere", "accounts", "list")

    assert listed.returncode == 0, listed.stderr
    demo = [line.split("\t") for line in listed.stdout.splitlines() if line.endswith("\tdemo")]
    assert [fields[1:] for fields in demo] == [["free", "321", "spicy", "demo"]]
    assert list((tmp_path / "elsewhere").iterdir()) == []  # no ./data made there


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
