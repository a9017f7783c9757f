"""Settings of the engines: the relays (xAI, /v1/videos servers, GPU fleets) and diffusers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from grokimagine.settings.base import SettingsGroup


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
