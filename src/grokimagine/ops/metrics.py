"""Prometheus metrics: counters and histograms of this process, gauges read at scrape time.

Several API processes on one host (``serve --workers N``) share their counters through
prometheus_client's multiprocess mode: ``serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at an empty
folder before it starts the processes, and every scrape of any of them adds up all their files.
Queue depth and the workers' last-seen times come from the database at scrape time, so any API
process reports the whole fleet.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

HTTP_REQUESTS = Counter(
    "grokimagine_http_requests_total",
    "HTTP requests by route, method and status.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "grokimagine_http_request_duration_seconds",
    "Time to answer an HTTP request, by route.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CREDITS = Counter(
    "grokimagine_credits_total",
    "Credits reserved for tasks (kind=reserved) and given back (kind=refunded).",
    ["kind"],
)
TASK_DURATION = Histogram(
    "grokimagine_task_duration_seconds",
    "Run time of one attempt of a task on a worker, by engine and outcome.",
    ["engine", "outcome"],
    buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600),
)
TASK_PICKUP = Histogram(
    "grokimagine_task_pickup_seconds",
    "From a task's creation to its first claim by a worker.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
WORKER_HEARTBEATS = Counter(
    "grokimagine_worker_heartbeats_total",
    "Lease renewals and idle check-ins by the workers of this process.",
)


@dataclass
class FleetSnapshot:
    """What the database says at scrape time: tasks waiting per engine, workers' last sighting."""

    pending_by_engine: dict[str, int] = field(default_factory=dict)
    processing: int = 0
    worker_last_seen: dict[str, float] = field(default_factory=dict)  # id -> epoch seconds


class _SnapshotCollector(Collector):
    def __init__(self, snapshot: FleetSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        pending = GaugeMetricFamily(
            "grokimagine_tasks_pending",
            "Tasks waiting for a worker, by the first engine of their route.",
            labels=["engine"],
        )
        for engine, count in sorted(self.snapshot.pending_by_engine.items()):
            pending.add_metric([engine], count)
        yield pending
        yield GaugeMetricFamily(
            "grokimagine_tasks_processing",
            "Tasks held by a worker now.",
            value=self.snapshot.processing,
        )
        seen = GaugeMetricFamily(
            "grokimagine_worker_last_seen_timestamp_seconds",
            "When each worker last renewed a lease or checked in (Unix time).",
            labels=["worker"],
        )
        for worker, when in sorted(self.snapshot.worker_last_seen.items()):
            seen.add_metric([worker], when)
        yield seen


def process_registry() -> CollectorRegistry:
    """This process's metrics, or every process's on this host in multiprocess mode."""
    if not os.environ.get(MULTIPROC_ENV):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def exposition(snapshot: FleetSnapshot | None = None) -> bytes:
    """The text exposition of this process's metrics and, if given, the fleet snapshot."""
    text = generate_latest(process_registry())
    if snapshot is None:
        return text
    extra = CollectorRegistry(auto_describe=False)
    extra.register(_SnapshotCollector(snapshot))
    return text + generate_latest(extra)


def prepare_multiprocess_dir(path: Path) -> None:
    """Create ``path`` and remove the files a previous run left there (stale counters)."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in _db_files(path):
        stale.unlink(missing_ok=True)


def _db_files(path: Path) -> Iterable[Path]:
    return path.glob("*.db")
