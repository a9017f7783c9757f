"""The last line behind every route: an unexpected exception is answered, and the connection kept.

Starlette answers an unhandled exception with the app's ``Exception`` handler and then raises it
again, and the server closes the keep-alive connection of any request that raised (uvicorn does,
once a response has started). A client pooling connections then loses one per error. Here the
exception is answered by the same handler (the API's JSON body, or the console's page) and not
raised again: the connection stays usable for the next request.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ErrorBoundary:
    """Answers what escaped every exception handler with the app's ``Exception`` handler."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            handler = scope["app"].exception_handlers.get(Exception)
            if started or handler is None:
                raise  # half a response is out: only closing the connection ends it cleanly
            response = await handler(Request(scope, receive), exc)
            await response(scope, receive, send)
