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
            t2v_model=settings.diffusers_t2v_model,
            i2v_model=settings.diffusers_i2v_model,
            hf_cache=settings.diffusers_hf_cache,
            speed=SpeedOptions(
                device=settings.diffusers_device,
                dtype=settings.diffusers_dtype,
                compile=settings.diffusers_compile,
                cache=settings.diffusers_cache,
                cache_threshold=settings.diffusers_cache_threshold,
                vae_tiling=settings.diffusers_vae_tiling,
                offload=settings.diffusers_offload,
                attention_backend=settings.diffusers_attention_backend,
            ),
            steps=settings.diffusers_steps,
            guidance_scale=settings.diffusers_guidance_scale,
            max_resolution=settings.diffusers_max_resolution,
            max_frames=settings.diffusers_max_frames,
            presets_file=settings.diffusers_presets_file,
            warmup_steps=settings.diffusers_warmup_steps,
        )
