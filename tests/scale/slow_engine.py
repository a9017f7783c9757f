"""A test engine loaded as a plugin (GROKIMAGINE_ENGINE_PLUGINS): it takes its time, so that a
test can stop or kill a worker mid-task. It sleeps in small steps, reporting progress and
honouring cancellation like a real engine, then writes a short real MP4.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import ClassVar

import numpy as np

from grokimagine.engines.base import GenerationRequest, GenerationResult, RenderControl
from grokimagine.engines.encoding import encode_mp4
from grokimagine.settings import Settings

SECONDS_ENV = "GI_TEST_SLOW_SECONDS"


class SlowEngine:
    """Waits ``seconds`` (in 50 ms steps), then encodes two black frames."""

    name: ClassVar[str] = "slow"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def generate(
        self, request: GenerationRequest, output: Path, control: RenderControl
    ) -> GenerationResult:
        deadline = time.monotonic() + self.seconds
        while (left := deadline - time.monotonic()) > 0:
            control.check_canceled()
            control.report(0.9 * (1 - left / self.seconds))
            time.sleep(min(0.05, left))
        frame = np.zeros((request.height, request.width, 3), np.uint8)
        encode_mp4(iter([frame, frame]), output, width=request.width, height=request.height, fps=24)
        return GenerationResult(provider_task_id=f"slow-{os.getpid()}")


def build(settings: Settings) -> SlowEngine:
    """The plugin factory: the delay comes from ``GI_TEST_SLOW_SECONDS`` (default 3 s)."""
    return SlowEngine(float(os.environ.get(SECONDS_ENV, "3")))
