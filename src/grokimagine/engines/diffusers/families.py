"""Per-family knowledge: which pipelines a model directory offers and how to call them.

A model directory's ``model_index.json`` names its pipeline class (``_class_name``); that
decides the family and what the model can do:

| class | family | text | images |
|---|---|---|---|
| WanPipeline | wan (2.1, 2.2 A14B) | yes | no |
| WanPipeline with expand_timesteps | wan-ti2v (2.2 TI2V 5B) | yes | start frame |
| WanImageToVideoPipeline | wan | no | start frame; start and end (FLF2V, 2.2) |
| LTXPipeline, LTXImageToVideoPipeline, LTXConditionPipeline | ltx | yes | keyframes |
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grokimagine.engines.base import EngineError
from grokimagine.engines.diffusers.mapping import Geometry, RenderPlan

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline
    from PIL.Image import Image

WAN_CLASSES = ("WanPipeline", "WanImageToVideoPipeline")
LTX_CLASSES = ("LTXPipeline", "LTXImageToVideoPipeline", "LTXConditionPipeline")
# LTX places any number of keyframes; the API sends at most 4 images.
LTX_MAX_KEYFRAMES = 8

TEXT, IMAGE, KEYFRAMES = "text", "image", "keyframes"


class UnsupportedModelError(EngineError):
    """The model directory holds a pipeline this engine does not drive."""

    def __init__(self, message: str):
        super().__init__(message, code="MODEL_UNSUPPORTED")


@dataclass(frozen=True)
class ModelInfo:
    """What a model directory holds, read from its JSON files without loading weights."""

    path: Path
    class_name: str
    family: str  # a key of the presets' families
    text_to_video: bool
    max_images: int  # 0: text only; 1: start frame; 2: start and end; more: keyframes

    @property
    def image_to_video(self) -> bool:
        """Whether the model animates images."""
        return self.max_images > 0


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UnsupportedModelError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise UnsupportedModelError(f"{path} is not a JSON object")
    return data


def inspect_model(path: Path) -> ModelInfo:
    """Detect the family and abilities of the diffusers model in ``path``."""
    index = _read_json(path / "model_index.json")
    class_name = str(index.get("_class_name"))
    if class_name in LTX_CLASSES:
        return ModelInfo(path, class_name, "ltx", True, LTX_MAX_KEYFRAMES)
    if class_name not in WAN_CLASSES:
        raise UnsupportedModelError(
            f"{path} holds a {class_name}; supported: {', '.join(WAN_CLASSES + LTX_CLASSES)}"
        )
    if class_name == "WanPipeline" and not index.get("expand_timesteps"):
        return ModelInfo(path, class_name, "wan", True, 0)
    transformer = _read_json(path / "transformer" / "config.json")
    if index.get("expand_timesteps"):
        # Wan 2.2 TI2V: the start frame replaces the first latent frame; no end frame. A
        # transformer that also wants CLIP embeddings cannot take images without an encoder.
        has_encoder = (index.get("image_encoder") or [None])[0] is not None
        takes_images = transformer.get("image_dim") is None or has_encoder
        return ModelInfo(path, class_name, "wan-ti2v", True, 1 if takes_images else 0)
    # Wan 2.1 I2V conditions on CLIP embeddings of its one image; the FLF2V checkpoint has
    # position embeddings for two, and Wan 2.2 I2V uses no CLIP embeddings at all.
    two_frames = transformer.get("image_dim") is None or bool(transformer.get("pos_embed_seq_len"))
    return ModelInfo(path, class_name, "wan", False, 2 if two_frames else 1)


def pipeline_class(info: ModelInfo, direction: str) -> type[DiffusionPipeline]:
    """The diffusers class that renders ``direction`` (text, image, keyframes) for ``info``."""
    import diffusers

    if info.family == "ltx":
        names = {
            TEXT: "LTXPipeline",
            IMAGE: "LTXImageToVideoPipeline",
            KEYFRAMES: "LTXConditionPipeline",
        }
    else:
        names = {TEXT: "WanPipeline", IMAGE: "WanImageToVideoPipeline"}
        names[KEYFRAMES] = names[IMAGE]
    return getattr(diffusers, names[direction])


def geometry_of(pipe: DiffusionPipeline) -> Geometry:
    """Size multiple and frame step of a loaded pipeline, from its VAE and transformer."""
    if hasattr(pipe, "vae_spatial_compression_ratio"):  # LTX
        patch = int(pipe.transformer.config.patch_size)
        return Geometry(
            size_multiple=int(pipe.vae_spatial_compression_ratio) * patch,
            frame_step=int(pipe.vae_temporal_compression_ratio),
        )
    denoiser = pipe.transformer if pipe.transformer is not None else pipe.transformer_2
    patch = int(denoiser.config.patch_size[1])
    return Geometry(
        size_multiple=int(pipe.vae_scale_factor_spatial) * patch,
        frame_step=int(pipe.vae_scale_factor_temporal),
    )


def derive_pipeline(base: DiffusionPipeline, cls: type[DiffusionPipeline]) -> DiffusionPipeline:
    """A pipeline of class ``cls`` on ``base``'s very modules: no copy, no dtype change.

    (diffusers' ``from_pipe`` casts the shared modules to float32 unless told otherwise.)
    """
    import inspect

    if isinstance(base, cls) and type(base) is cls:
        return base
    accepted = inspect.signature(cls.__init__).parameters
    kwargs = {name: module for name, module in base.components.items() if name in accepted}
    for key in ("boundary_ratio", "expand_timesteps"):
        if key in accepted and key in base.config:
            kwargs[key] = base.config[key]
    derived = cls(**kwargs)
    derived.set_progress_bar_config(disable=True)
    return derived


@dataclass
class LoadedModel:
    """One loaded model and the pipelines derived from it, one per direction."""

    info: ModelInfo
    base: DiffusionPipeline
    geometry: Geometry
    pipelines: dict[str, DiffusionPipeline] = field(default_factory=dict)

    def pipeline(self, direction: str) -> DiffusionPipeline:
        """The pipeline for ``direction``, derived from the base on first use."""
        if direction not in self.pipelines:
            self.pipelines[direction] = derive_pipeline(
                self.base, pipeline_class(self.info, direction)
            )
        return self.pipelines[direction]

    def reset(self) -> None:
        """Clear the cache hooks' state and put offloaded modules back, after any call.

        A derived pipeline shares the base's modules and offload hooks, so the base does this.
        """
        self.base.maybe_free_model_hooks()


def keyframe_indices(count: int, num_frames: int) -> list[int]:
    """Frame indices spreading ``count`` keyframes from the first frame to the last."""
    if count == 1:
        return [0]
    return [round(i * (num_frames - 1) / (count - 1)) for i in range(count)]


def call_arguments(
    model: LoadedModel,
    direction: str,
    plan: RenderPlan,
    images: Sequence[Image],
    generator: Any,
    on_step_end: Callable[..., dict[str, Any]],
) -> dict[str, Any]:
    """Keyword arguments of the pipeline call that renders ``plan``."""
    kwargs: dict[str, Any] = {
        "prompt": plan.prompt,
        "negative_prompt": plan.negative_prompt,
        "width": plan.width,
        "height": plan.height,
        "num_frames": plan.num_frames,
        "num_inference_steps": plan.steps,
        "guidance_scale": plan.guidance_scale,
        "generator": generator,
        "output_type": "np",
        "callback_on_step_end": on_step_end,
    }
    if model.info.family == "ltx":
        kwargs["frame_rate"] = plan.fps
        if model.base.vae.config.get("timestep_conditioning"):
            # LTX 0.9.1+ VAEs denoise while decoding; these are Lightricks' published values.
            kwargs.update(decode_timestep=0.05, decode_noise_scale=0.025)
        if direction == IMAGE:
            kwargs["image"] = images[0]
        elif direction == KEYFRAMES:
            from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

            indices = keyframe_indices(len(images), plan.num_frames)
            kwargs["conditions"] = [
                LTXVideoCondition(image=image, frame_index=index)
                for image, index in zip(images, indices, strict=True)
            ]
    elif direction in (IMAGE, KEYFRAMES):
        kwargs["image"] = images[0]
        if direction == KEYFRAMES:
            kwargs["last_image"] = images[-1]
    return kwargs


def choose_images(info: ModelInfo, count: int) -> tuple[str, list[int]]:
    """The direction for ``count`` input images and which of them the model uses.

    One image, or a model that takes only a start frame: the first image. A model with start
    and end frames: the first and the last. LTX: up to its keyframe limit, first to last.
    """
    if count == 0:
        return TEXT, []
    if count == 1 or info.max_images == 1:
        return IMAGE, [0]
    if info.max_images == 2:
        return KEYFRAMES, [0, count - 1]
    used = min(count, info.max_images)
    return KEYFRAMES, keyframe_indices(used, count)
