"""Time the preview engine: render and encode a 6 s, 24 fps, 480x480 clip on one CPU core.

Run: python bench/preview_engine.py [--runs 7] [--operations] [--preset ultrafast]

``--operations`` times extend (a 6 s source + 4 s) and edit (a 6 s source) instead: decoding the
source, grading or moving the camera, captioning, encoding.
Prints a markdown table (wall and CPU seconds per clip) for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import av
import PIL
from PIL import Image

from grokimagine.engines.base import GenerationRequest, InputImage, InputVideo, RenderControl
from grokimagine.engines.preview.engine import PreviewEngine

PROMPT = "A cat surfing a giant wave at sunset, cinematic lighting, golden hour"


def photo_jpeg(width: int = 1600, height: int = 1200) -> bytes:
    """A photo-sized JPEG with detail everywhere, so decoding and scaling cost what photos do."""
    fractal = Image.effect_mandelbrot((width, height), (-2.2, -1.2, 1.0, 1.2), 80)
    noise = Image.effect_noise((width, height), 40)
    gradient = Image.linear_gradient("L").resize((width, height))
    picture = Image.merge("RGB", (fractal, noise, gradient))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def pin_to_one_core() -> str:
    """Pin this process to one CPU where the OS allows it; say which."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return f"pinned to CPU {core}"


def time_case(
    request: GenerationRequest, runs: int, workdir: Path, preset: str
) -> tuple[float, float, float]:
    """Median wall, best wall and median CPU seconds of ``runs`` generations (after a warm-up)."""
    engine = PreviewEngine(threads=1, preset=preset)
    output = workdir / "clip.mp4"
    engine.generate(request, output, RenderControl())  # warm-up: imports, fonts, code paths
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        engine.generate(request, output, RenderControl())
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), min(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--operations", action="store_true", help="time extend and edit")
    parser.add_argument("--preset", default=PreviewEngine().preset, help="libx264's preset")
    args = parser.parse_args()
    pinning = pin_to_one_core()
    if args.operations:
        operation_cases(args.runs, pinning, args.preset)
        return
    photo = InputImage(photo_jpeg(), "image/jpeg")
    tall = InputImage(photo_jpeg(1200, 1600), "image/jpeg")
    base = dict(prompt=PROMPT, ratio="1:1", width=480, height=480, num_frames=144, fps=24, seed=7)
    cases = [
        ("text only, normal", GenerationRequest(mode="normal", **base)),
        ("text only, fun (most shapes)", GenerationRequest(mode="fun", **base)),
        ("text only, spicy", GenerationRequest(mode="spicy", **base)),
        ("one 1600x1200 JPEG, normal", GenerationRequest(mode="normal", images=(photo,), **base)),
        ("one 1600x1200 JPEG, spicy", GenerationRequest(mode="spicy", images=(photo,), **base)),
        ("two JPEGs, cross-fade, fun", GenerationRequest(mode="fun", images=(photo, tall), **base)),
    ]  # fmt: skip
    print(f"Preview engine, 480x480, 144 frames at 24 fps, libx264 {args.preset}, "
          f"1 encoder thread, {pinning}, median of {args.runs} runs after a warm-up.")  # fmt: skip
    print(f"Python {platform.python_version()}, PyAV {av.__version__}, Pillow {PIL.__version__}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs.\n")  # fmt: skip
    print("| case | median wall s | best wall s | median CPU s |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as workdir:
        for label, request in cases:
            median, best, cpu = time_case(request, args.runs, Path(workdir), args.preset)
            print(f"| {label} | {median:.3f} | {best:.3f} | {cpu:.3f} |", flush=True)


def operation_cases(runs: int, pinning: str, preset: str) -> None:
    """Extend a 6 s preview clip by 4 s, and edit it, at 480x480."""
    base = dict(prompt=PROMPT, ratio="1:1", width=480, height=480, fps=24, seed=7)
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "source.mp4"
        source_request = GenerationRequest(mode="normal", num_frames=144, **base)
        PreviewEngine(threads=1).generate(source_request, path, RenderControl())
        source = InputVideo(path.read_bytes(), "video/mp4", 6.0, 480, 480)
        cases = [
            ("extend 6 s + 4 s (240 frames written), spicy",
             GenerationRequest(mode="spicy", num_frames=96, operation="extend", source=source,
                               **base)),
            ("edit 6 s (144 frames), fun",
             GenerationRequest(mode="fun", num_frames=144, operation="edit", source=source,
                               **base)),
        ]  # fmt: skip
        print(f"Preview engine extend/edit, 480x480 source of 6 s (H.264), libx264 {preset}, "
              f"1 encoder thread, {pinning}, median of {runs} runs after a warm-up.\n")  # fmt: skip
        print("| case | median wall s | best wall s | median CPU s |")
        print("|---|---:|---:|---:|")
        for label, request in cases:
            median, best, cpu = time_case(request, runs, Path(workdir), preset)
            print(f"| {label} | {median:.3f} | {best:.3f} | {cpu:.3f} |", flush=True)


if __name__ == "__main__":
    main()
