"""Real ``grokimagine serve`` and ``grokimagine worker`` processes on loopback, for one test.

Every process is started with its own environment (a PostgreSQL database of the test's own, a
unique Redis key prefix) and killed when the test ends, passed or failed.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from tests.helpers.customers import REDIS_URL
from tests.helpers.databases import POSTGRES_ADMIN_URL

REPO = Path(__file__).resolve().parents[2]
GROKIMAGINE = Path(sys.executable).parent / "grokimagine"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Process:
    """One running command, its log file and, for an API, its base URL."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    base_url: str | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, signum: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signum)


@dataclass
class Cluster:
    """Starts processes against one database and one Redis prefix; stops them all at the end."""

    work: Path
    env: dict[str, str]
    processes: list[Process] = field(default_factory=list)

    def start(self, name: str, *argv: str, env: dict[str, str] | None = None) -> Process:
        log_path = self.work / f"{name}.log"
        with open(log_path, "wb") as log_file:
            popen = subprocess.Popen(
                [str(GROKIMAGINE), *argv],
                env={**self.env, **(env or {})},
                cwd=self.work,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        process = Process(name, popen, log_path)
        self.processes.append(process)
        return process

    def api(self, name: str, *extra: str, env: dict[str, str] | None = None) -> Process:
        """``grokimagine serve --no-worker`` on a port of its own (see :func:`ready`)."""
        port = free_port()
        process = self.start(name, "serve", "--no-worker", "--port", str(port), *extra, env=env)
        process.base_url = f"http://127.0.0.1:{port}"
        return process

    def worker(self, name: str, env: dict[str, str] | None = None) -> Process:
        """``grokimagine worker`` named ``name`` (see :func:`ready`)."""
        return self.start(name, "worker", env={"GROKIMAGINE_WORKER_NAME": name, **(env or {})})

    def stop_all(self) -> None:
        for process in self.processes:
            process.kill()
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(10)


def ready(*processes: Process) -> None:
    """Wait until every API answers /healthz and every worker has started its loop."""
    for process in processes:
        if process.base_url is not None:
            url = f"{process.base_url}/healthz"
            wait_until(lambda url=url: _answers(url), 60, process)
        else:
            wait_until(lambda p=process: "started with engines" in p.log(), 60, process)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(
    predicate: Callable[[], bool], seconds: float, process: Process | None = None
) -> None:
    """Poll ``predicate`` until true; fail with the process's log if it died or time ran out."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if process is not None and process.popen.poll() is not None:
            raise AssertionError(f"{process.name} exited:\n{process.log()[-3000:]}")
        if time.monotonic() > deadline:
            tail = process.log()[-3000:] if process is not None else ""
            raise AssertionError(f"condition not reached in {seconds} s\n{tail}")
        time.sleep(0.05)


def new_database() -> str:
    """A fresh, empty PostgreSQL database; its URL."""
    name = f"gi_scale_{secrets.token_hex(5)}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def cluster_env(work: Path, database_url: str, **settings: object) -> dict[str, str]:
    """The environment of every process: this test's database, Redis prefix and settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GROKIMAGINE_", "PROMETHEUS_"))
    }
    env.update(
        {
            # This checkout's source first (not whichever one the console script was installed
            # from), its client package (the CLI imports it), and tests/ for the test plugin.
            "PYTHONPATH": os.pathsep.join(
                [str(REPO / "src"), str(REPO / "sdk" / "python" / "src"), str(REPO)]
            ),
            "GROKIMAGINE_DATA_DIR": str(work / "data"),
            # Where serve records its service (ops/service_record.py): not the user's.
            "XDG_STATE_HOME": str(work / "state"),
            "GROKIMAGINE_DATABASE_URL": database_url,
            "GROKIMAGINE_REDIS_URL": REDIS_URL,
            "GROKIMAGINE_REDIS_PREFIX": f"gi-scale-{secrets.token_hex(4)}",
            "GROKIMAGINE_SIGNING_SECRET": secrets.token_hex(32),
            "GROKIMAGINE_DEMO_CREDITS": "0",
            "GROKIMAGINE_ENGINE_PLUGINS": json.dumps({"slow": "tests.scale.slow_engine:build"}),
            "GROKIMAGINE_AUTH_CACHE_SECONDS": "0",
        }
    )
    for key, value in settings.items():
        text = value if isinstance(value, str) else json.dumps(value)
        env[f"GROKIMAGINE_{key.upper()}"] = text
    return env


@contextlib.contextmanager
def make_cluster(work: Path, database_url: str, **settings: object) -> Iterator[Cluster]:
    """A cluster whose processes are all killed when the block ends, however it ends."""
    cluster = Cluster(work, cluster_env(work, database_url, **settings))
    try:
        yield cluster
    finally:
        cluster.stop_all()
