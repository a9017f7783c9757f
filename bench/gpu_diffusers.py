"""GPU benchmark: the diffusers engine's speed settings against plain diffusers.

Builds full-size Wan 2.1 T2V 1.3B and LTX-Video (2B, 0.9.x) transformers and VAEs from their
published architectures with random weights (nothing is downloaded) and renders a 5 s clip at
480p with each speed setting, through the same ``configure_pipeline`` the engine uses:

    python bench/gpu_diffusers.py                      # both models, every setting
    python bench/gpu_diffusers.py --models wan --steps 20 --out bench/out/wan.md

The text encoders (UMT5-XXL, T5-XXL) are replaced by random prompt embeddings of their output
shape, so text encoding is not timed. Random weights give realistic step times, but not
realistic first-block cache hit rates: the cache's speed-up on real weights can differ.
``--tiny`` runs the same code with tiny models on the CPU, to check the script itself.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from grokimagine.engines.diffusers.config import SpeedOptions
from grokimagine.engines.diffusers.loader import configure_pipeline
from grokimagine.engines.diffusers.profiles import load_presets

CONFIGS: dict[str, dict[str, Any]] = {
    "plain": {},
    "compile": {"compile": True},
    "cache": {"cache": "first-block"},
    "compile+cache": {"compile": True, "cache": "first-block"},
    "vae-tiling": {"vae_tiling": True},
    "offload-model": {"offload": "model"},
}


@dataclass(frozen=True)
class ModelSpec:
    """One benchmarked model: how to build it and the clip it renders."""

    name: str
    width: int
    height: int
    num_frames: int
    guidance_scale: float
    text_tokens: int
    text_dim: int
    transformer: dict[str, Any] = field(default_factory=dict)
    vae: dict[str, Any] = field(default_factory=dict)


# Published configurations (config.json of Wan-AI/Wan2.1-T2V-1.3B-Diffusers and of
# Lightricks/LTX-Video's transformer; the VAE classes' defaults are those models' VAEs).
WAN = ModelSpec(
    name="Wan 2.1 T2V 1.3B",
    width=832,
    height=480,
    num_frames=81,  # 5 s at 16 fps
    guidance_scale=5.0,
    text_tokens=512,
    text_dim=4096,
    transformer={
        "patch_size": (1, 2, 2),
        "num_attention_heads": 12,
        "attention_head_dim": 128,
        "in_channels": 16,
        "out_channels": 16,
        "text_dim": 4096,
        "freq_dim": 256,
        "ffn_dim": 8960,
        "num_layers": 30,
        "cross_attn_norm": True,
        "qk_norm": "rms_norm_across_heads",
        "eps": 1e-6,
        "rope_max_seq_len": 1024,
    },
)
LTX = ModelSpec(
    name="LTX-Video 2B",
    width=768,
    height=512,
    num_frames=121,  # 5 s at 24 fps
    guidance_scale=3.0,
    text_tokens=128,
    text_dim=4096,
    transformer={
        "in_channels": 128,
        "out_channels": 128,
        "patch_size": 1,
        "patch_size_t": 1,
        "num_attention_heads": 32,
        "attention_head_dim": 64,
        "cross_attention_dim": 2048,
        "num_layers": 28,
        "caption_channels": 4096,
    },
)
TINY = {
    "wan": ModelSpec(
        "tiny Wan", 64, 64, 9, 5.0, 16, 32,
        transformer={"num_attention_heads": 2, "attention_head_dim": 8, "in_channels": 4,
                     "out_channels": 4, "text_dim": 32, "freq_dim": 32, "ffn_dim": 32,
                     "num_layers": 2, "rope_max_seq_len": 32},
        vae={"base_dim": 8, "z_dim": 4, "dim_mult": [1, 1, 1, 1], "num_res_blocks": 1,
             "latents_mean": [0.0] * 4, "latents_std": [1.0] * 4},
    ),
    "ltx": ModelSpec(
        "tiny LTX", 64, 64, 9, 3.0, 16, 32,
        transformer={"in_channels": 8, "out_channels": 8, "num_attention_heads": 2,
                     "attention_head_dim": 8, "cross_attention_dim": 16, "num_layers": 2,
                     "caption_channels": 32},
        vae={"latent_channels": 8, "block_out_channels": (8, 8, 8, 8),
             "decoder_block_out_channels": (8, 8, 8, 8), "layers_per_block": (1, 1, 1, 1, 1),
             "decoder_layers_per_block": (1, 1, 1, 1, 1)},
    ),
}  # fmt: skip


@dataclass
class Measurement:
    """One timed render."""

    config: str
    warmup_s: float
    step_s: float
    denoise_s: float
    decode_s: float
    video_s: float
    peak_gib: float | None


def cast_like_from_pretrained(model: torch.nn.Module, dtype: torch.dtype) -> None:
    """Cast as ``from_pretrained(dtype=...)`` does: the model's ``_keep_in_fp32_modules`` stay."""
    keep = getattr(model, "_keep_in_fp32_modules", None) or []
    for name, parameter in model.named_parameters():
        fp32 = any(part in keep for part in name.split("."))
        parameter.data = parameter.data.to(torch.float32 if fp32 else dtype)


def build_pipeline(family: str, spec: ModelSpec, device: str, dtype: torch.dtype) -> Any:
    """The pipeline with random weights, built directly on ``device``, seeded identically."""
    import diffusers

    torch.manual_seed(0)
    fp32 = load_presets().family(family).fp32_components
    with torch.device(device):
        if family == "wan":
            transformer = diffusers.WanTransformer3DModel(**spec.transformer)
            vae = diffusers.AutoencoderKLWan(**spec.vae)
            scheduler = diffusers.UniPCMultistepScheduler(
                prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
            )
            pipe_class = diffusers.WanPipeline
        else:
            transformer = diffusers.LTXVideoTransformer3DModel(**spec.transformer)
            vae = diffusers.AutoencoderKLLTXVideo(**spec.vae)
            scheduler = diffusers.FlowMatchEulerDiscreteScheduler()
            pipe_class = diffusers.LTXPipeline
    cast_like_from_pretrained(transformer, dtype)
    cast_like_from_pretrained(vae, torch.float32 if "vae" in fp32 else dtype)
    return pipe_class(
        tokenizer=None, text_encoder=None, vae=vae, scheduler=scheduler, transformer=transformer
    )


def prompt_inputs(family: str, spec: ModelSpec, device: str, dtype: torch.dtype) -> dict:
    """Random prompt embeddings in the text encoder's output shape (batch of one)."""
    generator = torch.Generator("cpu").manual_seed(1)
    shape = (1, spec.text_tokens, spec.text_dim)
    embeds = torch.randn(shape, generator=generator).to(device, dtype)
    negative = torch.randn(shape, generator=generator).to(device, dtype)
    inputs = {"prompt_embeds": embeds, "negative_prompt_embeds": negative}
    if family == "ltx":
        mask = torch.ones(shape[:2], device=device, dtype=torch.long)
        inputs.update(prompt_attention_mask=mask, negative_prompt_attention_mask=mask)
    return inputs


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def render(pipe: Any, family: str, spec: ModelSpec, steps: int, device: str, dtype) -> list:
    """Run one render; return the timestamps: start, after each step, end."""
    stamps = [time.perf_counter()]

    def on_step_end(pipeline: Any, step: int, timestep: Any, tensors: dict) -> dict:
        synchronize(device)
        stamps.append(time.perf_counter())
        return {}

    extra = {"frame_rate": 24} if family == "ltx" else {}
    pipe(
        **prompt_inputs(family, spec, device, dtype),
        width=spec.width,
        height=spec.height,
        num_frames=spec.num_frames,
        num_inference_steps=steps,
        guidance_scale=spec.guidance_scale,
        generator=torch.Generator("cpu").manual_seed(0),
        output_type="np",
        callback_on_step_end=on_step_end,
        **extra,
    )
    synchronize(device)
    stamps.append(time.perf_counter())
    return stamps


def measure(family: str, spec: ModelSpec, config: str, args: argparse.Namespace) -> Measurement:
    """Build, configure, warm up and time one model with one speed setting."""
    dtype = torch.float32 if args.device == "cpu" else torch.bfloat16
    speed = SpeedOptions(device=args.device, dtype=str(dtype).removeprefix("torch."),
                         **CONFIGS[config])  # fmt: skip
    pipe = build_pipeline(family, spec, args.device, dtype)
    configure_pipeline(pipe, speed, args.device)
    started = time.perf_counter()
    render(pipe, family, spec, args.warmup_steps, args.device, dtype)
    warmup_s = time.perf_counter() - started
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    stamps = render(pipe, family, spec, args.steps, args.device, dtype)
    step_times = [later - earlier for earlier, later in itertools.pairwise(stamps[1:-1])]
    result = Measurement(
        config=config,
        warmup_s=warmup_s,
        step_s=statistics.median(step_times) if step_times else stamps[1] - stamps[0],
        denoise_s=stamps[-2] - stamps[0],
        decode_s=stamps[-1] - stamps[-2],
        video_s=stamps[-1] - stamps[0],
        peak_gib=torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
    )
    del pipe
    if cuda:
        torch.cuda.empty_cache()
    return result


def table(spec: ModelSpec, steps: int, rows: list[Measurement]) -> str:
    """A markdown table of one model's measurements, with the speed-up over plain."""
    plain = next((row for row in rows if row.config == "plain"), None)
    lines = [
        f"**{spec.name}**, {spec.width}x{spec.height}, {spec.num_frames} frames, "
        f"{steps} steps, CFG (two transformer passes per step), random weights and embeddings",
        "",
        "| setting | s/step | denoise s | decode s | s/video | vs plain | peak GiB | warm-up s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        speedup = f"{plain.video_s / row.video_s:.2f}x" if plain else "-"
        peak = f"{row.peak_gib:.1f}" if row.peak_gib is not None else "-"
        lines.append(
            f"| {row.config} | {row.step_s:.3f} | {row.denoise_s:.1f} | {row.decode_s:.1f} | "
            f"{row.video_s:.1f} | {speedup} | {peak} | {row.warmup_s:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="wan,ltx", help="comma list of wan, ltx")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma list of settings")
    parser.add_argument("--steps", type=int, default=20, help="denoising steps timed")
    parser.add_argument("--warmup-steps", type=int, default=2)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny models: check the script")
    parser.add_argument("--out", type=Path, help="also write the tables to this file")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("no CUDA device; use --tiny --device cpu to check the script")
    import diffusers

    device_name = (
        torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.machine()
    )
    header = (
        f"{device_name}; torch {torch.__version__}; diffusers {diffusers.__version__}; "
        f"python {platform.python_version()}"
    )
    print(header, flush=True)
    sections = [header]
    for family in args.models.split(","):
        spec = TINY[family] if args.tiny else {"wan": WAN, "ltx": LTX}[family]
        rows = []
        for config in args.configs.split(","):
            rows.append(measure(family, spec, config, args))
            print(f"{spec.name} {config}: {rows[-1]}", file=sys.stderr, flush=True)
        sections.append(table(spec, args.steps, rows))
        print("\n" + sections[-1], flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n\n".join(sections) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
