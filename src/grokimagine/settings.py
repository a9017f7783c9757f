"""Service configuration: one settings object, read from ``GROKIMAGINE_*`` variables at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator can set. Environment variables are ``GROKIMAGINE_<FIELD>``."""

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

    sqlite_write_wait_seconds: float = Field(
        10.0,
        gt=0,
        description="On SQLite, how long a write waits for another process's write lock"
        " (without blocking the server) before the request gets 503 SERVICE_BUSY.",
    )

    # Worker
    worker_concurrency: int = Field(1, ge=1, description="Tasks a worker runs at once.")
    lease_seconds: float = Field(60.0, gt=0, description="How long a claim lasts without renewal.")
    max_attempts: int = Field(3, ge=1, description="Runs of a task before it is failed.")
    poll_seconds: float = Field(1.0, gt=0, description="Idle worker's polling interval.")

    # HTTP
    url_ttl_seconds: int = Field(3600, gt=0, description="Lifetime of signed video URLs.")
    auth_cache_seconds: float = Field(
        2.0, ge=0, description="How long a token lookup is cached; revocation takes this long."
    )
    plan_limits: dict[str, int] = Field(
        default_factory=dict,
        description='Requests per minute per plan, over the defaults, e.g. {"free": 60}.',
    )
    auth_failure_limit: int = Field(
        30, ge=1, description="Failed authentications per client address per minute."
    )
    prefer_wait_max_seconds: int = Field(
        60, ge=0, le=60, description="Longest Prefer: wait=N honoured on generate (at most 60)."
    )
    signature_failure_limit: int = Field(
        60, ge=1, description="Invalid signed file URLs per client address per minute."
    )
    max_body_bytes: int = Field(48 * 1024 * 1024, description="Largest request body accepted.")
    max_image_bytes: int = Field(8 * 1024 * 1024, description="Largest input image accepted.")
    image_fetch_timeout: float = Field(10.0, gt=0, description="Seconds to fetch one image.")

    # Connections (serve): uvicorn's, with our header guards (http/connections.py).
    http_max_header_bytes: int = Field(
        64 * 1024, ge=4096, description="Largest request head (line and headers); over: 431."
    )
    http_header_timeout: float = Field(
        10.0, gt=0, description="Seconds a request's headers may take to arrive; over: 408."
    )
    http_max_connections: int = Field(
        2048, ge=1, description="Open connections (or requests) per process; over: 503."
    )
    http_keepalive_seconds: float = Field(
        5.0, gt=0, description="An idle keep-alive connection is closed after this long."
    )

    # Demo account made on the first start of an empty database.
    demo_credits: int = Field(4000, ge=0, description="Credits of the demo account.")

    # --- Diffusers engine (GROKIMAGINE_ENGINE=diffusers): open-weight video models on a GPU. ---
    # Models are a local directory or a Hugging Face repo id already in the local cache; nothing
    # is ever downloaded. See docs/diffusers.md.
    diffusers_t2v_model: str | None = Field(
        None, description="Text-to-video model: local directory or cached repo id."
    )
    diffusers_i2v_model: str | None = Field(
        None, description="Image-to-video model; unset: the text model, where it takes images."
    )
    diffusers_hf_cache: Path | None = Field(
        None, description="Hugging Face hub cache to look in; unset: HF_HUB_CACHE or HF_HOME's."
    )
    diffusers_device: str = Field("auto", description="Torch device; auto: cuda if present.")
    diffusers_dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="Weights dtype; auto: bfloat16 on a GPU, float32 on the CPU."
    )
    diffusers_compile: bool = Field(False, description="torch.compile the transformer blocks.")
    diffusers_cache: Literal["none", "first-block"] = Field(
        "none", description="Step-skipping cache: first-block reuses the transformer's output."
    )
    diffusers_cache_threshold: float = Field(
        0.05, gt=0, description="First-block cache threshold; higher: faster, less detail."
    )
    diffusers_vae_tiling: bool = Field(False, description="Decode in tiles: less GPU memory.")
    diffusers_offload: Literal["none", "model", "sequential"] = Field(
        "none", description="CPU offload: model (12 GB cards) or sequential (least memory)."
    )
    diffusers_attention_backend: str | None = Field(
        None, description="diffusers attention backend, e.g. flash; unset: PyTorch SDPA."
    )
    diffusers_steps: int | None = Field(
        None, ge=1, description="Denoising steps; unset: the family's default."
    )
    diffusers_guidance_scale: float | None = Field(
        None, ge=0, description="Guidance for every mode; unset: the mode preset's."
    )
    diffusers_max_resolution: str = Field(
        "480p", pattern=r"^\d+p$", description="Largest size tier rendered, e.g. 480p, 720p."
    )
    diffusers_max_frames: int | None = Field(
        None, ge=1, description="Longest clip in frames; unset: the family's default."
    )
    diffusers_presets_file: Path | None = Field(
        None, description="JSON file of sizes and style presets; unset: the shipped one."
    )
    diffusers_warmup_steps: int = Field(
        2, ge=0, description="Steps of the warm-up render at start; 0: load only."
    )

    @field_validator("fetch_allowlist", "worker_engines", mode="before")
    @classmethod
    def _split_comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'grokimagine.db').resolve()}"

    # --- Relay engines (xai, openai-videos), provider limits and routing (issue 6) ---
    # Documented in docs/relay.md.
    routes: dict[str, list[str]] = Field(
        default_factory=dict,
        description='Engines per plan or mode, JSON: {"default": [...], "plan:pro": [...], '
        '"mode:spicy": [...], "plan:pro+mode:fun": [...]}; unset: [engine].',
    )
    xai_api_key: SecretStr | None = Field(None, description="xAI API key for the xai engine.")
    xai_base_url: str = Field("https://api.x.ai/v1", description="xAI REST API base URL.")
    xai_model: str = Field("grok-imagine-video", description="xAI video model.")
    xai_resolution: Literal["480p", "720p"] | None = Field(
        None, description="xAI resolution; from the request's size if unset."
    )
    openai_videos_base_url: str | None = Field(
        None, description="Base URL (ending in /v1) of an OpenAI-style /v1/videos server."
    )
    openai_videos_api_key: SecretStr | None = Field(None, description="Its bearer key, if any.")
    openai_videos_model: str | None = Field(None, description="Model to ask for; server default.")
    openai_videos_sizes: dict[str, str] = Field(
        default_factory=dict,
        description='Ratio to "WxH" size sent; the request\'s own size if a ratio is absent.',
    )
    openai_videos_seconds: list[int] = Field(
        default_factory=list, description="Durations the server allows; nearest is sent."
    )
    openai_videos_send_extras: bool = Field(
        False, description="Also send seed and negative_prompt (servers that accept them)."
    )
    relay_style_presets: dict[str, str] = Field(
        default_factory=dict, description="Style text per mode, overriding the defaults."
    )
    relay_poll_interval: float = Field(2.0, gt=0, description="First wait between polls.")
    relay_poll_max_interval: float = Field(15.0, gt=0, description="Longest wait between polls.")
    relay_timeout: float = Field(900.0, gt=0, description="Seconds a provider job may take.")
    relay_request_timeout: float = Field(30.0, gt=0, description="Seconds per provider call.")
    relay_connect_timeout: float = Field(10.0, gt=0, description="Seconds to connect.")
    relay_download_timeout: float = Field(300.0, gt=0, description="Seconds to download a video.")
    relay_max_download_bytes: int = Field(512 * 1024 * 1024, gt=0, description="Largest video.")
    relay_retries: int = Field(3, ge=1, description="Attempts per call on 5xx, network, 429.")
    relay_retry_backoff: float = Field(0.5, gt=0, description="Base of the jittered backoff.")
    relay_max_retry_after: float = Field(60.0, gt=0, description="Cap on a honoured Retry-After.")
    relay_max_concurrency: int = Field(4, ge=1, description="Jobs at once per provider key.")
    relay_queue_timeout: float = Field(300.0, gt=0, description="Wait for a free provider slot.")
    relay_breaker_failures: int = Field(5, ge=1, description="Failed calls that open the circuit.")
    relay_breaker_reset_seconds: float = Field(
        60.0, gt=0, description="Seconds the circuit stays open before one trial call."
    )

    # --- Scale-out (issue 4): workers on other hosts, object storage, operations. ---
    # Documented in docs/deploy.md.
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
    engine_plugins: dict[str, str] = Field(
        default_factory=dict,
        description='Extra engines, JSON {"name": "module:factory"}; factory(settings) -> engine.',
    )
    storage: Literal["local", "s3"] = Field(
        "local", description="Where inputs and videos live: local files or an S3-compatible store."
    )
    s3_bucket: str | None = Field(None, description="Bucket of the S3 store.")
    s3_endpoint_url: str | None = Field(
        None, description="S3 endpoint, e.g. http://minio:9000; unset: AWS."
    )
    s3_public_endpoint_url: str | None = Field(
        None, description="Endpoint in presigned URLs, if clients reach the store elsewhere."
    )
    s3_region: str = Field("us-east-1", description="Region of the bucket.")
    s3_access_key_id: str | None = Field(None, description="Unset: boto3's credential chain.")
    s3_secret_access_key: SecretStr | None = Field(None, description="Secret of that key.")
    s3_prefix: str = Field("", description="Prefix of every object key, e.g. grokimagine/.")
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto", description="Bucket in the path or the host name; auto: path with an endpoint."
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

    # --- Webhooks (issue 5): deliveries of callback_url, retried for a day. See README.md. ---
    webhook_timeout: float = Field(10.0, gt=0, description="Seconds a webhook POST may take.")
    webhook_retry_base_seconds: float = Field(
        5.0, gt=0, description="First retry delay; it doubles per attempt, plus jitter."
    )
    webhook_retry_max_delay_seconds: float = Field(
        4 * 3600.0, gt=0, description="Longest delay between two attempts."
    )
    webhook_retry_hours: float = Field(
        24.0, gt=0, description="Retries stop this long after the delivery was created."
    )
    webhook_poll_seconds: float = Field(1.0, gt=0, description="Idle delivery loop's polling.")
    webhook_concurrency: int = Field(8, ge=1, description="Deliveries sent at once per process.")
