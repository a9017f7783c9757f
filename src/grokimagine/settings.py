"""Service configuration: one settings object, read from ``GROKIMAGINE_*`` variables at start-up.

Settings that belong together live in groups (``settings.relay``, ``settings.xai``,
``settings.openai_videos``, ``settings.diffusers``, ``settings.s3``, ``settings.webhooks``,
``settings.limits``); the variable names stay flat, e.g. ``GROKIMAGINE_XAI_API_KEY`` is
``settings.xai.api_key`` and ``GROKIMAGINE_MAX_BODY_BYTES`` is ``settings.limits.max_body_bytes``.
``Settings(xai_api_key=...)`` takes the same flat names.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_comma_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class SettingsGroup(BaseSettings):
    """A group of settings whose variables are ``GROKIMAGINE_`` + ``flat_prefix`` + field."""

    flat_prefix: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        prefix = f"GROKIMAGINE_{cls.flat_prefix.upper()}"
        cls.model_config = SettingsConfigDict(env_prefix=prefix, extra="ignore")

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            # Name the variable an operator sets, not the field inside the group.
            culprits = "; ".join(
                f"GROKIMAGINE_{(self.flat_prefix + str(error['loc'][0])).upper()}: "
                + "".join(f"{part}: " for part in error["loc"][1:])
                + str(error["msg"]).removeprefix("Value error, ")
                for error in exc.errors()
            )
            raise ValueError(f"invalid settings: {culprits}") from None


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
    """Connections of ``serve``: uvicorn's, with our header guards (http/connections.py)."""

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


class RelaySettings(SettingsGroup):
    """What every relay engine shares: polling, timeouts, retries, provider limits (relay.md)."""

    flat_prefix = "relay_"

    style_presets: dict[str, str] = Field(
        default_factory=dict, description="Style text per mode, overriding the defaults."
    )
    poll_interval: float = Field(2.0, gt=0, description="First wait between polls.")
    poll_max_interval: float = Field(15.0, gt=0, description="Longest wait between polls.")
    timeout: float = Field(900.0, gt=0, description="Seconds a provider job may take.")
    request_timeout: float = Field(30.0, gt=0, description="Seconds per provider call.")
    connect_timeout: float = Field(10.0, gt=0, description="Seconds to connect.")
    download_timeout: float = Field(300.0, gt=0, description="Seconds to download a video.")
    max_download_bytes: int = Field(512 * 1024 * 1024, gt=0, description="Largest video.")
    retries: int = Field(3, ge=1, description="Attempts per call on 5xx, network, 429.")
    retry_backoff: float = Field(0.5, gt=0, description="Base of the jittered backoff.")
    max_retry_after: float = Field(60.0, gt=0, description="Cap on a honoured Retry-After.")
    max_concurrency: int = Field(
        32,
        ge=1,
        description="Jobs at once per provider key; also how many tasks of a relay engine "
        "one worker runs at once.",
    )
    queue_timeout: float = Field(300.0, gt=0, description="Wait for a free provider slot.")
    breaker_failures: int = Field(5, ge=1, description="Failed calls that open the circuit.")
    breaker_reset_seconds: float = Field(
        60.0, gt=0, description="Seconds the circuit stays open before one trial call."
    )


class XaiSettings(SettingsGroup):
    """The ``xai`` relay engine: xAI's Grok Imagine."""

    flat_prefix = "xai_"

    api_key: SecretStr | None = Field(None, description="xAI API key for the xai engine.")
    base_url: str = Field("https://api.x.ai/v1", description="xAI REST API base URL.")
    model: str = Field("grok-imagine-video", description="xAI video model.")
    resolution: Literal["480p", "720p"] | None = Field(
        None, description="xAI resolution; from the request's size if unset."
    )
    source_video: Literal["data_uri", "signed_url"] = Field(
        "data_uri",
        description="How extend/edit hand xAI the source video: inline as a data URI, or as a"
        " signed URL of our copy (GROKIMAGINE_PUBLIC_URL must then reach the internet).",
    )


class OpenAIVideosSettings(SettingsGroup):
    """The ``openai-videos`` relay engine: any server with OpenAI's ``/v1/videos`` shape."""

    flat_prefix = "openai_videos_"

    base_url: str | None = Field(
        None, description="Base URL (ending in /v1) of an OpenAI-style /v1/videos server."
    )
    api_key: SecretStr | None = Field(None, description="Its bearer key, if any.")
    model: str | None = Field(None, description="Model to ask for; server default.")
    sizes: dict[str, str] = Field(
        default_factory=dict,
        description='Ratio to "WxH" size sent; the request\'s own size if a ratio is absent.',
    )
    seconds: list[int] = Field(
        default_factory=list, description="Durations the server allows; nearest is sent."
    )
    send_extras: bool = Field(
        False, description="Also send seed and negative_prompt (servers that accept them)."
    )


class FleetNode(BaseModel):
    """One GPU server of a fleet engine: its base URL (ending in /v1), share and job slots."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, description="Base URL ending in /v1, e.g. http://gpu1:30000/v1.")
    weight: float = Field(1.0, gt=0, description="Share of the jobs, relative to other nodes.")
    concurrency: int = Field(1, ge=1, le=256, description="Jobs this node runs at once.")
    name: str | None = Field(None, max_length=60, description="Shown name; default host:port.")


class FleetEngineSettings(SettingsGroup):
    """What the GPU-fleet engines share (``sglang``, ``vllm-omni``; docs/gpu-fleet.md)."""

    nodes: Annotated[list[FleetNode], NoDecode] = Field(
        default_factory=list,
        description='The nodes, as JSON: ["http://gpu1:30000/v1", {"url": ..., "weight": 2, '
        '"concurrency": 2}].',
    )
    api_key: SecretStr | None = Field(None, description="Bearer key the nodes were started with.")
    model: str | None = Field(None, description="Model name to send; the node's own if unset.")
    sizes: dict[str, str] = Field(
        default_factory=dict,
        description='Ratio to "WxH" size sent; the request\'s own size if a ratio is absent.',
    )
    durations: list[int] = Field(
        default_factory=lambda: [2, 3, 4, 5], description="Seconds the served model can render."
    )
    image_to_video: bool = Field(False, description="The served model takes an input image (I2V).")
    num_inference_steps: int | None = Field(None, ge=1, le=500, description="Steps; model default.")
    guidance_scale: float | None = Field(None, ge=0, le=50, description="CFG scale; model default.")
    probe_seconds: float = Field(10.0, gt=0, description="Health probe interval per node.")
    node_lost_seconds: float = Field(
        60.0, gt=0, description="A node silent this long mid-job is lost; the job moves once."
    )

    @field_validator("nodes", mode="before")
    @classmethod
    def _urls_are_nodes(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            value = (
                json.loads(text)
                if text.startswith("[")
                else [part.strip() for part in text.split(",") if part.strip()]
            )
        if isinstance(value, list):
            return [{"url": item} if isinstance(item, str) else item for item in value]
        return value


class SglangSettings(FleetEngineSettings):
    """The ``sglang`` engine: SGLang Diffusion servers (``sglang serve``), JSON requests."""

    flat_prefix = "sglang_"


class VllmOmniSettings(FleetEngineSettings):
    """The ``vllm-omni`` engine: vLLM-Omni servers (``vllm serve ... --omni``), multipart."""

    flat_prefix = "vllm_omni_"

    sync: bool = Field(
        False, description="Use POST /v1/videos/sync (the MP4 in the answer) instead of polling."
    )


class DiffusersSettings(SettingsGroup):
    """The ``diffusers`` engine: open-weight video models on a GPU (docs/diffusers.md).

    Models are a local directory or a Hugging Face repo id already in the local cache; nothing
    is ever downloaded.
    """

    flat_prefix = "diffusers_"

    t2v_model: str | None = Field(
        None, description="Text-to-video model: local directory or cached repo id."
    )
    i2v_model: str | None = Field(
        None, description="Image-to-video model; unset: the text model, where it takes images."
    )
    edit_model: str | None = Field(
        None, description="Video-to-video model for edits (Wan VACE); unset: no edits."
    )
    hf_cache: Path | None = Field(
        None, description="Hugging Face hub cache to look in; unset: HF_HUB_CACHE or HF_HOME's."
    )
    device: str = Field("auto", description="Torch device; auto: cuda if present.")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="Weights dtype; auto: bfloat16 on a GPU, float32 on the CPU."
    )
    compile: bool = Field(False, description="torch.compile the transformer blocks.")
    cache: Literal["none", "first-block"] = Field(
        "none", description="Step-skipping cache: first-block reuses the transformer's output."
    )
    cache_threshold: float = Field(
        0.05, gt=0, description="First-block cache threshold; higher: faster, less detail."
    )
    vae_tiling: bool = Field(False, description="Decode in tiles: less GPU memory.")
    offload: Literal["none", "model", "sequential"] = Field(
        "none", description="CPU offload: model (12 GB cards) or sequential (least memory)."
    )
    attention_backend: str | None = Field(
        None, description="diffusers attention backend, e.g. flash; unset: PyTorch SDPA."
    )
    steps: int | None = Field(None, ge=1, description="Denoising steps; unset: the family's.")
    guidance_scale: float | None = Field(
        None, ge=0, description="Guidance for every mode; unset: the mode preset's."
    )
    max_resolution: str = Field(
        "480p", pattern=r"^\d+p$", description="Largest size tier rendered, e.g. 480p, 720p."
    )
    max_frames: int | None = Field(
        None, ge=1, description="Longest clip in frames; unset: the family's default."
    )
    presets_file: Path | None = Field(
        None, description="JSON file of sizes and style presets; unset: the shipped one."
    )
    warmup_steps: int = Field(
        2, ge=0, description="Steps of the warm-up render at start; 0: load only."
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


class ConsoleSettings(SettingsGroup):
    """The web console (``/console``, ``/admin``): sign-up policy, sessions, sign-in limits."""

    flat_prefix = "console_"

    signup: Literal["closed", "open", "invitation"] = Field(
        "closed",
        description="closed: the operator creates users (grokimagine users create); open: "
        "anyone may sign up for a new free-plan account; invitation: only people an operator "
        "invites. Seeds the business settings on the first start; /admin/settings after.",
    )
    starter_credits: int = Field(
        0, ge=0, le=10**12, description="Credits granted to an account made by an open sign-up."
    )
    session_hours: float = Field(24.0 * 7, gt=0, description="How long a console sign-in lasts.")
    signin_limit: int = Field(
        10, ge=1, description="Sign-in (and sign-up) attempts per minute per client address."
    )
    signin_email_limit: int = Field(
        5, ge=1, description="Sign-in attempts per minute per email address."
    )


class SelfServiceSettings(SettingsGroup):
    """What customers do on their own (issue 25): email verification, two-factor sign-in."""

    flat_prefix = "selfservice_"

    verify_email: bool = Field(
        False,
        description="A sign-up must open the link emailed to it before it can make keys or videos.",
    )
    require_operator_two_factor: bool = Field(
        False,
        description="Operators must turn on two-factor sign-in before /admin opens for them.",
    )
    forgot_password_limit: int = Field(
        5, ge=1, description="Forgot-password requests per minute per client address and email."
    )


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


class SmtpSettings(SettingsGroup):
    """Outgoing email (invitations, password resets): an SMTP server; unset host: the log."""

    flat_prefix = "smtp_"

    host: str | None = Field(
        None, description="SMTP server; unset: emails are written to the log (and shown)."
    )
    port: int | None = Field(
        None, ge=1, le=65535, description="Port; unset: 587 (starttls), 465 (tls), 25 (none)."
    )
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls: upgrade after connecting; tls: TLS from the start."
    )
    user: str | None = Field(None, description="User name to log in with; unset: no login.")
    password: SecretStr | None = Field(None, description="Password of that user.")
    sender: str = Field(
        "grokimagine@localhost",
        description="From: address of every email, e.g. Studio <no-reply@example.com>.",
    )
    ca_file: Path | None = Field(
        None, description="CA certificates (PEM) to trust for the server; unset: the system's."
    )
    timeout: float = Field(20.0, gt=0, description="Seconds one SMTP conversation may take.")

    @property
    def configured(self) -> bool:
        """Whether emails go to a server (otherwise to the log)."""
        return bool(self.host)

    @property
    def resolved_port(self) -> int:
        """The port to connect to: the one set, or the usual one for the security."""
        return self.port or {"starttls": 587, "tls": 465, "none": 25}[self.security]


class StripeSettings(SettingsGroup):
    """Payments through Stripe (docs/payments.md): unset secret key, no card payments."""

    flat_prefix = "stripe_"

    secret_key: SecretStr | None = Field(
        None, description="Stripe secret key (sk_test_... in test mode); unset: codes only."
    )
    webhook_secret: SecretStr | None = Field(
        None, description="Signing secret of the webhook endpoint /webhooks/stripe (whsec_...)."
    )
    api_base: str | None = Field(
        None, description="Stripe's API address; unset: https://api.stripe.com (tests: a fake)."
    )
    webhook_tolerance_seconds: int = Field(
        300, ge=1, description="Older signed webhook timestamps are refused (replay protection)."
    )

    @property
    def enabled(self) -> bool:
        """Whether customers can pay: a secret key and a webhook secret are both set."""
        return self.secret_key is not None and self.webhook_secret is not None


_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


class OpenAIApiSettings(SettingsGroup):
    """The OpenAI-shaped surface (``/v1/videos``, ``/v1/models``): the models it lists."""

    flat_prefix = "openai_api_"

    default_model: str = Field(
        "grokimagine-video",
        description="Model id of the caller's own route (by plan and mode); the default.",
    )
    models: dict[str, list[str]] = Field(
        default_factory=dict,
        description='More models, each a route: {"wan-2.2": ["diffusers", "preview"]}.',
    )

    @field_validator("default_model")
    @classmethod
    def _model_id(cls, value: str) -> str:
        if not _MODEL_ID.fullmatch(value):
            raise ValueError(f"{value!r} is not a model id (letters, digits, . _ : -)")
        return value

    @field_validator("models")
    @classmethod
    def _model_routes(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for model, engines in value.items():
            if not _MODEL_ID.fullmatch(model):
                raise ValueError(f"{model!r} is not a model id (letters, digits, . _ : -)")
            if not engines or not all(engines):
                raise ValueError(f"model {model!r} needs a non-empty list of engine names")
        return value


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


class Settings(BaseSettings):
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
        return type(self).model_validate({**self.model_dump(), **changes})
