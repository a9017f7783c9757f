"""The diffusers engine's configuration, taken from :class:`~grokimagine.settings.Settings`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grokimagine.settings import Settings


@dataclass(frozen=True)
class SpeedOptions:
    """How a pipeline is placed and sped up; shared by the engine and the GPU benchmark."""

    device: str = "auto"
    dtype: str = "auto"  # auto | bfloat16 | float16 | float32
    compile: bool = False
    cache: str = "none"  # none | first-block
    cache_threshold: float = 0.05
    vae_tiling: bool = False
    offload: str = "none"  # none | model | sequential
    attention_backend: str | None = None


@dataclass(frozen=True)
class DiffusersConfig:
    """Which models to load, from where, and how to render with them."""

    t2v_model: str | None = None
    i2v_model: str | None = None
    hf_cache: Path | None = None
    speed: SpeedOptions = SpeedOptions()
    steps: int | None = None
    guidance_scale: float | None = None
    max_resolution: str = "480p"
    max_frames: int | None = None
    presets_file: Path | None = None
    warmup_steps: int = 2

    @classmethod
    def from_settings(cls, settings: Settings) -> DiffusersConfig:
        """Read the ``GROKIMAGINE_DIFFUSERS_*`` settings."""
        return cls(
            t2v_model=settings.diffusers.t2v_model,
            i2v_model=settings.diffusers.i2v_model,
            hf_cache=settings.diffusers.hf_cache,
            speed=SpeedOptions(
                device=settings.diffusers.device,
                dtype=settings.diffusers.dtype,
                compile=settings.diffusers.compile,
                cache=settings.diffusers.cache,
                cache_threshold=settings.diffusers.cache_threshold,
                vae_tiling=settings.diffusers.vae_tiling,
                offload=settings.diffusers.offload,
                attention_backend=settings.diffusers.attention_backend,
            ),
            steps=settings.diffusers.steps,
            guidance_scale=settings.diffusers.guidance_scale,
            max_resolution=settings.diffusers.max_resolution,
            max_frames=settings.diffusers.max_frames,
            presets_file=settings.diffusers.presets_file,
            warmup_steps=settings.diffusers.warmup_steps,
        )
