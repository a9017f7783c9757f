"""The composition root: builds the shared objects (database, storage, limiter) from settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from grokimagine.engines.routing import EngineRouter
from grokimagine.net.policy import Allowlist
from grokimagine.settings import Settings
from grokimagine.storage.db import Database
from grokimagine.storage.files import FileStore, LocalFileStore
from grokimagine.storage.signing import UrlSigner, load_or_create_secret


@dataclass
class Services:
    """Everything a request handler or a worker needs, built once per process."""

    settings: Settings
    db: Database
    store: FileStore
    fetch_allowlist: Allowlist
    router: EngineRouter  # which engines serve which tasks; engines are built on first use
    # Called after a task is created, to wake an idle worker at once.
    task_created_listeners: list[Callable[[], None]] = field(default_factory=list)
    # The business settings version applied to ``settings`` (domain/operator/business_settings),
    # when this process last checked for a newer one, and its retention days per plan.
    business_version: int = 0
    business_checked_at: float = 0.0
    # The write of version 1 on a first start, run beside the requests (never in their way).
    business_seeding: Any = None
    retention_days: dict[str, int] = field(default_factory=dict)

    def task_created(self) -> None:
        """Tell the listeners that a new task is waiting."""
        for listener in self.task_created_listeners:
            listener()

    async def close(self) -> None:
        """Release connections."""
        self.router.close()
        await self.db.dispose()


def build_services(settings: Settings, *, public_url: str | None = None) -> Services:
    """Build the services for ``settings``; ``public_url`` is the fallback base of video URLs."""
    db = Database(
        settings.resolved_database_url, write_wait_seconds=settings.sqlite_write_wait_seconds
    )
    return Services(
        settings=settings,
        db=db,
        store=build_file_store(settings, public_url),
        fetch_allowlist=Allowlist.parse(settings.fetch_allowlist),
        router=EngineRouter(settings),
    )


def build_file_store(settings: Settings, public_url: str | None = None) -> FileStore:
    """Local files under signed URLs (the default), or the S3 store the settings name."""
    if settings.storage == "s3":
        from grokimagine.storage.s3 import S3FileStore  # boto3 is imported only when chosen

        return S3FileStore.from_settings(settings)
    secret = (
        settings.signing_secret.encode()
        if settings.signing_secret
        else load_or_create_secret(settings.data_dir / "secret.key")
    )
    base_url = settings.public_url or public_url or "http://127.0.0.1:8000"
    return LocalFileStore(settings.data_dir / "files", base_url, UrlSigner(secret))
