"""The one small interface every engine implements.

An engine turns a :class:`GenerationRequest` into one MP4 file. It knows nothing of HTTP,
accounts or credits: the worker hands it a request, a path to write and a :class:`RenderControl`
through which it reports progress and learns that the task was canceled.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from grokimagine.vocabulary import JOB_RUNNING


@dataclass(frozen=True)
class InputImage:
    """An input image, already fetched and validated at submission."""

    data: bytes
    mime: str  # e.g. "image/png"


@dataclass(frozen=True)
class InputVideo:
    """The source video of an extend or edit, already fetched and probed at submission.

    ``url`` is a signed URL of our own copy when the operator's public URL may serve it to a
    provider; engines that read the bytes ignore it.
    """

    data: bytes
    mime: str  # "video/mp4" | "video/webm"
    seconds: float
    width: int
    height: int
    url: str | None = None


@dataclass(frozen=True)
class GenerationRequest:
    """What to render. Sizes and frame counts are already mapped from the API request."""

    prompt: str
    mode: str  # "fun" | "normal" | "spicy"
    ratio: str  # "2:3" | "3:2" | "1:1"
    width: int
    height: int
    num_frames: int
    fps: int
    seed: int
    images: Sequence[InputImage] = ()
    negative_prompt: str | None = None
    # "generate", or "extend" (``source`` + ``num_frames`` more, as one file) or "edit" (the
    # source changed as the prompt says, as long as the source; ``num_frames`` matches it).
    operation: str = "generate"
    source: InputVideo | None = None


class GenerationCanceled(Exception):
    """Raised by an engine that stopped because the task was canceled."""


class EngineError(Exception):
    """An engine's failure, with a machine code the task shows as ``error.code``.

    ``fallback`` says that another engine may be tried (the provider refused or is down), as
    opposed to a failure that would repeat anywhere.
    """

    def __init__(
        self,
        message: str,
        code: str = "ENGINE_FAILED",
        *,
        fallback: bool = False,
        cost_usd: float | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.fallback = fallback
        self.cost_usd = cost_usd  # what a provider charged for the failed job, when it said


@dataclass(frozen=True)
class ProviderJob:
    """A job at a provider, as an engine reports it: its id, state and cost when known."""

    job_id: str
    state: str = JOB_RUNNING
    cost_usd: float | None = None


@dataclass
class GenerationResult:
    """What an engine reports beside the file: provider ids and costs, for operators."""

    provider_task_id: str | None = None
    provider_cost_usd: float | None = None
    details: dict[str, object] = field(default_factory=dict)


@dataclass
class RenderControl:
    """The worker's side of a running generation: progress out, cancellation in, provider jobs.

    ``provider_jobs`` maps an engine name to a job an earlier run of this task started at that
    engine's provider and that may still be running; ``on_provider_job`` stores a job's news
    durably (it returns once written). Routing sets ``engine_name`` for each engine it tries.
    """

    on_progress: Callable[[float], None] = lambda fraction: None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    provider_jobs: Mapping[str, str] = field(default_factory=dict)
    on_provider_job: Callable[[str, ProviderJob], None] = lambda engine, job: None
    engine_name: str = ""

    @property
    def resume_job_id(self) -> str | None:
        """The job to resume instead of starting one, if an earlier run left one running."""
        return self.provider_jobs.get(self.engine_name)

    def record_job(self, job: ProviderJob) -> None:
        """Store a provider job's id, state and cost on the task before going on."""
        self.on_provider_job(self.engine_name, job)

    def report(self, fraction: float) -> None:
        """Report progress as a fraction in [0, 1]."""
        self.on_progress(min(1.0, max(0.0, fraction)))

    def check_canceled(self) -> None:
        """Raise :class:`GenerationCanceled` if the task was canceled; call between steps."""
        if self.cancel_event.is_set():
            raise GenerationCanceled()


class Engine:
    """A video engine. ``generate`` is blocking; the worker runs it in a thread.

    Built-in engines subclass this to inherit the no-op ``warmup`` and ``close``; a plugin engine
    may too, or define only ``generate`` (the worker then treats both as no-ops). What an engine
    accepts (durations, resolutions, ...) is declared beside it in ``engines/registry.py``, from
    the settings alone, so the API checks requests without building it.
    """

    name: ClassVar[str] = ""

    def generate(
        self, request: GenerationRequest, output: Path, control: RenderControl
    ) -> GenerationResult:
        """Render one video for ``request`` into the MP4 file ``output``.

        Raises :class:`EngineError` on failure and :class:`GenerationCanceled` when canceled.
        """
        raise NotImplementedError

    def job_outcome(self, job_id: str) -> ProviderJob | None:
        """Look once at a provider job we stopped waiting for (a late result): its state and
        cost now. Engines without provider jobs answer None."""
        return None

    def warmup(self) -> None:
        """Load what the first task would otherwise wait for (weights, pools); once, at start."""

    def close(self) -> None:
        """Release what the engine holds (connection pools, GPU memory); once, at shutdown."""


def warm_up_engine(engine: object) -> None:
    """Call the engine's ``warmup`` if it has one (plugins need not)."""
    warmup = getattr(engine, "warmup", None)
    if callable(warmup):
        warmup()


def close_engine(engine: object) -> None:
    """Call the engine's ``close`` if it has one (plugins need not)."""
    close = getattr(engine, "close", None)
    if callable(close):
        close()
