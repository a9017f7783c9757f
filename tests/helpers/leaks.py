"""No process and no listening port outlives its test, nor the suite (issue 20).

After each test (all its function-scoped fixtures torn down), a child process or a listening
socket of this process that the test started and that is still there fails the test; at the end
of the session, every process that carries this session's mark in its environment (children,
and grandchildren whose parent died and left them to init) and every listening socket of this
process fails the session. Both wait a while first: a signalled process may take a moment to go.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import psutil
import pytest

T = TypeVar("T")
# Inherited by every process a test starts, however deep: how the session finds its orphans.
SESSION_MARK = "GI_TEST_SESSION_MARK"  # not GROKIMAGINE_*: helpers drop those from env
GRACE_SECONDS = float(os.environ.get("GI_TEST_LEAK_GRACE", "30"))
# Started once by the standard library on first use and kept for the interpreter's life.
_LONG_LIVED_HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


def _state(pid: int) -> str | None:
    """The process's state letter (R, S, Z...), or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _describe(pid: int) -> str:
    with contextlib.suppress(psutil.Error):
        return f"{pid}: {' '.join(psutil.Process(pid).cmdline())[:300]}"
    return f"{pid}: (gone)"


def _living_children() -> set[int]:
    """This process's direct children that have not exited (zombies are dead: skipped)."""
    pids: set[int] = set()
    tasks = list(Path(f"/proc/{os.getpid()}/task").glob("*/children"))
    if tasks:
        for task in tasks:
            with contextlib.suppress(OSError):
                pids.update(int(pid) for pid in task.read_text().split())
    else:  # a kernel without /proc/.../children
        pids = {child.pid for child in psutil.Process().children()}
    return {pid for pid in pids if _state(pid) not in (None, "Z") and not _is_helper(pid)}


def _is_helper(pid: int) -> bool:
    with contextlib.suppress(psutil.Error):
        command = " ".join(psutil.Process(pid).cmdline())
        return any(helper in command for helper in _LONG_LIVED_HELPERS)
    return False


def _listening() -> set[tuple[str, int]]:
    """The addresses this process listens on."""
    connections = psutil.Process().net_connections(kind="inet")
    return {(c.laddr.ip, c.laddr.port) for c in connections if c.status == psutil.CONN_LISTEN}


def _marked_processes(mark: str) -> set[int]:
    """Every living process whose environment carries ``mark`` (this one excluded)."""
    found = set()
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        with contextlib.suppress(psutil.Error):
            marked = process.environ().get(SESSION_MARK) == mark
            if marked and process.status() != "zombie" and not _is_helper(process.pid):
                found.add(process.pid)
    return found


def _settle(leftovers: Callable[[], set[T]]) -> set[T]:
    """Poll ``leftovers()`` until it is empty or the grace period ends; what is left."""
    deadline = time.monotonic() + GRACE_SECONDS
    left = leftovers()
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = leftovers()
    return left


@pytest.fixture(autouse=True)
def _no_process_or_port_outlives_its_test() -> Iterator[None]:
    children_before, listening_before = _living_children(), _listening()
    yield
    children = _settle(lambda: _living_children() - children_before)
    ports = _settle(lambda: _listening() - listening_before)
    problems = [f"process still running: {_describe(pid)}" for pid in sorted(children)]
    problems += [f"port still listening: {ip}:{port}" for ip, port in sorted(ports)]
    if problems:
        pytest.fail("the test left behind:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def _no_process_or_port_outlives_the_session() -> Iterator[None]:
    mark = secrets.token_hex(8)
    os.environ[SESSION_MARK] = mark
    yield
    processes = _settle(lambda: _marked_processes(mark))
    ports = _settle(_listening)
    problems = [f"process still running: {_describe(pid)}" for pid in sorted(processes)]
    problems += [f"port still listening: {ip}:{port}" for ip, port in sorted(ports)]
    if problems:
        pytest.fail("the suite left behind:\n" + "\n".join(problems), pytrace=False)
