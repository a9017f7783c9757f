"""Keeps this process on the business settings in force (domain/operator/business_settings.py):
before a request, the newest version is applied if another process saved one."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from grokimagine.domain.billing.plans import plan_catalog
from grokimagine.domain.operator.business_settings import refresh_business_settings
from grokimagine.services import Services

log = logging.getLogger(__name__)


class BusinessSettingsRefresh:
    """ASGI middleware: refreshes ``services.settings`` (at most every few seconds) and the
    rate limits per plan that the gate holds."""

    def __init__(self, app: ASGIApp, *, services: Services, plan_limits: dict[str, int]) -> None:
        self.app = app
        self.services = services
        self.plan_limits = plan_limits
        self.applied_version = -1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                await refresh_business_settings(self.services)
            except Exception:
                # The settings in hand stay in force; a database outage must not also fail
                # /healthz or the requests that could still be served. Retried next request.
                log.warning("could not refresh the business settings", exc_info=True)
            if self.applied_version != self.services.business_version:
                self.plan_limits.clear()
                self.plan_limits.update(plan_catalog(self.services.settings).limits())
                self.applied_version = self.services.business_version
        await self.app(scope, receive, send)
