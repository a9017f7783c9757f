"""Routes for operators: liveness, readiness and Prometheus metrics (outside ``/v1``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from grokimagine.domain.operator.fleet import fleet_snapshot
from grokimagine.ops.metrics import CONTENT_TYPE, exposition
from grokimagine.services import Services

router = APIRouter(tags=["operations"], include_in_schema=False)
log = logging.getLogger("grokimagine.http")


@router.get("/healthz", operation_id="getHealth")
async def healthz() -> Response:
    """The process is up and answering."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz", operation_id="getReadiness")
async def readyz(request: Request) -> Response:
    """Ready to serve: the database and (when configured) Redis answer in time; else 503."""
    services: Services = request.app.state.services
    timeout = services.settings.readiness_timeout
    checks = {
        "database": await _check(_database_answers(services), timeout),
        "redis": (
            await _check(request.app.state.limiter.check(), timeout)
            if services.settings.redis_url
            else "not configured"
        ),
    }
    ready = all(state in ("ok", "not configured") for state in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics", operation_id="getMetrics")
async def metrics(request: Request) -> Response:
    """Prometheus text exposition: this host's API processes, and the queue and workers."""
    services: Services = request.app.state.services
    try:
        snapshot = await fleet_snapshot(services.db)
    except Exception:
        # The process's own metrics are still worth a scrape while the database is away.
        log.exception("metrics: the queue could not be read")
        snapshot = None
    body = await asyncio.to_thread(exposition, snapshot)
    return Response(body, media_type=CONTENT_TYPE)


async def _database_answers(services: Services) -> bool:
    return await services.db.ping()


async def _check(probe: Awaitable[bool], timeout: float) -> str:
    try:
        return "ok" if await asyncio.wait_for(probe, timeout) else "failing"
    except TimeoutError:
        return "timeout"
    except Exception as exc:
        log.warning("readiness check failed: %s", exc)
        return "unreachable"
