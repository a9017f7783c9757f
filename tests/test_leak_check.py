"""The suite's own guard (tests/helpers/leaks.py): a test that leaves a process or a listening
port behind fails, and one that cleans up passes. Run in an inner pytest session."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.helpers.patience import PATIENCE

REPO = Path(__file__).resolve().parents[1]
INNER_TESTS = """
import socket, subprocess, sys

_kept = []

def test_leaves_a_child():
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    print(f"CHILD={child.pid}")

def test_leaves_a_listening_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    _kept.append(sock)

def test_waits_for_its_child():
    subprocess.run([sys.executable, "-c", "pass"], check=True)
"""


def test_a_leftover_process_or_port_fails_its_test(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    env = {**os.environ, "GI_TEST_LEAK_GRACE": "1", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "pytest", "-p", "tests.helpers.leaks", "-q", "-s"]
    log = tmp_path / "inner.log"
    with log.open("w") as out:  # a file, not a pipe: the leaked child must not hold our read open
        done = subprocess.run(
            [*command, "-p", "no:cacheprovider", str(tmp_path / "test_inner.py")],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=PATIENCE,
        )
    output = log.read_text()
    child = int(output.split("CHILD=", 1)[1].split()[0])
    try:
        assert done.returncode == 1, output
        assert "ERROR at teardown of test_leaves_a_child" in output, output
        assert "process still running" in output and f"{child}:" in output
        assert "ERROR at teardown of test_leaves_a_listening_port" in output, output
        assert "port still listening: 127.0.0.1:" in output
        # The clean test passed; the session's end saw the same leftovers and failed too.
        assert "ERROR test_inner.py::test_waits_for_its_child - Failed: the suite left" in output
        assert "3 passed, 3 errors" in output
    finally:
        os.kill(child, signal.SIGKILL)  # the inner session's orphan, ours to end
