"""A real ``grokimagine serve`` on a free loopback port, and Debian's Chromium driven by Playwright.

The browser is the system's ``/usr/bin/chromium`` (never downloaded); tests skip where it is
missing. Screenshots go to ``$GROKIMAGINE_SCREENSHOTS`` when set (``docs/console`` to refresh
the committed ones), else to the test's temporary folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

CHROMIUM = Path(os.environ.get("GROKIMAGINE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-dev-shm-usage",
]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running ``grokimagine serve`` and what its first start printed."""

    base_url: str
    env: dict[str, str]
    log: Path
    demo_email: str  # the operator's sign-in
    demo_password: str
    demo_key: str
    customer_email: str = ""  # the demo customer's sign-in
    customer_password: str = ""

    def cli(self, *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """Run ``grokimagine ARGV`` against the server's database."""
        return subprocess.run(
            [sys.executable, "-m", "grokimagine.cli", *argv],
            input=stdin,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@contextlib.contextmanager
def serve(work: Path, **extra_env: str) -> Iterator[Server]:
    """``grokimagine serve`` on the embedded default (SQLite, preview engine, in-process
    worker) in ``work``, with ``extra_env`` over this process's variables, until the block ends."""
    port = free_port()
    env = {
        **os.environ,
        "GROKIMAGINE_DATA_DIR": str(work / "data"),
        "GROKIMAGINE_LOG_FORMAT": "text",
        "GROKIMAGINE_POLL_SECONDS": "0.2",
        # Each test signs in afresh, more often than a person would in a minute.
        "GROKIMAGINE_CONSOLE_SIGNIN_EMAIL_LIMIT": "100",
        # Where serve records its service for the operator commands: not the user's.
        "GROKIMAGINE_SERVICE_RECORD": str(work / "service.json"),
        **extra_env,
    }
    env.pop("GROKIMAGINE_DATABASE_URL", None)
    env.pop("GROKIMAGINE_REDIS_URL", None)
    log = work / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "grokimagine.cli", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start:\n{log.read_text()}")
            time.sleep(0.2)
        printed = log.read_text()
        emails = re.findall(r"email:\s+(\S+)", printed)
        passwords = re.findall(r"password:\s+(\S+)", printed)
        yield Server(
            base_url=base_url,
            env=env,
            log=log,
            # The operator's sign-in is printed first, the demo customer's second.
            demo_email=emails[0],
            demo_password=passwords[0],
            demo_key=re.search(r"^(gi_live_\S+)$", printed, re.MULTILINE)[1],
            customer_email=emails[1],
            customer_password=passwords[1],
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``grokimagine serve`` on the embedded default (SQLite, preview engine, in-process worker)."""
    with serve(tmp_path_factory.mktemp("console-server")) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium from the system, driven by Playwright."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go."""
    folder = Path(os.environ.get("GROKIMAGINE_SCREENSHOTS", tmp_path / "shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
