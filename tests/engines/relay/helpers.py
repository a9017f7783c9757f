"""Helpers shared by the relay tests: fast settings, requests, a progress log, MP4 probing."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av

from grokimagine.engines.base import GenerationRequest, RenderControl
from grokimagine.settings import Settings

XAI_KEY = "xai-test-key-0123456789"
OPENAI_KEY = "sk-test-key-0123456789"
VLLM_KEY = "vllm-test-key-0123456789"


def fast_settings(**overrides: Any) -> Settings:
    """Settings with short polls, backoffs and timeouts, so the relay tests run fast."""
    values: dict[str, Any] = {
        "relay_poll_interval": 0.01,
        "relay_poll_max_interval": 0.05,
        "relay_retry_backoff": 0.01,
        "relay_retries": 3,
        "relay_timeout": 10.0,
        "relay_request_timeout": 5.0,
        "relay_connect_timeout": 2.0,
        "relay_queue_timeout": 5.0,
        "relay_breaker_failures": 5,
        "relay_breaker_reset_seconds": 60.0,
    }
    values.update(overrides)
    return Settings(**values)


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll ``predicate`` (a fake's state, seen from a test thread) until true or ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def make_request(**overrides: Any) -> GenerationRequest:
    """A GenerationRequest as the worker would hand it (6 s, 24 fps, 480x720)."""
    values: dict[str, Any] = {
        "prompt": "a red fox running through snow",
        "mode": "normal",
        "ratio": "2:3",
        "width": 480,
        "height": 720,
        "num_frames": 144,
        "fps": 24,
        "seed": 7,
    }
    values.update(overrides)
    return GenerationRequest(**values)


class ProgressLog:
    """A RenderControl whose progress reports are kept."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.control = RenderControl(on_progress=self.values.append)


def probe_mp4(path: Path) -> tuple[str, int]:
    """The codec name and decoded frame count of an MP4 file (PyAV)."""
    with av.open(str(path)) as box:
        stream = box.streams.video[0]
        frames = sum(1 for _ in box.decode(stream))
        return stream.codec_context.name, frames
