"""The ASGI application."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from fastapi import FastAPI

from grokimagine import __version__
from grokimagine.domain.billing.plans import plan_catalog
from grokimagine.domain.operator.business_settings import check_business_settings
from grokimagine.http.admin import accounts as admin_routes
from grokimagine.http.admin import money as admin_money_routes
from grokimagine.http.admin import operations as admin_ops_routes
from grokimagine.http.admin import ops
from grokimagine.http.admin import settings as admin_settings_routes
from grokimagine.http.edge.auth import Authenticator
from grokimagine.http.edge.boundary import ErrorBoundary
from grokimagine.http.edge.gate import ApiGate
from grokimagine.http.edge.hot_routes import HotRoutes
from grokimagine.http.edge.observe import RequestObserver
from grokimagine.http.edge.ratelimit import RateLimiter, storage_for
from grokimagine.http.edge.settings_refresh import BusinessSettingsRefresh
from grokimagine.http.errors import install_error_handlers
from grokimagine.http.openai import schemas as openai_schemas
from grokimagine.http.openai import videos as openai_routes
from grokimagine.http.openai.errors import OpenAIErrorEnvelope
from grokimagine.http.openapi.document import install_openapi
from grokimagine.http.openapi.shaping import camel_case_operation_id, shape_for_generators
from grokimagine.http.v1 import account as account_routes
from grokimagine.http.v1 import files, task_events
from grokimagine.http.v1 import generate as routes
from grokimagine.http.v1 import money as money_routes
from grokimagine.http.v1 import tasks as task_routes
from grokimagine.http.v1 import video_operations as video_routes
from grokimagine.http.v1.schemas import GenerateRequest
from grokimagine.http.v1.video_schemas import EditRequest, ExtendRequest
from grokimagine.services import Services

DESCRIPTION = """
Generate videos from text and images. Authenticate with `Authorization: Bearer <token>`.
Every response is JSON: `{"code": 200, "message": "success", "data": {...}}` on success,
`{"code": <status>, "message": "...", "error": "<CODE>"}` on failure. Every `/v1` response
carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`.
"""


OPENAPI_TAGS = [
    {
        "name": "admin",
        "description": "Operators' API under /admin/v1: accounts, keys, credits, tasks across"
        " accounts, usage and margin, workers, the audit log. Authenticate with an admin key"
        " (`Bearer gi_admin_...`, made by `grokimagine admin-keys create`); API keys are refused"
        " here and admin keys on /v1.",
    }
]


class BackgroundWorker(Protocol):
    """Something that runs beside the API for its whole life: the in-process worker."""

    def wake(self) -> None: ...

    def stop(self) -> None: ...

    async def run(self) -> None: ...


SHUTDOWN_GRACE_SECONDS = 30.0


def create_app(
    services: Services,
    *,
    worker: BackgroundWorker | None = None,
    webhooks: BackgroundWorker | None = None,
    hot_routes: bool = True,
) -> FastAPI:
    """The API over ``services``, with ``worker`` and the ``webhooks`` delivery loop (if given)
    running as long as the app; ``hot_routes=False`` sends status polls and generates through
    the router too (the tests compare both ways)."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runners = [runner for runner in (worker, webhooks) if runner is not None]
        if worker is not None:
            services.task_created_listeners.append(worker.wake)
        running = [asyncio.create_task(runner.run()) for runner in runners]
        try:
            yield
        finally:
            for runner in runners:
                runner.stop()
            if running:
                # The task in hand stops at its engine's next step and goes back to the queue.
                _, late = await asyncio.wait(running, timeout=SHUTDOWN_GRACE_SECONDS)
                for task in late:
                    task.cancel()
            await app.state.task_watcher.close()
            await services.close()

    app = FastAPI(
        title="GrokImagine API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=OPENAPI_TAGS,
        generate_unique_id_function=camel_case_operation_id,
    )
    settings = services.settings
    check_business_settings(settings)  # a bad price table or plan stops the start, named
    app.state.services = services
    install_openapi(app)
    app.state.task_watcher = task_events.build_task_watcher(services)
    app.state.webhook_sender = webhooks  # woken by a test event or a resend
    app.state.limiter = limiter = RateLimiter(
        storage_for(settings.redis_url, settings.redis_prefix)
    )
    install_error_handlers(app)
    app.include_router(routes.router)
    app.include_router(video_routes.router)
    app.include_router(task_routes.router)
    app.include_router(task_events.router)
    app.webhooks.include_router(task_routes.webhooks)
    app.include_router(account_routes.router)
    app.include_router(money_routes.router)
    app.include_router(files.router)
    app.include_router(ops.router)
    app.include_router(admin_routes.router)
    app.include_router(admin_ops_routes.router)
    app.include_router(admin_settings_routes.router)
    app.include_router(admin_money_routes.router)
    app.include_router(openai_routes.router)  # OpenAI's Videos API shape (issue 22)
    # Kept on the app so that an admin change to an account drops its cached keys here at once.
    app.state.authenticator = authenticator = Authenticator(
        services.db, settings.auth_cache_seconds
    )
    # POST /v1/generate parses its own body; its schema is listed for generators all the same.
    shape_for_generators(
        app, [GenerateRequest, ExtendRequest, EditRequest, *openai_schemas.REQUEST_BODIES]
    )
    app.add_middleware(ErrorBoundary)  # innermost: a 500 keeps the connection (issue 21)
    plan_limits = plan_catalog(settings).limits()  # kept current by BusinessSettingsRefresh
    app.add_middleware(
        ApiGate,
        authenticator=authenticator,
        limiter=limiter,
        plan_limits=plan_limits,
        auth_failure_limit=settings.limits.auth_failure_limit,
        max_body_bytes=settings.limits.max_body_bytes,
        hot_routes=HotRoutes(routes.hot_routes()) if hot_routes else None,
    )
    # Outside the gate: the gate limits by the plans in force.
    app.add_middleware(BusinessSettingsRefresh, services=services, plan_limits=plan_limits)
    # Around the gate: its refusals on /v1/videos and /v1/models get OpenAI's envelope too.
    app.add_middleware(OpenAIErrorEnvelope)
    # Added last, so outermost: it sees (and times) the gate's refusals too.
    app.add_middleware(
        RequestObserver,
        route_paths=lambda: frozenset(app.openapi()["paths"]),
        request_log=settings.request_log,
        slow_seconds=settings.slow_request_seconds,
    )
    return app


def create_app_from_env(build: Callable[..., FastAPI] = create_app) -> FastAPI:
    """The app of one ``serve`` process, from ``GROKIMAGINE_*`` variables (uvicorn's factory).

    Each of ``serve --workers N``'s processes calls this; nothing is shared between them but
    the database, Redis and the file store. ``build`` makes the app from the services (the
    console's adds its pages to the API's).
    """
    from grokimagine.http.edge import connections
    from grokimagine.ops.logs import configure_logging
    from grokimagine.services import build_services
    from grokimagine.settings import Settings
    from grokimagine.worker.loop import Worker
    from grokimagine.worker.webhook_sender import WebhookSender

    settings = Settings()
    configure_logging(settings.log_format)
    connections.configure(settings.http.max_header_bytes, settings.http.header_timeout)
    services = build_services(settings)
    if not settings.in_process_worker:
        app = build(services)
    else:
        # Webhook deliveries go out from wherever workers run (they create most of them).
        app = build(services, worker=Worker(services), webhooks=WebhookSender(services))
    # Modules, routes, models and tables live as long as the process: kept out of the
    # collector's full passes, which would walk them all while every open stream waits.
    gc.freeze()
    return app
