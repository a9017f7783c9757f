"""Fixtures of the client tests: a real server (the embedded default) and a scripted stub."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from grokimagine.settings import Settings
from grokimagine.storage.migrate import upgrade_database
from tests.helpers.live_server import LiveServer, live_server


def sqlite_settings(tmp_path: Path, **overrides: object) -> Settings:
    """The embedded default's settings for a test: SQLite, local files, fast worker polling."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'api.db'}",
        auth_cache_seconds=0,
        poll_seconds=0.05,
        **overrides,
    )
    upgrade_database(settings.resolved_database_url)
    return settings


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """The embedded default with its in-process worker and the preview engine."""
    with live_server(sqlite_settings(tmp_path)) as running:
        yield running


@pytest.fixture
def idle_server(tmp_path: Path) -> Iterator[LiveServer]:
    """The embedded default without a worker: tasks stay pending."""
    with live_server(sqlite_settings(tmp_path), worker=False) as running:
        yield running


@dataclass
class Scripted:
    """An answer of the stub server."""

    status: int
    body: object
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # sent as is (an event stream) instead of ``body`` as JSON


@dataclass
class StubServer:
    """Answers each path from its script, in order (the last answer repeats); logs requests."""

    url: str
    scripts: dict[tuple[str, str], list[Scripted]]
    log: list[tuple[str, str, dict[str, str]]]

    def script(self, method: str, path: str, *answers: Scripted) -> None:
        self.scripts[(method, path)] = list(answers)

    def calls(self, method: str, path: str) -> list[dict[str, str]]:
        return [headers for m, p, headers in self.log if (m, p) == (method, path)]


@pytest.fixture
def stub() -> Iterator[StubServer]:
    scripts: dict[tuple[str, str], list[Scripted]] = {}
    log: list[tuple[str, str, dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            path = self.path.split("?", 1)[0]
            log.append((self.command, path, dict(self.headers)))
            answers = scripts.get((self.command, path)) or [
                Scripted(404, {"code": 404, "message": "Not found", "error": "NOT_FOUND"})
            ]
            answer = answers.pop(0) if len(answers) > 1 else answers[0]
            payload = answer.raw if answer.raw is not None else json.dumps(answer.body).encode()
            self.send_response(answer.status)
            kind = "text/event-stream" if answer.raw is not None else "application/json"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, *_: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield StubServer(f"http://127.0.0.1:{httpd.server_address[1]}", scripts, log)
    httpd.shutdown()
    httpd.server_close()


def envelope(data: object) -> dict[str, object]:
    return {"code": 200, "message": "success", "data": data}
