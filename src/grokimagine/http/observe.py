"""Every HTTP request measured and logged: a request id, Prometheus metrics, one JSON line.

Plain ASGI, outermost in the stack, so that it sees the gate's refusals too and costs no more
than a few microseconds: the metric children are looked up once per (route, method, status).
Only the method, the path (never the query), the status, the duration and the request id are
logged: tokens travel in the Authorization header, which is never read here.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grokimagine.ops.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = logging.getLogger("grokimagine.request")

_VALID_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_REQUEST_ID = b"x-request-id"


class RequestObserver:
    """Stamps ``X-Request-ID`` (the client's, if sane, else a new one), counts and logs."""

    def __init__(
        self, app: ASGIApp, *, route_paths: Callable[[], frozenset[str]], log_requests: bool
    ) -> None:
        self.app = app
        self._route_paths = route_paths
        self._known_paths: frozenset[str] | None = None
        self.log_requests = log_requests
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _client_request_id(scope) or secrets.token_hex(16)
        scope.setdefault("state", {})["request_id"] = request_id
        header = (_REQUEST_ID, request_id.encode())
        status = 500

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            self._record(scope, status, request_id, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, request_id: str, elapsed: float) -> None:
        method = scope["method"]
        route = scope.get("route")
        route = getattr(route, "path", None) or self._unrouted_label(scope["path"])
        counter = self._counters.get((route, method, status))
        if counter is None:
            counter = self._counters[(route, method, status)] = HTTP_REQUESTS.labels(
                route, method, str(status)
            )
        histogram = self._histograms.get(route)
        if histogram is None:
            histogram = self._histograms[route] = HTTP_LATENCY.labels(route)
        counter.inc()
        histogram.observe(elapsed)
        if self.log_requests:
            log.info(
                "%s %s %d",
                method,
                scope["path"],
                status,
                extra={
                    "method": method,
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "request_id": request_id,
                },
            )

    def _unrouted_label(self, path: str) -> str:
        """A request refused before routing (by the gate): its path if a route has it."""
        if self._known_paths is None:
            self._known_paths = self._route_paths()
        return path if path in self._known_paths else "unmatched"


def _client_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == _REQUEST_ID:
            return value.decode() if _VALID_ID.fullmatch(value) else None
    return None
