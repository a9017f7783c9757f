"""The service an operator command acts on: the one ``serve`` recorded, with the business
settings (plans, prices, ...) saved in its database."""

from __future__ import annotations

import asyncio

from grokimagine.domain.operator.business_settings import apply_values, current_version
from grokimagine.settings import Settings
from grokimagine.storage.db import Database
from grokimagine.storage.migrate import upgrade_database


def with_business_settings(settings: Settings) -> Settings:
    """``settings`` with the service's business settings (plans, prices, ...) from its database,
    so that a command knows a plan an operator added in /admin."""
    upgrade_database(settings.resolved_database_url)

    async def read() -> Settings:
        db = Database(settings.resolved_database_url)
        try:
            version = await current_version(db)
        finally:
            await db.dispose()
        return settings if version is None else apply_values(settings, version.values)

    return asyncio.run(read())
