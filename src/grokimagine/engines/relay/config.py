"""Where a relay engine reaches its provider, and the limits it keeps toward it."""

from __future__ import annotations

from dataclasses import dataclass, field

from grokimagine.settings import Settings


@dataclass(frozen=True)
class ProviderConfig:
    """One provider endpoint and key, with timeouts, retries, concurrency and breaker limits."""

    name: str
    base_url: str
    api_key: str | None = field(default=None, repr=False)
    request_timeout: float = 30.0
    connect_timeout: float = 10.0
    download_timeout: float = 300.0
    max_download_bytes: int = 512 * 1024 * 1024
    retries: int = 3
    retry_backoff: float = 0.5
    max_retry_after: float = 60.0
    max_concurrency: int = 4
    queue_timeout: float = 300.0
    breaker_failures: int = 5
    breaker_reset_seconds: float = 60.0
    poll_interval: float = 2.0
    poll_max_interval: float = 15.0
    job_timeout: float = 900.0
    # Private hosts or networks result downloads may reach (GROKIMAGINE_FETCH_ALLOWLIST); the
    # API base's own host is always trusted, being the operator's choice.
    fetch_allowlist: tuple[str, ...] = ()

    @classmethod
    def from_settings(
        cls, settings: Settings, *, name: str, base_url: str, api_key: str | None
    ) -> ProviderConfig:
        """Provider ``name`` at ``base_url``, with the relay limits of ``settings``."""
        return cls(
            name=name,
            base_url=base_url.rstrip("/"),
            api_key=api_key,
            request_timeout=settings.relay.request_timeout,
            connect_timeout=settings.relay.connect_timeout,
            download_timeout=settings.relay.download_timeout,
            max_download_bytes=settings.relay.max_download_bytes,
            retries=settings.relay.retries,
            retry_backoff=settings.relay.retry_backoff,
            max_retry_after=settings.relay.max_retry_after,
            max_concurrency=settings.relay.max_concurrency,
            queue_timeout=settings.relay.queue_timeout,
            breaker_failures=settings.relay.breaker_failures,
            breaker_reset_seconds=settings.relay.breaker_reset_seconds,
            poll_interval=settings.relay.poll_interval,
            poll_max_interval=settings.relay.poll_max_interval,
            job_timeout=settings.relay.timeout,
            fetch_allowlist=tuple(settings.fetch_allowlist),
        )
