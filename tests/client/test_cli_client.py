"""The API commands of the command line, against a real server: JSON lines off a terminal, a
live progress panel in a pseudo-terminal, Ctrl-C asking to cancel or leave, the exit codes."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest

from tests.helpers.cli import CLIENT, ROOT, SERVER_COMMAND
from tests.helpers.cli import cli_env as _env
from tests.helpers.live_server import LiveServer
from tests.helpers.mp4 import decode
from tests.helpers.patience import PATIENCE


def _lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_generate_wait_download_off_a_terminal_prints_json_lines(
    server: LiveServer, tmp_path: Path
) -> None:
    target = tmp_path / "fox.mp4"
    done = subprocess.run(
        [*CLIENT, "generate", "a red fox in snow", "--wait", "-o", str(target)],
        env=_env(server),
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert done.returncode == 0, done.stderr
    lines = _lines(done.stdout)
    events = [line["event"] for line in lines]
    assert events[0] == "update" and events[-2:] == ["completed", "saved"]
    updates = [line for line in lines if line["event"] == "update"]
    assert updates[0]["status"] == "pending" and updates[-1]["status"] == "completed"
    assert all({"progress", "queue_position", "elapsed", "task_id"} <= set(u) for u in updates)
    assert lines[-1]["path"] == str(target)
    assert len(decode(target).frames) > 0
    task_id = lines[-1]["task_id"]

    # The same commands through the server's own command.
    status = subprocess.run(
        [*SERVER_COMMAND, "status", task_id],
        env=_env(server),
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert status.returncode == 0, status.stderr
    (shown,) = _lines(status.stdout)
    assert (shown["event"], shown["task_id"], shown["status"]) == ("task", task_id, "completed")
    for command, check in (
        (["tasks"], lambda out: [line["task_id"] for line in out] == [task_id]),
        (["balance"], lambda out: out[0]["balance"] == 4000 - 40),
        (["quote", "a fox", "--n", "3"], lambda out: out[0]["price"] == 120),
        (
            ["download", task_id, "-o", str(tmp_path / "again")],
            lambda out: out[0]["event"] == "saved",
        ),
    ):
        answer = subprocess.run(
            [*SERVER_COMMAND, *command],
            env=_env(server),
            capture_output=True,
            text=True,
            timeout=PATIENCE,
        )
        assert answer.returncode == 0, answer.stderr
        assert check(_lines(answer.stdout)), answer.stdout


def test_exit_codes_for_bad_usage_unknown_tasks_timeouts_and_failures(
    idle_server: LiveServer,
) -> None:
    env = _env(idle_server)

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLIENT, *argv], env=env, capture_output=True, text=True, timeout=PATIENCE
        )

    assert run("generate").returncode == 2  # no prompt
    assert run("generate", "x", "--ratio", "16:9").returncode == 2
    assert run("generate", "   ").returncode == 2  # the server's 400
    missing = run("status", "task_nope")
    assert missing.returncode == 1
    assert _lines(missing.stdout)[-1]["code"] == "TASK_NOT_FOUND"
    created = _lines(run("generate", "a patient fox").stdout)[0]
    assert created["status"] == "pending"
    task_id = created["task_id"]
    waited = run("wait", task_id, "--timeout", "0.5")
    assert waited.returncode == 4
    assert _lines(waited.stdout)[-1]["task_id"] == task_id
    assert run("cancel", task_id).returncode == 0
    assert run("wait", task_id).returncode == 1  # canceled: not done
    no_key = subprocess.run(
        [*CLIENT, "balance"],
        env={**env, "GROKIMAGINE_API_KEY": ""},
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert no_key.returncode == 2


class Terminal:
    """A command in a pseudo-terminal, read as it writes."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
        self.process = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        self.master = master
        self.output = b""

    def read_until(self, needle: bytes, timeout: float = PATIENCE) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.output:
            assert time.monotonic() < deadline, self.output[-2000:]
            if not self._read(0.1):
                assert needle in self.output, self.output[-2000:]
                return

    def _read(self, wait: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], wait)
        if ready:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # the other end closed
                return False
            if not chunk:
                return False
            self.output += chunk
        return True

    def finish(self, timeout: float = PATIENCE) -> int:
        deadline = time.monotonic() + timeout
        while self._read(0.1) and time.monotonic() < deadline:
            if self.process.poll() is not None and not select.select([self.master], [], [], 0)[0]:
                break
        code = self.process.wait(timeout=max(1, deadline - time.monotonic()))
        os.close(self.master)
        return code

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())


def test_a_terminal_shows_live_progress_and_writes_the_file(
    server: LiveServer, tmp_path: Path
) -> None:
    target = tmp_path / "fox.mp4"
    terminal = Terminal(
        [*SERVER_COMMAND, "generate", "a red fox in snow", "--wait", "-o", str(target)],
        _env(server),
    )
    code = terminal.finish()
    screen = terminal.output.decode(errors="replace")
    assert code == 0, screen
    assert "\x1b[" in screen, "drawn with terminal control sequences, not JSON"
    assert "━" in screen and "%" in screen and "credits" in screen  # the bar and its figures
    assert "completed" in screen and f"saved {target}" in screen
    assert not screen.lstrip().startswith("{")
    assert len(decode(target).frames) > 0


@pytest.mark.parametrize("answer", ["c", "l"])
def test_ctrl_c_asks_to_cancel_or_leave_the_task_and_prints_its_id(
    idle_server: LiveServer, answer: str
) -> None:
    terminal = Terminal([*CLIENT, "generate", "a patient fox", "--wait"], _env(idle_server))
    terminal.read_until(b"pending")
    terminal.process.send_signal(signal.SIGINT)
    terminal.read_until(b"[c]ancel / [L]eave")
    terminal.type(answer + "\n")
    code = terminal.finish()
    screen = terminal.output.decode(errors="replace")
    assert code == 130, screen
    task_id = screen.split("Cancel task ", 1)[1].split(" ", 1)[0]
    assert task_id.startswith("task_")
    state = idle_server.call(
        lambda services: __import__(
            "grokimagine.domain.tasks.records", fromlist=["find_task"]
        ).find_task(services.db, task_id, account_id=idle_server.account_id)
    )
    if answer == "c":
        assert f"canceled {task_id}" in screen and state.status == "canceled"
    else:
        assert f"{task_id} keeps running" in screen and state.status == "pending"


def test_ctrl_c_off_a_terminal_leaves_the_task_and_says_so_in_json(
    idle_server: LiveServer,
) -> None:
    process = subprocess.Popen(
        [*CLIENT, "generate", "a patient fox", "--wait"],
        env=_env(idle_server),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = json.loads(process.stdout.readline())
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=PATIENCE)
    assert process.returncode == 130
    (last,) = _lines(rest)
    assert (last["event"], last["task_id"]) == ("left_running", first["task_id"])


def test_content_rejected_exits_with_3(stub) -> None:  # type: ignore[no-untyped-def]
    from tests.client.conftest import Scripted

    failed = {
        "task_id": "task_1",
        "status": "failed",
        "error": {"code": "CONTENT_REJECTED", "message": "refused"},
    }
    event = f"event: task\r\nid: s1\r\ndata: {json.dumps(failed)}\r\n\r\n".encode()
    stub.script("GET", "/v1/tasks/task_1/events", Scripted(200, None, raw=event))
    env = {**os.environ, "GROKIMAGINE_API_KEY": "gi_live_x", "GROKIMAGINE_BASE_URL": stub.url}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "sdk" / "python" / "src"), str(ROOT / "src")])
    done = subprocess.run(
        [*CLIENT, "wait", "task_1"], env=env, capture_output=True, text=True, timeout=PATIENCE
    )
    assert done.returncode == 3, done.stdout + done.stderr
    last = _lines(done.stdout)[-1]
    assert (last["event"], last["code"], last["task_id"]) == ("error", "CONTENT_REJECTED", "task_1")
