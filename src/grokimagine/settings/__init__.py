"""Service configuration: one settings object, read from ``GROKIMAGINE_*`` variables at start-up.

Settings that belong together live in groups (``settings.relay``, ``settings.xai``,
``settings.openai_videos``, ``settings.diffusers``, ``settings.s3``, ``settings.webhooks``,
``settings.limits``); the variable names stay flat, e.g. ``GROKIMAGINE_XAI_API_KEY`` is
``settings.xai.api_key`` and ``GROKIMAGINE_MAX_BODY_BYTES`` is ``settings.limits.max_body_bytes``.
``Settings(xai_api_key=...)`` takes the same flat names."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from grokimagine.settings.base import (
    EnvironmentSettings,
    SettingsGroup,
    _split_comma_list,
    copying_settings,
)
from grokimagine.settings.engines import (
    DiffusersSettings,
    OpenAIVideosSettings,
    RelaySettings,
    SglangSettings,
    VllmOmniSettings,
    XaiSettings,
)
from grokimagine.settings.people import (
    ConsoleSettings,
    OpenAIApiSettings,
    SelfServiceSettings,
    SmtpSettings,
    StripeSettings,
)
from grokimagine.settings.service import (
    EventSettings,
    HttpServerSettings,
    LimitSettings,
    PricingSettings,
    S3Settings,
    WebhookSettings,
)

# Attribute of Settings -> its group.
GROUPS: dict[str, type[SettingsGroup]] = {
    "limits": LimitSettings,
    "http": HttpServerSettings,
    "relay": RelaySettings,
    "xai": XaiSettings,
    "openai_videos": OpenAIVideosSettings,
    "diffusers": DiffusersSettings,
    "sglang": SglangSettings,
    "vllm_omni": VllmOmniSettings,
    "s3": S3Settings,
    "webhooks": WebhookSettings,
    "console": ConsoleSettings,
    "events": EventSettings,
    "pricing": PricingSettings,
    "smtp": SmtpSettings,
    "selfservice": SelfServiceSettings,
    "stripe": StripeSettings,
    "openai_api": OpenAIApiSettings,
}


class Settings(EnvironmentSettings):
    """Everything an operator can set. Environment variables are ``GROKIMAGINE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="GROKIMAGINE_", extra="ignore")

    data_dir: Path = Field(Path("./data"), description="Database file, videos and secrets.")
    database_url: str | None = Field(
        None, description="SQLAlchemy or plain postgresql:// URL; SQLite in data_dir if unset."
    )
    redis_url: str | None = Field(None, description="Redis for rate limits; in memory if unset.")
    redis_prefix: str = Field("grokimagine", description="Prefix of this service's Redis keys.")
    public_url: str | None = Field(
        None, description="Base of the video URLs; http://HOST:PORT of the server if unset."
    )
    signing_secret: str | None = Field(
        None, description="Secret for signed URLs; kept in data_dir/secret.key if unset."
    )
    engine: str = Field("preview", description="Engine the worker runs: preview, ...")
    fetch_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts or CIDR ranges that image fetches may reach although private.",
    )
    url_ttl_seconds: int = Field(3600, gt=0, description="Lifetime of signed video URLs.")
    auth_cache_seconds: float = Field(
        2.0, ge=0, description="How long a token lookup is cached; revocation takes this long."
    )
    demo_credits: int = Field(4000, ge=0, le=10**12, description="Credits of the demo account.")
    sqlite_write_wait_seconds: float = Field(
        10.0,
        gt=0,
        description="On SQLite, how long a write waits for another process's write lock"
        " (without blocking the server) before the request gets 503 SERVICE_BUSY.",
    )

    # Worker
    lease_seconds: float = Field(60.0, gt=0, description="How long a claim lasts without renewal.")
    max_attempts: int = Field(3, ge=1, description="Runs of a task before it is failed.")
    poll_seconds: float = Field(1.0, gt=0, description="Idle worker's polling interval.")
    preview_concurrency: int | None = Field(
        None,
        ge=1,
        description="Preview tasks one worker runs at once; unset: the CPU cores it may use.",
    )

    # Engines and routing (docs/relay.md)
    routes: dict[str, list[str]] = Field(
        default_factory=dict,
        description='Engines per plan or mode, JSON: {"default": [...], "plan:pro": [...], '
        '"mode:spicy": [...], "plan:pro+mode:fun": [...]}; unset: [engine].',
    )
    engine_plugins: dict[str, str] = Field(
        default_factory=dict,
        description='Extra engines, JSON {"name": "module:factory"}; factory(settings) -> engine.',
    )

    # Scale-out (docs/deploy.md)
    worker_engines: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Engines this worker serves, comma-separated; it claims only tasks whose "
        "route starts with one of them. Unset: every engine of its routes.",
    )
    in_process_worker: bool = Field(
        True, description="serve runs a worker in each API process (--no-worker: none)."
    )
    worker_name: str | None = Field(
        None, description="Worker name in leases, logs and metrics; unset: the host name."
    )
    listen_notify: bool = Field(
        True, description="On PostgreSQL, wake idle workers by LISTEN/NOTIFY when a task is made."
    )
    storage: Literal["local", "s3"] = Field(
        "local", description="Where inputs and videos live: local files or an S3-compatible store."
    )
    log_format: Literal["json", "text"] = Field("json", description="Log lines: JSON or text.")
    request_log: Literal["all", "changes", "off"] = Field(
        "changes",
        description=(
            "Per-request log lines: all; changes (writes, errors and slow requests: not the"
            " successful status polls, which metrics count); off."
        ),
    )
    slow_request_seconds: float = Field(
        1.0, gt=0, description="A request this slow is logged under request_log=changes."
    )
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="Port of a worker's own /metrics; unset: none."
    )
    readiness_timeout: float = Field(
        2.0, gt=0, description="Seconds /readyz waits for the database and Redis."
    )

    # Groups: each reads its own GROKIMAGINE_* variables (see GROUPS).
    limits: LimitSettings = Field(default_factory=LimitSettings)
    http: HttpServerSettings = Field(default_factory=HttpServerSettings)
    relay: RelaySettings = Field(default_factory=RelaySettings)
    xai: XaiSettings = Field(default_factory=XaiSettings)
    openai_videos: OpenAIVideosSettings = Field(default_factory=OpenAIVideosSettings)
    diffusers: DiffusersSettings = Field(default_factory=DiffusersSettings)
    sglang: SglangSettings = Field(default_factory=SglangSettings)
    vllm_omni: VllmOmniSettings = Field(default_factory=VllmOmniSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    events: EventSettings = Field(default_factory=EventSettings)
    pricing: PricingSettings = Field(default_factory=PricingSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    selfservice: SelfServiceSettings = Field(default_factory=SelfServiceSettings)
    stripe: StripeSettings = Field(default_factory=StripeSettings)
    openai_api: OpenAIApiSettings = Field(default_factory=OpenAIApiSettings)

    @model_validator(mode="before")
    @classmethod
    def _gather_flat_names(cls, data: Any) -> Any:
        """Move flat names (``xai_api_key``) into their group, which reads the rest from env."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name, group in GROUPS.items():
            flat = {
                field: data.pop(group.flat_prefix + field)
                for field in group.model_fields
                if group.flat_prefix + field in data
            }
            given = data.get(name)
            if not flat and not isinstance(given, dict):
                continue
            base = given.model_dump() if isinstance(given, SettingsGroup) else dict(given or {})
            data[name] = group(**{**base, **flat})
        return data

    @field_validator("fetch_allowlist", "worker_engines", mode="before")
    @classmethod
    def _split_lists(cls, value: object) -> object:
        return _split_comma_list(value)

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'grokimagine.db').resolve()}"

    def replace(self, **changes: Any) -> Settings:
        """A validated copy with ``changes`` (flat names such as ``xai_api_key``, or groups)."""
        with copying_settings():
            return type(self).model_validate({**self.model_dump(), **changes})
