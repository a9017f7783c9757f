"""Finding model weights on local disk, loading a pipeline and applying the speed settings.

Weights come from a local directory or the local Hugging Face cache only: nothing here reaches
the network, and a missing model is a :class:`ModelNotFoundError` that says where it looked.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from grokimagine.engines.base import EngineError
from grokimagine.engines.diffusers.config import SpeedOptions

if TYPE_CHECKING:
    import torch
    from diffusers import DiffusionPipeline

log = logging.getLogger(__name__)

_DTYPES = ("bfloat16", "float16", "float32")


class ModelNotFoundError(EngineError):
    """A configured model is neither a model directory nor in the local Hugging Face cache."""

    def __init__(self, message: str):
        super().__init__(message, code="MODEL_NOT_FOUND")


class ConfigurationError(EngineError):
    """The engine's settings contradict each other or the machine."""

    def __init__(self, message: str):
        super().__init__(message, code="ENGINE_MISCONFIGURED")


def default_hf_cache() -> Path:
    """The hub cache huggingface_hub uses here (``HF_HUB_CACHE``, else under ``HF_HOME``)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _looks_like_repo_id(reference: str) -> bool:
    parts = reference.split("/")
    return (
        len(parts) == 2
        and all(parts)
        and not reference.startswith((".", "~"))
        and "\\" not in reference
    )


def resolve_model_dir(reference: str, hf_cache: Path | None = None, role: str = "model") -> Path:
    """Return the local directory holding ``reference`` (a directory or a cached repo id).

    Raises :class:`ModelNotFoundError` naming every place it looked; never downloads.
    """
    path = Path(reference).expanduser()
    if path.is_dir():
        if (path / "model_index.json").is_file():
            return path.resolve()
        raise ModelNotFoundError(
            f"{role} {reference!r}: directory {path.resolve()} has no model_index.json; "
            "it must hold a diffusers-format pipeline (see docs/diffusers.md)"
        )
    looked = [f"no directory {path.resolve()}"]
    if _looks_like_repo_id(reference):
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        cache = hf_cache or default_hf_cache()
        try:
            snapshot = Path(snapshot_download(reference, cache_dir=cache, local_files_only=True))
        except (LocalEntryNotFoundError, FileNotFoundError):
            looked.append(f"no snapshot of {reference} in the Hugging Face cache {cache}")
        else:
            if (snapshot / "model_index.json").is_file():
                return snapshot
            looked.append(f"snapshot {snapshot} in the Hugging Face cache has no model_index.json")
    raise ModelNotFoundError(
        f"{role} {reference!r} not found: {'; '.join(looked)}. Weights are never downloaded "
        "here: fetch them on a machine with network access and copy them over "
        "(see docs/diffusers.md)"
    )


def resolve_device(requested: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; other names pass through."""
    import torch

    if requested != "auto":
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(requested: str, device: str) -> torch.dtype:
    """``auto`` -> bfloat16 on an accelerator, float32 on the CPU (bf16 matmuls are slow there)."""
    import torch

    if requested == "auto":
        return torch.float32 if device.startswith("cpu") else torch.bfloat16
    if requested not in _DTYPES:
        raise ConfigurationError(f"dtype {requested!r} is not one of auto, {', '.join(_DTYPES)}")
    return getattr(torch, requested)


def check_speed_options(speed: SpeedOptions, device: str) -> None:
    """Refuse combinations that cannot work, at start-up rather than on the first task."""
    if speed.offload not in ("none", "model", "sequential"):
        raise ConfigurationError(f"offload {speed.offload!r} is not one of none, model, sequential")
    if speed.offload != "none" and device.startswith("cpu"):
        raise ConfigurationError(
            f"CPU offload ({speed.offload}) moves weights to a GPU when needed; device is {device}"
        )
    if speed.cache not in ("none", "first-block"):
        raise ConfigurationError(f"cache {speed.cache!r} is not one of none, first-block")


def load_pipeline(
    model_dir: Path,
    pipeline_class: type[DiffusionPipeline],
    dtype: torch.dtype,
    fp32_components: tuple[str, ...] = (),
) -> DiffusionPipeline:
    """Load the pipeline in ``model_dir`` from local files only.

    ``fp32_components`` stay in float32 whatever ``dtype`` is: Wan's VAE and image encoder
    lose detail in bf16 and cost little memory.
    """
    import torch

    dtypes: dict[str, torch.dtype] = {"default": dtype}
    dtypes.update({name: torch.float32 for name in fp32_components})
    try:
        return pipeline_class.from_pretrained(str(model_dir), dtype=dtypes, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(
            f"could not load {pipeline_class.__name__} from {model_dir}: {exc}"
        ) from exc


def transformers_of(pipe: DiffusionPipeline) -> list[torch.nn.Module]:
    """The pipeline's denoisers: ``transformer`` and, for Wan 2.2 A14B, ``transformer_2``."""
    found = [getattr(pipe, name, None) for name in ("transformer", "transformer_2")]
    return [module for module in found if module is not None]


def configure_pipeline(pipe: DiffusionPipeline, speed: SpeedOptions, device: str) -> None:
    """Place ``pipe`` on ``device`` and apply the speed settings, in the order they need.

    The cache hooks go on before compilation so that the compiled blocks include them, and
    offload is set up last because it takes over device placement.
    """
    import torch

    check_speed_options(speed, device)
    if device.startswith("cuda"):
        # TF32 for the float32 parts (Wan's VAE): faster on Ampere and later, visually equal.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    denoisers = transformers_of(pipe)
    if speed.attention_backend:
        for denoiser in denoisers:
            denoiser.set_attention_backend(speed.attention_backend)
    if speed.cache == "first-block":
        from diffusers.hooks import FirstBlockCacheConfig

        for denoiser in denoisers:
            denoiser.enable_cache(FirstBlockCacheConfig(threshold=speed.cache_threshold))
    if speed.vae_tiling:
        pipe.vae.enable_tiling()
    if speed.offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif speed.offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        pipe.to(device)
    if speed.compile:
        for denoiser in denoisers:
            # Regional compilation: one compiled graph reused by every block, so start-up
            # compiles in seconds instead of minutes. fullgraph would break at the cache hooks.
            denoiser.compile_repeated_blocks(fullgraph=speed.cache == "none")
    pipe.set_progress_bar_config(disable=True)
    log.info(
        "pipeline %s on %s: compile=%s cache=%s tiling=%s offload=%s attention=%s",
        type(pipe).__name__,
        device,
        speed.compile,
        speed.cache,
        speed.vae_tiling,
        speed.offload,
        speed.attention_backend or "sdpa",
    )
