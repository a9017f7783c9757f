"""Settings of the service itself: limits, plans, prices, the HTTP server, storage, webhooks,
event streams."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from grokimagine.settings.base import SettingsGroup

_PLAN_NAME = re.compile(r"[A-Za-z0-9_-]{1,20}")


class PlanFields(BaseModel):
    """An operator's plan (or the fields of a default plan it changes); see
    domain/billing/plans.py."""

    model_config = ConfigDict(extra="forbid", strict=True)

    requests_per_minute: int | None = Field(None, ge=1)
    allow_spicy: bool | None = None
    max_active_tasks: int | None = Field(None, ge=1)
    monthly_credits: int | None = Field(None, ge=0, le=10**12)


class LimitSettings(SettingsGroup):
    """Request limits: rates per plan, failed authentications, body and image sizes."""

    plan_limits: dict[str, int] = Field(
        default_factory=dict,
        description='Requests per minute per plan, over the defaults, e.g. {"free": 60}.',
    )
    auth_failure_limit: int = Field(
        30, ge=1, description="Failed authentications per client address per minute."
    )
    max_body_bytes: int = Field(48 * 1024 * 1024, description="Largest request body accepted.")
    max_image_bytes: int = Field(8 * 1024 * 1024, description="Largest input image accepted.")
    image_fetch_timeout: float = Field(10.0, gt=0, description="Seconds to fetch one image.")
    max_video_bytes: int = Field(
        32 * 1024 * 1024, gt=0, description="Largest source video of an extend or edit."
    )
    max_video_seconds: float = Field(
        30.0, gt=0, description="Longest source video of an extend or edit, in seconds."
    )
    video_fetch_timeout: float = Field(30.0, gt=0, description="Seconds to fetch a source video.")
    prefer_wait_max_seconds: int = Field(
        60, ge=0, le=60, description="Longest Prefer: wait=N honoured on generate (at most 60)."
    )
    signature_failure_limit: int = Field(
        60, ge=1, description="Invalid signed file URLs per client address per minute."
    )

    plans: dict[str, PlanFields] = Field(
        default_factory=dict,
        description="Plans over the three defaults (JSON), e.g. "
        '{"studio": {"requests_per_minute": 300, "allow_spicy": false, "max_active_tasks": 4, '
        '"monthly_credits": 2000}}; a default plan\'s name changes only the fields given.',
    )

    @field_validator("plans")
    @classmethod
    def _plan_names(cls, plans: dict[str, PlanFields]) -> dict[str, PlanFields]:
        for name in plans:
            if not _PLAN_NAME.fullmatch(name):
                raise ValueError(f"{name!r}: a plan name is 1-20 letters, digits, - or _")
        return plans


class HttpServerSettings(SettingsGroup):
    """Connections of ``serve``: uvicorn's, with our header guards (http/edge/connections.py)."""

    flat_prefix = "http_"

    max_header_bytes: int = Field(
        64 * 1024, ge=4096, description="Largest request head (line and headers); over: 431."
    )
    header_timeout: float = Field(
        10.0, gt=0, description="Seconds a request's headers may take to arrive; over: 408."
    )
    max_connections: int = Field(
        2048, ge=1, description="Open connections (or requests) per process; over: 503."
    )
    keepalive_seconds: float = Field(
        5.0, gt=0, description="An idle keep-alive connection is closed after this long."
    )


class PricingSettings(SettingsGroup):
    """What a video costs in credits, and what a credit is worth (README: Plans and prices)."""

    flat_prefix = "pricing_"

    table: str | None = Field(
        None,
        description="Price table, JSON text or a .json/.toml file (checked at start-up); unset: "
        "480p 4 + 6 credits a second (6 s: 40), 720p 4 + 9 a second.",
    )
    usd_per_credit: Decimal = Field(
        Decimal("0.01"), ge=0, description="What a credit sells for, for the margin report."
    )


class S3Settings(SettingsGroup):
    """The S3-compatible store (``GROKIMAGINE_STORAGE=s3``; docs/deploy.md)."""

    flat_prefix = "s3_"

    bucket: str | None = Field(None, description="Bucket of the S3 store.")
    endpoint_url: str | None = Field(
        None, description="S3 endpoint, e.g. http://minio:9000; unset: AWS."
    )
    public_endpoint_url: str | None = Field(
        None, description="Endpoint in presigned URLs, if clients reach the store elsewhere."
    )
    region: str = Field("us-east-1", description="Region of the bucket.")
    access_key_id: str | None = Field(None, description="Unset: boto3's credential chain.")
    secret_access_key: SecretStr | None = Field(None, description="Secret of that key.")
    prefix: str = Field("", description="Prefix of every object key, e.g. grokimagine/.")
    addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto", description="Bucket in the path or the host name; auto: path with an endpoint."
    )


class WebhookSettings(SettingsGroup):
    """Deliveries of ``callback_url``: signed, retried with backoff for a day (README.md)."""

    flat_prefix = "webhook_"

    timeout: float = Field(10.0, gt=0, description="Seconds a webhook POST may take.")
    retry_base_seconds: float = Field(
        5.0, gt=0, description="First retry delay; it doubles per attempt, plus jitter."
    )
    retry_max_delay_seconds: float = Field(
        4 * 3600.0, gt=0, description="Longest delay between two attempts."
    )
    retry_hours: float = Field(
        24.0, gt=0, description="Retries stop this long after the delivery was created."
    )
    poll_seconds: float = Field(1.0, gt=0, description="Idle delivery loop's polling.")
    concurrency: int = Field(8, ge=1, description="Deliveries sent at once per process.")


class EventSettings(SettingsGroup):
    """Task event streams (``GET /v1/tasks/{task_id}/events``)."""

    flat_prefix = "events_"

    heartbeat_seconds: float = Field(
        15.0, gt=0, description="Quiet seconds before a task event stream sends a heartbeat."
    )
    poll_seconds: float = Field(
        1.0,
        gt=0,
        description="Event streams re-check their tasks this often in case a change went unheard"
        " (a SQLite worker in another process); announced changes arrive at once.",
    )
