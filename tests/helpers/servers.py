"""Fixtures of real local HTTP(S) servers, and a log of the TCP connections httpcore makes."""

from __future__ import annotations

import contextlib
import ipaddress
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpcore
import pytest


@dataclass
class Route:
    """A canned answer. ``chunks`` is sent with chunked encoding; ``endless`` repeats it forever."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] | None = None
    endless: bool = False
    before: Callable[[], None] | None = None  # runs before answering (a barrier, a wait)


@dataclass
class LocalServer:
    """An HTTP/1.1 server on a loopback address, in a thread, answering from ``routes``."""

    host: str
    port: int
    routes: dict[str, Route]
    requests: list[tuple[str, str]]  # (path, Host header) of every request received
    scheme: str = "http"

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    def add(self, path: str, **route: object) -> str:
        self.routes[path] = Route(**route)  # type: ignore[arg-type]
        return self.url(path)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self.server.log.append((self.path, self.headers.get("Host", "")))
        route = self.server.routes.get(self.path, Route(status=404, body=b"not found"))
        if route.before is not None:
            route.before()
        # The client may stop reading (as it should for oversized bodies).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self._answer(route)

    def _answer(self, route: Route) -> None:
        self.send_response(route.status)
        for name, value in route.headers.items():
            self.send_header(name, value)
        if route.chunks is None:
            if "Content-Length" not in route.headers:
                self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            self.wfile.write(route.body)
            while route.endless:
                self.wfile.write(route.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while True:
            for chunk in route.chunks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            if not route.endless:
                break
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    routes: dict[str, Route]
    log: list[tuple[str, str]]


def _start_server(host: str, ssl_context: ssl.SSLContext | None) -> tuple[_Server, LocalServer]:
    httpd = _Server((host, 0), _Handler)
    httpd.routes, httpd.log = {}, []
    if ssl_context is not None:
        httpd.socket = ssl_context.wrap_socket(httpd.socket, server_side=True)
    serve = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    serve.start()
    scheme = "https" if ssl_context is not None else "http"
    return httpd, LocalServer(host, httpd.server_address[1], httpd.routes, httpd.log, scheme)


ServerFactory = Callable[..., LocalServer]


@pytest.fixture
def make_server() -> Iterator[ServerFactory]:
    """Start servers with ``make_server(host, ssl_context=None)``; all stop after the test."""
    started: list[_Server] = []

    def make(host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None) -> LocalServer:
        httpd, local = _start_server(host, ssl_context)
        started.append(httpd)
        return local

    yield make
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server(make_server: ServerFactory) -> LocalServer:
    """A plain HTTP server on 127.0.0.1."""
    return make_server()


@pytest.fixture
def connect_log(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every (address, port) that httpcore's socket backend was asked to connect to.

    Only loopback connections go through: should the guard ever let another address by, the
    test fails on a connection error instead of sending traffic off this machine.
    """
    log: list[tuple[str, int]] = []
    original = httpcore.AnyIOBackend.connect_tcp

    async def recording_connect(self: httpcore.AnyIOBackend, host: str, port: int, **kwargs):  # type: ignore[no-untyped-def]
        log.append((host, port))
        if not ipaddress.ip_address(host).is_loopback:
            raise httpcore.ConnectError(f"test safety: no connection to {host}")
        return await original(self, host, port, **kwargs)

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", recording_connect)
    return log
