"""Connection limits that uvicorn's httptools protocol does not have: a cap on request-header
bytes and a header-read timeout (slowloris), with refusals in our error body.

uvicorn with h11 caps headers but not their read time, and serves a third fewer status polls;
granian has both limits but served fewer still on this machine (bench/RESULTS.md, "HTTP server").
So ``serve`` runs uvicorn with httptools and this protocol, which adds the two guards:

- while a request's headers are being read, the bytes received are counted; past
  ``http_max_header_bytes`` the client gets 431 and the connection is closed, so a huge header
  never grows past the cap plus one read;
- a request's headers (or a new connection's first bytes) must arrive within
  ``http_header_timeout`` seconds, else 408 and close: a client sending one byte at a time
  cannot hold a connection.

Connections and keep-alive are uvicorn's own settings (``limit_concurrency``,
``timeout_keep_alive``); the 503 it sends past the connection cap is given our error body too.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from grokimagine.http.envelope import error_body

PROTOCOL_PATH = "grokimagine.http.connections:GuardedHttpToolsProtocol"


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
        self._reading_headers = False
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A connection that never sends a byte is held no longer than a slow one.
        self._begin_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_headers()
        super().connection_lost(exc)

    def _begin_headers(self) -> None:
        if self._reading_headers:
            return
        self._reading_headers = True
        self._header_bytes = 0
        self._header_timer = self.loop.call_later(LIMITS.header_timeout, self._headers_too_slow)

    def _end_headers(self) -> None:
        self._reading_headers = False
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _refuse(self, response: bytes) -> None:
        self._end_headers()
        if not self.transport.is_closing():
            # A response still being written for an earlier (pipelined) request is cut short:
            # nothing else can be said on this connection.
            if self.cycle is None or self.cycle.response_complete:
                self.transport.write(response)
            self.transport.close()

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        self._refuse(_TOO_SLOW)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        super().data_received(data)
        if self._reading_headers:
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
