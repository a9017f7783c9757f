"""The ASGI application."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Protocol

from fastapi import FastAPI

from grokimagine import __version__
from grokimagine.domain.plans import plan_limits
from grokimagine.http import files, ops, routes
from grokimagine.http.errors import install_error_handlers
from grokimagine.http.gate import ApiGate
from grokimagine.http.observe import RequestObserver
from grokimagine.services import Services

DESCRIPTION = """
Generate videos from text and images. Authenticate with `Authorization: Bearer <token>`.
Every response is JSON: `{"code": 200, "message": "success", "data": {...}}` on success,
`{"code": <status>, "message": "...", "error": "<CODE>"}` on failure. Every `/v1` response
carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`.
"""


class BackgroundWorker(Protocol):
    """Something that runs beside the API for its whole life: the in-process worker."""

    def wake(self) -> None: ...

    def stop(self) -> None: ...

    async def run(self) -> None: ...


SHUTDOWN_GRACE_SECONDS = 30.0


def create_app(services: Services, *, worker: BackgroundWorker | None = None) -> FastAPI:
    """The API over ``services``, with ``worker`` (if any) running as long as the app."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        running = None
        if worker is not None:
            services.task_created_listeners.append(worker.wake)
            running = asyncio.create_task(worker.run())
        try:
            yield
        finally:
            if worker is not None and running is not None:
                worker.stop()
                # The task in hand stops at its engine's next step and goes back to the queue.
                try:
                    await asyncio.wait_for(running, SHUTDOWN_GRACE_SECONDS)
                except TimeoutError:
                    running.cancel()
            await services.close()

    app = FastAPI(
        title="GrokImagine API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    app.include_router(routes.router)
    app.include_router(files.router)
    app.include_router(ops.router)
    settings = services.settings
    app.add_middleware(
        ApiGate,
        authenticator=services.authenticator,
        limiter=services.limiter,
        plan_limits=plan_limits(settings.plan_limits),
        auth_failure_limit=settings.auth_failure_limit,
        max_body_bytes=settings.max_body_bytes,
    )
    # Added last, so outermost: it sees (and times) the gate's refusals too.
    app.add_middleware(
        RequestObserver,
        route_paths=lambda: frozenset(app.openapi()["paths"]),
        request_log=settings.request_log,
        slow_seconds=settings.slow_request_seconds,
    )
    return app


def create_app_from_env() -> FastAPI:
    """The app of one ``serve`` process, from ``GROKIMAGINE_*`` variables (uvicorn's factory).

    Each of ``serve --workers N``'s processes calls this; nothing is shared between them but
    the database, Redis and the file store.
    """
    from grokimagine.ops.logs import configure_logging
    from grokimagine.services import build_services
    from grokimagine.settings import Settings
    from grokimagine.worker.loop import Worker

    settings = Settings()
    configure_logging(settings.log_format)
    services = build_services(settings)
    worker = Worker(services) if settings.in_process_worker else None
    return create_app(services, worker=worker)
