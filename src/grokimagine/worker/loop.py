"""The worker loop: claim tasks, run each engine in a thread, keep every lease alive, finish.

One honest loop, in the manner of arq: no task is lost because the database holds the truth.
A worker runs as many tasks at once as its engines declare (``engines/registry.py``: a relay
engine its provider cap, preview the CPU cores, diffusers one), each under its own lease,
heartbeat, progress and cancel flag. A worker that dies leaves leases that expire; another
worker (or this one, restarted) claims the tasks again, up to ``max_attempts`` runs, after
which a task fails and is refunded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import tempfile
import time
import uuid
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from grokimagine.domain.billing.low_balance import send_due_alerts
from grokimagine.domain.billing.plan_grants import grant_monthly_credits
from grokimagine.domain.billing.plans import plan_catalog
from grokimagine.domain.operator import fleet
from grokimagine.domain.operator.business_settings import refresh_business_settings
from grokimagine.domain.purchases.auto_top_up import sweep_auto_top_ups
from grokimagine.domain.tasks import queue as task_queue
from grokimagine.domain.tasks.queue import Lease
from grokimagine.domain.tasks.records import TaskRecord
from grokimagine.engines.base import (
    EngineError,
    GenerationCanceled,
    warm_up_engine,
)
from grokimagine.engines.registry import engine_concurrency
from grokimagine.engines.routing import EngineRouter, RoutingError
from grokimagine.ops.metrics import TASK_DURATION, TASK_PICKUP, WORKER_HEARTBEATS
from grokimagine.services import Services
from grokimagine.worker.late_results import LATE_RESULT_CHECK_SECONDS, check_late_results
from grokimagine.worker.notify import libpq_url, listen_for_tasks
from grokimagine.worker.render import TaskRenderer, TaskRun
from grokimagine.worker.retention import RetentionJob

log = logging.getLogger("grokimagine.worker")

CHECK_IN_SECONDS = 10.0  # how often a worker records in the database that it is alive


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
        self.retention = RetentionJob(services, self.worker_id)
        self.engines = served_engines(self.settings.worker_engines, self.router)
        self.slots = {name: engine_concurrency(self.settings, name) for name in self.engines}
        self._renderer = TaskRenderer(services, self.router, self.engines)
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._runs: dict[str, TaskRun] = {}  # task id -> its run, while it runs here
        self._busy: dict[str, int] = dict.fromkeys(self.slots, 0)  # engine -> tasks running
        self._running: set[asyncio.Task[None]] = set()
        # Engines block a thread per task for the task's life (a relay job waits minutes), so
        # they get a pool of their own rather than asyncio's default one; two threads more for
        # the looks at late results, which must not wait for a task to end.
        self._executor = ThreadPoolExecutor(
            max_workers=sum(self.slots.values()) + 2, thread_name_prefix="engine"
        )
        weakref.finalize(self, self._executor.shutdown, wait=False)
        self._checked_in = 0.0
        self._late_checked = time.monotonic()  # the first look comes a while after start

    def wake(self) -> None:
        """Tell an idle worker that a task is waiting (safe to call from the event loop)."""
        self._wakeup.set()

    def stop(self) -> None:
        """Stop claiming; every task in hand is stopped at its next step and handed back."""
        self._stopping.set()
        self._wakeup.set()
        for run in list(self._runs.values()):
            run.cancel_event.set()

    @property
    def running(self) -> int:
        """How many tasks this worker is running now."""
        return len(self._runs)

    async def run(self) -> None:
        """Claim and run tasks until :meth:`stop`."""
        engines = sorted(self.engines)
        await asyncio.to_thread(self._warm_up, engines)
        await fleet.register_worker(self.services.db, self.worker_id, engines)
        self._checked_in = time.monotonic()
        listener = self._start_listener()
        slots = ", ".join(f"{name}={self.slots[name]}" for name in engines)
        log.info(
            "worker %s started with engines %s (tasks at once: %s)",
            self.worker_id,
            ", ".join(engines),
            slots,
        )
        try:
            while not self._stopping.is_set():
                # Cleared before the claims, so that a wake-up during them is not lost.
                self._wakeup.clear()
                try:
                    await self.fill_slots()
                    await self._check_in()
                except Exception:
                    log.exception("worker %s: unexpected error; retrying shortly", self.worker_id)
                if not self._stopping.is_set():
                    # Woken by a new task, a finished one (a free slot), or the poll interval.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wakeup.wait(), self.settings.poll_seconds)
        finally:
            await self.retention.close()
            # stop() asked every running task to stop; each hands itself back.
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
            self._executor.shutdown(wait=False)

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
            await fleet.touch_worker(self.services.db, self.worker_id, self._node_views())
            await refresh_business_settings(self.services, force=True)  # plans, retention
            self.retention.maybe_start()
            await grant_monthly_credits(self.services.db, plan_catalog(self.services.settings))
            await send_due_alerts(self.services.db, self.settings.smtp)  # low-balance emails
            try:
                await sweep_auto_top_ups(self.services.db, self.services.settings)
            except Exception:  # a payment problem must not stop the videos
                log.exception("auto top-up sweep failed; next check-in tries again")

    def _node_views(self) -> list[dict[str, Any]]:
        """The GPU nodes of this worker's fleet engines (sglang, vllm-omni), as they are now."""
        views: list[dict[str, Any]] = []
        for name in sorted(self.engines):
            node_status = getattr(self.router.engine(name), "node_status", None)
            if callable(node_status):
                views += [{"engine": name, **node} for node in node_status()]
        return views

    def _warm_up(self, names: list[str]) -> None:
        """Build every engine (loading weights, opening pools) before the first claim."""
        for name in names:
            warm_up_engine(self.router.engine(name))

    async def _sweep(self) -> None:
        # A cancel the client asked for wins over a failure for too many attempts.
        await task_queue.cancel_abandoned_tasks(self.services.db)
        await task_queue.fail_exhausted_tasks(
            self.services.db, max_attempts=self.settings.max_attempts
        )
        now = time.monotonic()
        if now - self._late_checked >= LATE_RESULT_CHECK_SECONDS:
            self._late_checked = now
            await self.check_late_results()

    async def check_late_results(self) -> int:
        """Record what became of provider jobs that timed out on our side (cost, state)."""
        return await check_late_results(self.services.db, self.router, self.engines, self._executor)

    def _slot_engine(self, record: TaskRecord) -> str:
        """The engine whose slot a task takes: its route's head (no route: the default)."""
        head = record.route[0] if record.route else self.router.table.default[0]
        return head if head in self._busy else next(iter(sorted(self._busy)))

    def _free_engines(self) -> set[str]:
        return {name for name, busy in self._busy.items() if busy < self.slots[name]}

    async def _claim(self, engines: set[str]) -> tuple[TaskRecord, Lease] | None:
        default = self.router.table.default[0]
        claimed = await task_queue.claim_next_task(
            self.services.db,
            self.worker_id,
            lease_seconds=self.settings.lease_seconds,
            max_attempts=self.settings.max_attempts,
            engines=engines,
            unrouted=default in engines or default not in self._busy,
        )
        if claimed is not None:
            record, lease = claimed
            if lease.attempt == 1 and record.started_at is not None:
                TASK_PICKUP.observe((record.started_at - record.created_at).total_seconds())
            log.info("task %s: attempt %d on %s", record.id, lease.attempt, self.worker_id)
        return claimed

    async def fill_slots(self) -> int:
        """Claim tasks while an engine of this worker has a free slot; start each; return how
        many were started."""
        await self._sweep()
        started = 0
        while not self._stopping.is_set():
            free = self._free_engines()
            if not free:
                break
            claimed = await self._claim(free)
            if claimed is None:
                break
            record, lease = claimed
            slot = self._slot_engine(record)
            self._busy[slot] += 1
            task = asyncio.create_task(self._run_task(record, lease))
            self._running.add(task)
            task.add_done_callback(lambda done, slot=slot: self._finished(done, slot))
            started += 1
        return started

    def _finished(self, task: asyncio.Task[None], slot: str) -> None:
        self._running.discard(task)
        self._busy[slot] -= 1
        self._wakeup.set()  # a slot is free: claim again at once
        if not task.cancelled() and task.exception() is not None:
            log.error("worker %s: a task run ended with %r", self.worker_id, task.exception())

    async def run_once(self) -> bool:
        """Claim one task and run it to the end; ``False`` if there was none."""
        await self._sweep()
        claimed = await self._claim(set(self.engines))
        if claimed is None:
            return False
        await self._run_task(*claimed)
        return True

    async def _run_task(self, record: TaskRecord, lease: Lease) -> None:
        run = TaskRun()
        self._runs[record.id] = run
        if self._stopping.is_set():
            run.cancel_event.set()  # claimed as the worker was told to stop: hand it back
        heartbeat = asyncio.create_task(self._heartbeat(lease, run))
        db = self.services.db
        started = time.monotonic()
        engine = record.route[0] if record.route else self.router.table.default[0]
        outcome = "lost"
        loop = asyncio.get_running_loop()
        try:
            with tempfile.TemporaryDirectory(prefix="grokimagine-") as scratch:
                files, engine, info = await loop.run_in_executor(
                    self._executor,
                    self._renderer.render_all,
                    record,
                    lease,
                    Path(scratch),
                    run,
                    loop,
                )
                if run.lease_lost:
                    return
                keys, posters = await asyncio.to_thread(
                    self._renderer.store_videos, record.id, files
                )
            if await task_queue.complete_task(db, lease, keys, engine, info, posters):
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
            self._runs.pop(record.id, None)

    async def _heartbeat(self, lease: Lease, run: TaskRun) -> None:
        """Renew the lease a few times per lease period, record progress, watch for cancels."""
        interval = max(0.05, min(1.0, self.settings.lease_seconds / 4))
        reported = 0
        while True:
            await asyncio.sleep(interval)
            progress = min(99, int(run.progress * 100))
            try:
                state = await task_queue.renew_lease(
                    self.services.db,
                    lease,
                    lease_seconds=self.settings.lease_seconds,
                    # Only a change is written (and announced to event streams).
                    progress=progress if progress != reported else None,
                )
                reported = progress
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
