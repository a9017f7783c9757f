"""The hottest routes answered by the gate without the router (issue 20).

A status poll or a generate admitted by the gate (``gate.py``) would next pass the error
boundary, Starlette's exception middleware, FastAPI's exit-stack middleware and the router,
which matches the path against the routes one by one (twice per included router) before it
calls the route: a fifth of a status poll's CPU. For an exact method and path listed here,
the gate calls the route's endpoint itself, through the same pieces that make up its behaviour
on the long way, reused rather than re-implemented:

- the route is the one the router picks (``scope["route"]``: the request's metric label);
- the app's exception handlers are the very tables of the app's ``ExceptionMiddleware``,
  applied by Starlette's own ``wrap_app_handling_exceptions`` around the endpoint and its
  response, as FastAPI's ``request_response`` does;
- what escapes them goes to ``ErrorBoundary``, as on the long way.

What is skipped does nothing for these routes: they take the ``Request`` and return a
``Response`` by themselves (``DirectRoute``: no dependencies, so no exit stacks, no
parameters, no body-size limit of FastAPI's: none is set in this app). Only an exact method
and path, with no ``root_path`` and no FastAPI tracing, is taken here; anything else (``HEAD``,
a trailing slash, a mounted app, an OpenTelemetry provider installed) goes the long way.
``tests/http/test_hot_routes.py`` sends the same battery of requests both ways and compares
every status, header and body, the metrics and the log lines.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from starlette._exception_handler import wrap_app_handling_exceptions
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from grokimagine.http.edge.boundary import ErrorBoundary


class DirectEndpoint(Protocol):
    """A route whose endpoint takes the request and returns the response (``DirectRoute``)."""

    path: str
    methods: set[str] | None
    endpoint: Callable[[Request], Awaitable[Response]]


class HotRoutes:
    """Finds the ASGI app that answers a hot (method, path) directly, or ``None``."""

    def __init__(self, routes: Iterable[DirectEndpoint]) -> None:
        self._routes = list(routes)
        self._apps: dict[tuple[str, str], ASGIApp] | None = None

    def app_for(self, scope: Scope, inner: ASGIApp) -> ASGIApp | None:
        """The direct app for ``scope``; ``inner`` is the gate's next app (the long way)."""
        if self._apps is None:
            # Built on the first request, as the app's middleware stack is: every exception
            # handler is installed by then.
            self._apps = self._build(inner)
        if scope.get("root_path") or "fastapi.telemetry" in scope:
            # Mounted under a prefix, or traced by FastAPI's OpenTelemetry (which the router
            # tells the route's name): the long way.
            return None
        return self._apps.get((scope["method"], scope["path"]))

    def _build(self, inner: ASGIApp) -> dict[tuple[str, str], ASGIApp]:
        handlers = _exception_tables(inner)
        if handlers is None:  # not the stack this was written for: always the long way
            return {}
        return {
            (method, route.path): ErrorBoundary(_direct(route, handlers))
            for route in self._routes
            for method in route.methods or ()
            if method != "HEAD"
        }


def _exception_tables(inner: ASGIApp) -> tuple[Any, Any] | None:
    """The exception and status handler tables of the app's ``ExceptionMiddleware``, found
    down the chain of middleware below the gate."""
    node: Any = inner
    while node is not None:
        if isinstance(node, ExceptionMiddleware):
            # Starlette's own attributes: should a release rename them, the hot routes go the
            # long way (and tests/http/test_hot_routes.py says so), never answer wrongly.
            exceptions = getattr(node, "_exception_handlers", None)
            statuses = getattr(node, "_status_handlers", None)
            if exceptions is None or statuses is None:
                return None
            return (exceptions, statuses)
        node = getattr(node, "app", None)
    return None


def _direct(route: DirectEndpoint, handlers: tuple[Any, Any]) -> ASGIApp:
    endpoint = route.endpoint

    async def direct(scope: Scope, receive: Receive, send: Send) -> None:
        # What the exception middleware and the router leave in the scope for the route.
        scope["starlette.exception_handlers"] = handlers
        scope["route"] = route
        scope["endpoint"] = endpoint
        scope["path_params"] = {}
        request = Request(scope, receive, send)

        async def answer(scope: Scope, receive: Receive, send: Send) -> None:
            response = await endpoint(request)
            await response(scope, receive, send)

        await wrap_app_handling_exceptions(answer, request)(scope, receive, send)

    return direct
