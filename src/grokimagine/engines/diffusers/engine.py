"""The diffusers engine: open-weight video models (Wan 2.1/2.2, LTX-Video) on a local GPU.

Models are found at construction (a missing one fails start-up), loaded once by ``warmup()``
or the first task, and driven through diffusers pipelines. Progress comes from the denoising
step callback; cancellation raises from that callback, between two steps. Setup and settings:
``docs/diffusers.md``.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from grokimagine.engines.base import (
    Engine,
    EngineError,
    GenerationCanceled,
    GenerationRequest,
    GenerationResult,
    InputImage,
    RenderControl,
)
from grokimagine.engines.diffusers.config import DiffusersConfig
from grokimagine.engines.diffusers.families import (
    LoadedModel,
    ModelInfo,
    call_arguments,
    choose_images,
    geometry_of,
    inspect_model,
)
from grokimagine.engines.diffusers.loader import (
    ConfigurationError,
    check_speed_options,
    configure_pipeline,
    load_pipeline,
    resolve_device,
    resolve_dtype,
    resolve_model_dir,
)
from grokimagine.engines.diffusers.mapping import RenderPlan, plan_render
from grokimagine.engines.diffusers.profiles import Presets, PresetsError, load_presets
from grokimagine.engines.diffusers.video_ops import VideoOperations
from grokimagine.engines.encoding import encode_mp4
from grokimagine.settings import Settings
from grokimagine.vocabulary import DEFAULT_FPS, DEFAULT_SECONDS, DEFAULT_SIZES

log = logging.getLogger(__name__)

# Share of the progress bar for denoising; decoding and encoding take the rest.
DENOISE_SHARE = 0.9


def default_warmup_request() -> GenerationRequest:
    """The request the warm-up renders: the API's default video (1:1, 6 s)."""
    size = DEFAULT_SIZES["1:1"]
    return GenerationRequest(
        prompt="a calm lake at sunrise, mist over the water",
        mode="normal",
        ratio="1:1",
        width=size.width,
        height=size.height,
        num_frames=DEFAULT_FPS * DEFAULT_SECONDS,
        fps=DEFAULT_FPS,
        seed=0,
    )


def decode_images(images: Sequence[InputImage]) -> list[Any]:
    """Decode input images to RGB PIL images; an undecodable one is an ``INVALID_IMAGE``."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    decoded = []
    for position, image in enumerate(images, start=1):
        try:
            with Image.open(io.BytesIO(image.data)) as opened:
                # Phone photos are stored sideways with an EXIF rotation; render them upright.
                decoded.append(ImageOps.exif_transpose(opened).convert("RGB"))
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
            raise EngineError(f"image {position} cannot be decoded", "INVALID_IMAGE") from exc
    return decoded


def to_uint8_frames(video: Any) -> np.ndarray:
    """Pipeline output (1 x F x H x W x 3 floats in [0, 1]) as F x H x W x 3 uint8."""
    frames = np.asarray(video[0], dtype=np.float32)
    return (np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


class DiffusersEngine(VideoOperations, Engine):
    """Renders videos with a Wan or LTX-Video diffusers pipeline. One video at a time."""

    name: ClassVar[str] = "diffusers"

    def __init__(
        self,
        config: DiffusersConfig,
        *,
        presets: Presets | None = None,
        warmup_request: GenerationRequest | None = None,
    ):
        if not (config.t2v_model or config.i2v_model):
            raise ConfigurationError(
                "the diffusers engine needs a model: set GROKIMAGINE_DIFFUSERS_T2V_MODEL "
                "and/or GROKIMAGINE_DIFFUSERS_I2V_MODEL (see docs/diffusers.md)"
            )
        self.config = config
        # Belt and braces: the hub libraries read this when first imported, and then never
        # reach the network, whatever a model's files refer to.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        _require_gpu_extra()
        try:
            self.presets = presets or load_presets(config.presets_file)
        except PresetsError as exc:
            raise ConfigurationError(str(exc)) from exc
        self.warmup_request = warmup_request or default_warmup_request()
        self.device = resolve_device(config.speed.device)
        self.dtype = resolve_dtype(config.speed.dtype, self.device)
        check_speed_options(config.speed, self.device)
        self.t2v = self._find(config.t2v_model, "text-to-video model")
        self.i2v = self._find(config.i2v_model, "image-to-video model")
        self.edit = self._find(config.edit_model, "video edit model")
        self._loaded: dict[Path, LoadedModel] = {}
        self._load_lock = threading.Lock()
        self._render_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> DiffusersEngine:
        """Build the engine from ``GROKIMAGINE_DIFFUSERS_*`` settings."""
        return cls(DiffusersConfig.from_settings(settings))

    def _find(self, reference: str | None, role: str) -> ModelInfo | None:
        if not reference:
            return None
        info = inspect_model(resolve_model_dir(reference, self.config.hf_cache, role))
        profile = self.presets.family(info.family)
        if self.config.max_resolution not in profile.sizes:
            raise ConfigurationError(
                f"{role} is {profile.label}, which has no {self.config.max_resolution} sizes; "
                f"known: {', '.join(profile.sizes)}"
            )
        log.info("%s: %s (%s) in %s", role, info.class_name, info.family, info.path)
        return info

    # -- loading -------------------------------------------------------------------------

    def _load(self, info: ModelInfo) -> LoadedModel:
        with self._load_lock:
            if info.path not in self._loaded:
                import diffusers

                started = time.perf_counter()
                profile = self.presets.family(info.family)
                base = load_pipeline(
                    info.path,
                    getattr(diffusers, info.class_name),
                    self.dtype,
                    profile.fp32_components,
                )
                configure_pipeline(base, self.config.speed, self.device)
                self._loaded[info.path] = LoadedModel(info, base, geometry_of(base))
                log.info("loaded %s in %.1f s", info.path, time.perf_counter() - started)
            return self._loaded[info.path]

    def warmup(self) -> None:
        """Load every configured model and render a short clip with each, before any task.

        The first call on a GPU pays for CUDA kernels and, with compile on, for compilation.
        """
        for info in dict.fromkeys(filter(None, (self.t2v, self.i2v))):
            self._load(info)
            if self.config.warmup_steps == 0:
                continue
            request = self.warmup_request
            if not info.text_to_video:
                request = replace(request, images=(_gray_png(request.width, request.height),))
            started = time.perf_counter()
            with tempfile.TemporaryDirectory() as scratch:
                self._render(
                    info,
                    request,
                    Path(scratch) / "warmup.mp4",
                    RenderControl(),
                    steps=self.config.warmup_steps,
                )
            log.info("warm-up of %s took %.1f s", info.path, time.perf_counter() - started)

    # -- rendering -----------------------------------------------------------------------

    def _route(self, request: GenerationRequest) -> ModelInfo:
        if request.images:
            candidates = (self.i2v, self.t2v)
            usable = [info for info in candidates if info and info.image_to_video]
            if not usable:
                raise EngineError(
                    "no image-to-video model is configured (GROKIMAGINE_DIFFUSERS_I2V_MODEL)",
                    "IMAGE_TO_VIDEO_UNAVAILABLE",
                    fallback=True,
                )
        else:
            candidates = (self.t2v, self.i2v)
            usable = [info for info in candidates if info and info.text_to_video]
            if not usable:
                raise EngineError(
                    "no text-to-video model is configured (GROKIMAGINE_DIFFUSERS_T2V_MODEL)",
                    "TEXT_TO_VIDEO_UNAVAILABLE",
                    fallback=True,
                )
        return usable[0]

    def plan(self, info: ModelInfo, request: GenerationRequest) -> RenderPlan:
        """The render plan of ``request`` on the loaded model ``info``."""
        model = self._load(info)
        return plan_render(
            request,
            family=info.family,
            profile=self.presets.family(info.family),
            preset=self.presets.mode(request.mode),
            geometry=model.geometry,
            max_tier=self.config.max_resolution,
            steps=self.config.steps,
            guidance_scale=self.config.guidance_scale,
            max_frames=self.config.max_frames,
        )

    def generate(
        self, request: GenerationRequest, output: Path, control: RenderControl
    ) -> GenerationResult:
        """Render ``request`` into the MP4 file ``output``; see the Engine protocol."""
        control.check_canceled()
        operation = request.operation != "generate"
        info = self.route_operation(request) if operation else self._route(request)
        try:
            if operation:
                return self.render_operation(info, request, output, control)
            return self._render(info, request, output, control)
        except (EngineError, GenerationCanceled):
            raise
        except Exception as exc:
            if _is_out_of_memory(exc):
                _free_gpu_memory()
                raise EngineError(
                    "the GPU ran out of memory; lower GROKIMAGINE_DIFFUSERS_MAX_RESOLUTION or "
                    "enable GROKIMAGINE_DIFFUSERS_OFFLOAD",
                    "OUT_OF_MEMORY",
                ) from exc
            log.exception("diffusers render failed")
            raise EngineError(f"video generation failed ({type(exc).__name__})") from exc

    def _render(
        self,
        info: ModelInfo,
        request: GenerationRequest,
        output: Path,
        control: RenderControl,
        *,
        steps: int | None = None,
    ) -> GenerationResult:
        from PIL import ImageOps

        images = decode_images(request.images)
        plan = self.plan(info, request)
        if steps is not None:
            plan = replace(plan, steps=steps)
        model = self._load(info)
        direction, used = choose_images(info, len(images))
        framed = [
            ImageOps.fit(images[i], (plan.width, plan.height), method=_lanczos()) for i in used
        ]
        with self._render_lock:
            control.check_canceled()
            log.info(
                "rendering %s %s: %dx%d, %d frames at %d fps, %d steps, guidance %.1f",
                info.family,
                direction,
                plan.width,
                plan.height,
                plan.num_frames,
                plan.fps,
                plan.steps,
                plan.guidance_scale,
            )
            started = time.perf_counter()
            video = self._run_pipeline(model, direction, plan, framed, control)
            render_seconds = time.perf_counter() - started
        control.check_canceled()
        frames = to_uint8_frames(video)
        control.report(DENOISE_SHARE + (1 - DENOISE_SHARE) / 2)
        height, width = frames.shape[1], frames.shape[2]
        written = encode_mp4(frames, output, width=width, height=height, fps=plan.fps)
        control.report(1.0)
        return GenerationResult(
            details={
                "engine": self.name,
                "model": str(info.path),
                "family": info.family,
                "pipeline": type(model.pipeline(direction)).__name__,
                "direction": direction,
                "images_used": [i + 1 for i in used],
                "width": width,
                "height": height,
                "num_frames": written,
                "fps": plan.fps,
                "tier": plan.tier,
                "steps": plan.steps,
                "guidance_scale": plan.guidance_scale,
                "seed": plan.seed,
                "render_seconds": round(render_seconds, 3),
            }
        )

    def _run_pipeline(
        self,
        model: LoadedModel,
        direction: str,
        plan: RenderPlan,
        images: list[Any],
        control: RenderControl,
    ) -> Any:
        import torch

        pipe = model.pipeline(direction)

        def on_step_end(
            pipeline: Any, step: int, timestep: Any, tensors: dict[str, Any]
        ) -> dict[str, Any]:
            total = getattr(pipeline, "num_timesteps", None) or plan.steps
            control.report(DENOISE_SHARE * (step + 1) / total)
            control.check_canceled()
            return {}

        # A CPU generator gives the same noise for a seed on every device.
        generator = torch.Generator(device="cpu").manual_seed(plan.seed)
        kwargs = call_arguments(model, direction, plan, images, generator, on_step_end)
        try:
            return pipe(**kwargs).frames
        finally:
            # After a cancel or a failure the pipeline skipped its own clean-up.
            model.reset()


def _require_gpu_extra() -> None:
    try:
        import diffusers  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(
            f"the diffusers engine needs the gpu extra ({exc.name} is missing): "
            "pip install torch, then, in a checkout of grokimagine, pip install '.[gpu]'"
        ) from exc


def _gray_png(width: int, height: int) -> InputImage:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (128, 128, 128)).save(buffer, format="PNG")
    return InputImage(buffer.getvalue(), "image/png")


def _lanczos() -> Any:
    from PIL import Image

    return Image.Resampling.LANCZOS


def _is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError)


def _free_gpu_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
