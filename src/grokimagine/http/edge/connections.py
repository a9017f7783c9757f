"""Connection limits that uvicorn's httptools protocol does not have: a cap on request-header
bytes and a header-read timeout (slowloris), with refusals in our error body; and a response's
head and body sent in one write (``coalesce.py``).

uvicorn with h11 caps headers but not their read time, and serves a third fewer status polls;
granian has both limits but served fewer still on this machine (bench/RESULTS.md, "HTTP server").
So ``serve`` runs uvicorn with httptools and this protocol, which adds the two guards:

- while a request's headers are being read, the bytes received are counted; past
  ``http_max_header_bytes`` the client gets 431 and the connection is closed, so a huge header
  never grows past the cap plus one read;
- a request's headers (or a new connection's first bytes) must arrive within
  ``http_header_timeout`` seconds (checked by one sweep per server, at most a second late),
  else 408 and close: a client sending one byte at a time cannot hold a connection.

Connections and keep-alive are uvicorn's own settings (``limit_concurrency``,
``timeout_keep_alive``); the 503 it sends past the connection cap is given our error body too.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from grokimagine.http.edge.coalesce import CoalescingTransport
from grokimagine.http.envelope import error_body

PROTOCOL_PATH = "grokimagine.http.edge.connections:GuardedHttpToolsProtocol"


@dataclass
class HeaderLimits:
    """The limits every connection of this process applies."""

    max_header_bytes: int = 64 * 1024
    header_timeout: float = 10.0


LIMITS = HeaderLimits()


def configure(max_header_bytes: int, header_timeout: float) -> None:
    """Set this process's limits (the app factory calls this before the server accepts)."""
    LIMITS.max_header_bytes = max_header_bytes
    LIMITS.header_timeout = header_timeout


def _raw_response(status: int, reason: bytes, error: str, message: str) -> bytes:
    body = error_body(status, error, message)
    return b"".join(
        [
            b"HTTP/1.1 %d %s\r\n" % (status, reason),
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]
    )


_TOO_LARGE = _raw_response(
    431,
    b"Request Header Fields Too Large",
    "HEADERS_TOO_LARGE",
    "Request header fields too large: the request's headers are over their limit",
)
_TOO_SLOW = _raw_response(
    408,
    b"Request Timeout",
    "REQUEST_TIMEOUT",
    "Request timeout: the request's headers did not arrive in time",
)
_UNPARSABLE = _raw_response(
    400, b"Bad Request", "INVALID_REQUEST", "Invalid request: the HTTP request could not be parsed"
)


async def _busy(scope: Any, receive: Any, send: Any) -> None:
    body = error_body(503, "SERVICE_BUSY", "Service busy: too many connections; retry shortly")
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", b"1"),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header size cap and a header-read timeout."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_bytes = 0
        # Loop time at which the headers of the request being read began; None between them.
        self._headers_since: float | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # A response's head and body leave in one write (coalesce.py).
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
        # A connection that never sends a byte is held no longer than a slow one.
        self._begin_headers()
        _ensure_sweeper(self.server_state, self.loop)

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers_since = None
        super().connection_lost(exc)

    def _begin_headers(self) -> None:
        # A time stamp, not a timer per request: one sweep a fraction of a second for all
        # connections costs less than arming and cancelling a timer on every request.
        if self._headers_since is None:
            self._headers_since = self.loop.time()
            self._header_bytes = 0

    def _end_headers(self) -> None:
        self._headers_since = None

    def _refuse(self, response: bytes) -> None:
        self._end_headers()
        if not self.transport.is_closing():
            # A response still being written for an earlier (pipelined) request is cut short:
            # nothing else can be said on this connection.
            if self.cycle is None or self.cycle.response_complete:
                self.transport.write(response)
            self.transport.close()

    def headers_overdue(self, now: float) -> bool:
        """Whether this connection's headers have been arriving for too long."""
        return self._headers_since is not None and now - self._headers_since > LIMITS.header_timeout

    def refuse_slow(self) -> None:
        """Answer 408 and close: the headers did not arrive in time."""
        self._refuse(_TOO_SLOW)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        super().data_received(data)
        if self._headers_since is not None:
            self._header_bytes += len(data)
            if self._header_bytes > LIMITS.max_header_bytes:
                self._refuse(_TOO_LARGE)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._begin_headers()

    def on_headers_complete(self) -> None:
        self._end_headers()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        self._refuse(_UNPARSABLE)

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        super()._start_asgi_task(cycle, _busy if app is service_unavailable else app)


def _ensure_sweeper(server_state: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Start, once per server, the sweep that closes connections whose headers are overdue."""
    if getattr(server_state, "grokimagine_sweeping", False):
        return
    server_state.grokimagine_sweeping = True
    interval = min(1.0, LIMITS.header_timeout / 4)

    def sweep() -> None:
        now = loop.time()
        for connection in list(server_state.connections):
            if isinstance(connection, GuardedHttpToolsProtocol) and connection.headers_overdue(now):
                connection.refuse_slow()
        if server_state.connections:
            loop.call_later(interval, sweep)
        else:
            server_state.grokimagine_sweeping = False

    loop.call_later(interval, sweep)
