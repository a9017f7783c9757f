"""The worker loop: claim a task, run its engine in a thread, keep the lease alive, finish it.

One honest loop, in the manner of arq: no task is lost because the database holds the truth.
A worker that dies leaves a lease that expires; another worker (or this one, restarted) claims
the task again, up to ``max_attempts`` runs, after which the task fails and is refunded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from grokimagine.domain import fleet, task_queue
from grokimagine.domain.task_queue import Lease
from grokimagine.domain.tasks import TaskRecord
from grokimagine.engines.base import (
    EngineError,
    GenerationCanceled,
    GenerationRequest,
    InputImage,
    RenderControl,
    warm_up_engine,
)
from grokimagine.engines.routing import EngineRouter, RoutingError, run_with_fallback
from grokimagine.ops.metrics import TASK_DURATION, TASK_PICKUP, WORKER_HEARTBEATS
from grokimagine.services import Services
from grokimagine.worker.notify import libpq_url, listen_for_tasks

log = logging.getLogger("grokimagine.worker")

CHECK_IN_SECONDS = 10.0  # how often a worker records in the database that it is alive


@dataclass
class _Run:
    """The shared state of one task's run between the engine thread and the heartbeat."""

    progress: float = 0.0
    cancel_event: threading.Event = field(default_factory=threading.Event)
    lease_lost: bool = False
    canceled_by_user: bool = False


class Worker:
    """Runs tasks from the database on the engines of a router until told to stop."""

    def __init__(
        self,
        services: Services,
        router: EngineRouter | None = None,
        *,
        worker_id: str | None = None,
    ):
        self.services = services
        self.settings = services.settings
        self.router = router or services.router
        name = self.settings.worker_name or socket.gethostname()
        self.worker_id = worker_id or f"{name}:{uuid.uuid4().hex[:8]}"
        self.engines = served_engines(self.settings.worker_engines, self.router)
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._current: _Run | None = None
        self._checked_in = 0.0

    def wake(self) -> None:
        """Tell an idle worker that a task is waiting (safe to call from the event loop)."""
        self._wakeup.set()

    def stop(self) -> None:
        """Stop claiming; the task in hand is stopped at its next step and handed back."""
        self._stopping.set()
        self._wakeup.set()
        if self._current is not None:
            self._current.cancel_event.set()

    async def run(self) -> None:
        """Claim and run tasks until :meth:`stop`."""
        engines = sorted(self.engines)
        await asyncio.to_thread(self._warm_up, engines)
        await fleet.register_worker(self.services.db, self.worker_id, engines)
        self._checked_in = time.monotonic()
        listener = self._start_listener()
        log.info("worker %s started with engines %s", self.worker_id, ", ".join(engines))
        try:
            while not self._stopping.is_set():
                # Cleared before the claim, so that a wake-up during it is not lost.
                self._wakeup.clear()
                try:
                    ran = await self.run_once()
                    await self._check_in()
                except Exception:
                    log.exception("worker %s: unexpected error; retrying shortly", self.worker_id)
                    ran = False
                if not ran and not self._stopping.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wakeup.wait(), self.settings.poll_seconds)
        finally:
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener

    def _start_listener(self) -> asyncio.Task[None] | None:
        """On PostgreSQL, listen for new tasks so that an idle worker starts at once."""
        db = self.services.db
        if db.is_sqlite or not self.settings.listen_notify:
            return None
        return asyncio.create_task(listen_for_tasks(libpq_url(db.url), self.wake))

    async def _check_in(self, *, force: bool = False) -> None:
        """Record, at most every few seconds, that this worker is alive."""
        now = time.monotonic()
        if force or now - self._checked_in >= CHECK_IN_SECONDS:
            self._checked_in = now
            WORKER_HEARTBEATS.inc()
            await fleet.touch_worker(self.services.db, self.worker_id)

    def _warm_up(self, names: list[str]) -> None:
        """Build every engine (loading weights, opening pools) before the first claim."""
        for name in names:
            warm_up_engine(self.router.engine(name))

    async def run_once(self) -> bool:
        """Claim one task and run it to the end; ``False`` if there was none."""
        # A cancel the client asked for wins over a failure for too many attempts.
        await task_queue.cancel_abandoned_tasks(self.services.db)
        await task_queue.fail_exhausted_tasks(
            self.services.db, max_attempts=self.settings.max_attempts
        )
        claimed = await task_queue.claim_next_task(
            self.services.db,
            self.worker_id,
            lease_seconds=self.settings.lease_seconds,
            max_attempts=self.settings.max_attempts,
            engines=self.engines,
        )
        if claimed is None:
            return False
        record, lease = claimed
        if lease.attempt == 1 and record.started_at is not None:
            TASK_PICKUP.observe((record.started_at - record.created_at).total_seconds())
        log.info("task %s: attempt %d on %s", record.id, lease.attempt, self.worker_id)
        await self._run_task(record, lease)
        return True

    async def _run_task(self, record: TaskRecord, lease: Lease) -> None:
        run = _Run()
        self._current = run
        heartbeat = asyncio.create_task(self._heartbeat(lease, run))
        db = self.services.db
        started = time.monotonic()
        engine = record.route[0] if record.route else self.router.table.default[0]
        outcome = "lost"
        try:
            with tempfile.TemporaryDirectory(prefix="grokimagine-") as scratch:
                files, engine, info = await asyncio.to_thread(
                    self._render_all, record, Path(scratch), run
                )
                if run.lease_lost:
                    return
                keys = await asyncio.to_thread(self._store_videos, record.id, files)
            if await task_queue.complete_task(db, lease, keys, engine, info):
                outcome = "completed"
            else:
                log.warning("task %s: lease lost before completion; result dropped", record.id)
                if await task_queue.is_deleted(db, record.id):  # deleted while it ran
                    await asyncio.to_thread(self.services.store.delete_task_files, record.id)
        except GenerationCanceled:
            if run.lease_lost:
                log.warning("task %s: lease lost; stopped", record.id)
            elif run.canceled_by_user:
                await task_queue.cancel_running_task(db, lease)
                outcome = "canceled"
            else:
                await task_queue.release_task(db, lease)
                outcome = "handed_back"
        except EngineError as exc:
            log.warning("task %s failed: %s %s", record.id, exc.code, exc.message)
            await task_queue.fail_task(db, lease, exc.code, exc.message)
            outcome = "failed"
        except Exception:
            log.exception("task %s: unexpected engine error", record.id)
            await task_queue.fail_task(
                db, lease, "INTERNAL_ERROR", "the engine failed unexpectedly; credits refunded"
            )
            outcome = "failed"
        finally:
            TASK_DURATION.labels(engine, outcome).observe(time.monotonic() - started)
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            self._current = None

    def _render_all(
        self, record: TaskRecord, scratch: Path, run: _Run
    ) -> tuple[list[Path], str, dict[str, object]]:
        images = [
            InputImage(data=self.services.store.get_bytes(item["key"]), mime=item["mime"])
            for item in record.input_images
        ]
        # Fallbacks go only through the engines this worker serves; the claim made sure of
        # the first.
        route = [name for name in record.route if name in self.engines] or list(
            self.router.table.default
        )
        files: list[Path] = []
        results = []
        engine = route[0]
        for index in range(record.video_count):
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
            )

            def on_progress(fraction: float, index: int = index) -> None:
                run.progress = (index + fraction) / record.video_count

            control = RenderControl(on_progress=on_progress, cancel_event=run.cancel_event)
            output = scratch / f"{index}.mp4"
            engine, result = run_with_fallback(self.router, route, request, output, control)
            results.append((engine, result))
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

    def _store_videos(self, task_id: str, files: list[Path]) -> list[str]:
        keys = []
        for index, path in enumerate(files):
            key = f"videos/{task_id}/{index}.mp4"
            self.services.store.put_file(key, path)
            keys.append(key)
        return keys

    async def _heartbeat(self, lease: Lease, run: _Run) -> None:
        """Renew the lease a few times per lease period, record progress, watch for cancels."""
        interval = max(0.05, min(1.0, self.settings.lease_seconds / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                state = await task_queue.renew_lease(
                    self.services.db,
                    lease,
                    lease_seconds=self.settings.lease_seconds,
                    progress=min(99, int(run.progress * 100)),
                )
            except Exception:
                log.exception("task %s: heartbeat failed", lease.task_id)
                continue
            await self._check_in()
            if not state.held:
                run.lease_lost = True
                run.cancel_event.set()
                return
            if state.cancel_requested:
                run.canceled_by_user = True
                run.cancel_event.set()


def served_engines(configured: list[str], router: EngineRouter) -> frozenset[str]:
    """The engines a worker claims tasks for: ``configured``, or every engine of its routes."""
    available = router.engine_names()
    if not configured:
        return frozenset(available)
    unknown = sorted(set(configured) - available)
    if unknown:
        raise RoutingError(
            f"GROKIMAGINE_WORKER_ENGINES names {', '.join(unknown)}, which no route of this "
            f"worker uses; its engines: {', '.join(sorted(available))}"
        )
    return frozenset(configured)
