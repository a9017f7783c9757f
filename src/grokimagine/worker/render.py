"""One task's run on a worker: its videos rendered by the route's engines, provider jobs stored.

Runs in an engine thread of the worker's pool. Every provider job is written on the task the
moment the provider accepts it, and every provider video put in the file store the moment it
is fetched, so that a re-run after a crash resumes instead of paying twice.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import av

from grokimagine.domain.tasks import provider_jobs
from grokimagine.domain.tasks.queue import Lease
from grokimagine.domain.tasks.records import TaskRecord
from grokimagine.engines.base import (
    GenerationCanceled,
    GenerationRequest,
    GenerationResult,
    InputImage,
    InputVideo,
    ProviderJob,
    RenderControl,
)
from grokimagine.engines.routing import EngineRouter, run_with_fallback
from grokimagine.services import Services
from grokimagine.vocabulary import JOB_DONE
from grokimagine.worker.posters import poster_jpeg, poster_key

log = logging.getLogger("grokimagine.worker")

JOB_RECORD_SECONDS = 60.0  # longest wait to store a provider job before giving the task up


@dataclass
class TaskRun:
    """The shared state of one task's run between the engine thread and the heartbeat."""

    progress: float = 0.0
    cancel_event: threading.Event = field(default_factory=threading.Event)
    lease_lost: bool = False
    canceled_by_user: bool = False


class TaskRenderer:
    """Renders the videos of claimed tasks on the engines a worker serves."""

    def __init__(self, services: Services, router: EngineRouter, engines: Collection[str]):
        self.services = services
        self.router = router
        self.engines = engines

    def job_recorder(
        self,
        lease: Lease,
        video: int,
        run: TaskRun,
        loop: asyncio.AbstractEventLoop,
        seen: set[tuple[str, str]],
    ) -> Callable[[str, ProviderJob], None]:
        """Store an engine's provider job on the task, from the engine's thread, and wait."""

        def record_job(engine: str, job: ProviderJob, stored_key: str | None = None) -> None:
            stored = asyncio.run_coroutine_threadsafe(
                provider_jobs.record_provider_job(
                    self.services.db,
                    lease,
                    video=video,
                    engine=engine,
                    job_id=job.job_id,
                    state=job.state,
                    cost_usd=job.cost_usd,
                    stored_key=stored_key,
                ),
                loop,
            ).result(timeout=JOB_RECORD_SECONDS)
            if not stored:  # another worker holds the task now: stop here
                run.lease_lost = True
                run.cancel_event.set()
                raise GenerationCanceled()
            seen.add((engine, job.job_id))

        return record_job

    def source_video(self, record: TaskRecord) -> InputVideo | None:
        """The stored source of an extend or edit, with a signed URL a provider may fetch."""
        stored = record.input_video
        if not stored:
            return None
        store = self.services.store
        return InputVideo(
            data=store.get_bytes(stored["key"]),
            mime=stored["mime"],
            seconds=float(stored["seconds"]),
            width=int(stored["width"]),
            height=int(stored["height"]),
            url=store.video_url(stored["key"], self.services.settings.url_ttl_seconds),
        )

    def render_all(
        self,
        record: TaskRecord,
        lease: Lease,
        scratch: Path,
        run: TaskRun,
        loop: asyncio.AbstractEventLoop,
    ) -> tuple[list[Path | str], str, dict[str, object]]:
        images = [
            InputImage(data=self.services.store.get_bytes(item["key"]), mime=item["mime"])
            for item in record.input_images
        ]
        source = self.source_video(record)
        # Fallbacks go only through the engines this worker serves; the claim made sure of
        # the first.
        route = [name for name in record.route if name in self.engines] or list(
            self.router.table.default
        )
        files: list[Path | str] = []  # a path to store, or the key of a video stored already
        results = []
        engine = route[0]
        for index in range(record.video_count):
            kept = provider_jobs.stored_video(record, index)
            if kept is not None:
                # A provider's video an earlier run already paid for, fetched and stored (its
                # URL may be spent): not asked for again.
                engine = kept["engine"]
                resumed = GenerationResult(kept["job_id"], kept.get("cost_usd"), {"stored": True})
                results.append((engine, resumed))
                files.append(kept["stored_key"])
                continue
            request = GenerationRequest(
                prompt=record.prompt,
                mode=record.mode,
                ratio=record.ratio,
                width=record.width,
                height=record.height,
                num_frames=record.num_frames,
                fps=record.fps,
                seed=record.seed + index,
                images=images,
                negative_prompt=record.negative_prompt,
                operation=record.operation,
                source=source,
            )

            def on_progress(fraction: float, index: int = index) -> None:
                run.progress = (index + fraction) / record.video_count

            seen: set[tuple[str, str]] = set()
            recorder = self.job_recorder(lease, index, run, loop, seen)
            control = RenderControl(
                on_progress=on_progress,
                cancel_event=run.cancel_event,
                provider_jobs=provider_jobs.resumable_jobs(record, index),
                on_provider_job=recorder,
            )
            output = scratch / f"{index}.mp4"
            engine, result = run_with_fallback(self.router, route, request, output, control)
            results.append((engine, result))
            job_id = result.provider_task_id
            if job_id is not None and (engine, job_id) in seen:
                # Store a paid-for video at once, so that a crash before the task completes
                # does not lose it (a provider's URL may serve it only once).
                key = video_key(record.id, index)
                self.services.store.put_file(key, output)
                recorder(engine, ProviderJob(job_id, JOB_DONE, result.provider_cost_usd), key)
                files.append(key)
            else:
                files.append(output)
        info: dict[str, object] = {
            "videos": [
                {
                    "engine": engine,
                    "provider_task_id": result.provider_task_id,
                    "provider_cost_usd": result.provider_cost_usd,
                    **result.details,
                }
                for engine, result in results
            ]
        }
        return files, engine, info

    def store_videos(self, task_id: str, files: list[Path | str]) -> tuple[list[str], list[str]]:
        """Store the videos not stored yet, and a poster frame (JPEG) of each; both key lists."""
        keys: list[str] = []
        posters: list[str] = []
        for index, item in enumerate(files):
            if isinstance(item, str):  # stored already
                key = item
                source: Path | io.BytesIO = io.BytesIO(self.services.store.get_bytes(key))
            else:
                key = video_key(task_id, index)
                source = item
            try:
                still = poster_jpeg(source)
            except (ValueError, av.error.FFmpegError):
                # A video whose frames we cannot decode is still the customer's video.
                log.warning("task %s: no poster frame for video %d", task_id, index)
                still = None
            if not isinstance(item, str):
                self.services.store.put_file(key, item)
            keys.append(key)
            if still is not None:
                posters.append(poster_key(key))
                self.services.store.put_bytes(posters[-1], still)
        return keys, posters


def video_key(task_id: str, index: int) -> str:
    """Where a task's video ``index`` lives in the file store."""
    return f"videos/{task_id}/{index}.mp4"
