"""Every HTTP request measured and logged: a request id, Prometheus metrics, one JSON line.

Plain ASGI, outermost in the stack, so that it sees the gate's refusals too and costs no more
than a few microseconds: the metric children are looked up once per (route, method, status).
Only the method, the path (never the query), the status, the duration and the request id are
logged: tokens travel in the Authorization header, which is never read here.

By default (``request_log=changes``) a successful, quick GET is counted but not logged: clients
poll their tasks every second or so, those lines would be most of the log, and writing each one
costs more than the rest of a status poll's overhead (bench/RESULTS.md). Writes, errors and slow
requests are always logged; ``all`` logs everything.
"""

from __future__ import annotations

import itertools
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
        self,
        app: ASGIApp,
        *,
        route_paths: Callable[[], frozenset[str]],
        request_log: str,
        slow_seconds: float,
    ) -> None:
        self.app = app
        self._route_paths = route_paths
        self._known_paths: frozenset[str] | None = None
        self.request_log = request_log
        self.slow_seconds = slow_seconds
        self._counters: dict[tuple[str, str, int], Any] = {}
        # A random prefix per process and a counter: unique across processes and restarts,
        # without a call to the system's random source on every request.
        prefix = secrets.token_hex(12)
        counter = itertools.count(1)
        self._new_id = lambda: f"{prefix}{next(counter):08x}"
        self._histograms: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _client_request_id(scope) or self._new_id()
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
        if self._worth_logging(method, status, elapsed):
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

    def _worth_logging(self, method: str, status: int, elapsed: float) -> bool:
        if self.request_log == "changes":
            quiet = method in ("GET", "HEAD") and status < 400 and elapsed < self.slow_seconds
            return not quiet
        return self.request_log == "all"

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
