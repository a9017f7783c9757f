"""The grokimagine command: accounts, keys and credits from the shell."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from grokimagine.cli import main


@pytest.fixture
def data_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GROKIMAGINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GROKIMAGINE_DATABASE_URL", raising=False)
    return tmp_path / "data"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = main(list(argv))
    return code, capsys.readouterr().out.strip().splitlines()


def test_keys_create_prints_the_token_alone_on_the_last_line(
    data_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = run(
        capsys, "keys", "create", "--plan", "pro", "--credits", "400", "--allow-spicy"
    )
    assert code == 0
    token = lines[-1]
    assert token.startswith("gi_live_") and " " not in token
    account_id = lines[0].split()[1]

    code, lines = run(capsys, "accounts", "list")
    assert lines[0].split("\t")[:4] == [account_id, "pro", "400", "spicy"]

    code, lines = run(capsys, "credits", "add", account_id, "60")
    assert lines == [f"{account_id} balance: 460"]

    code, lines = run(capsys, "keys", "create", "--account", account_id)
    second = lines[-1]
    assert second.startswith("gi_live_") and second != token

    code, lines = run(capsys, "keys", "list", "--account", account_id)
    assert len(lines) == 2
    listing = "\n".join(lines)
    assert token not in listing and second not in listing
    key_id = lines[0].split("\t")[0]

    assert run(capsys, "keys", "revoke", key_id)[0] == 0
    assert run(capsys, "keys", "revoke", key_id)[0] == 1
    code, lines = run(capsys, "keys", "list", "--account", account_id)
    assert "revoked" in lines[0] and "active" in lines[1]


def test_unknown_accounts_and_plans_are_clear_errors(
    data_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["credits", "add", "acct_missing", "10"]) == 1
    assert "acct_missing" in capsys.readouterr().err
    assert main(["keys", "create", "--account", "acct_missing"]) == 1
    assert main(["keys", "create", "--plan", "platinum"]) == 1
    assert "platinum" in capsys.readouterr().err


def test_the_console_script_is_installed(data_env: Path) -> None:
    result = subprocess.run(
        [Path(sys.executable).parent / "grokimagine", "keys", "create", "--credits", "40"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1].startswith("gi_live_")


def test_serve_with_several_processes_on_sqlite_is_refused_clearly(
    data_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--workers", "2", "--port", "1"]) == 1
    error = capsys.readouterr().err
    assert "--workers above 1 needs PostgreSQL" in error
    assert not (data_env / "grokimagine.db").exists()  # refused before anything was made
