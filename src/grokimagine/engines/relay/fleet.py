"""A pool of GPU nodes behind one engine: least-busy choice, health, probes, recent latency.

Each node is one server (SGLang Diffusion, vLLM-Omni) with a weight and a number of job slots.
A job goes to the healthy node with the fewest jobs per unit of weight (ties: the one given a
job longest ago). A node is taken out when a job finds it unreachable or a probe fails, and a
probe thread (``GET {base}/models`` every ``probe_seconds``) takes it out or brings it back in.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from grokimagine.engines.base import RenderControl
from grokimagine.engines.relay.client import ProviderClient
from grokimagine.engines.relay.errors import (
    PROVIDER_BUSY,
    PROVIDER_UNAVAILABLE,
    ProviderUnavailable,
    relay_error,
)

# How often a task waiting for a free node looks at its cancel flag.
_WAIT_STEP_SECONDS = 0.25
_LATENCIES_KEPT = 50


def node_name(url: str) -> str:
    """A node's default name: the host and port of its base URL."""
    parts = urlsplit(url)
    return parts.netloc or url


@dataclass
class Node:
    """One GPU server of the pool, and what the pool knows of it now."""

    name: str
    url: str
    weight: float
    concurrency: int
    client: ProviderClient
    in_flight: int = 0
    healthy: bool = True
    reason: str | None = None
    changed_at: float = field(default_factory=time.time)
    last_assigned: float = 0.0
    jobs_done: int = 0
    jobs_failed: int = 0
    models: list[str] = field(default_factory=list)
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=_LATENCIES_KEPT))

    def view(self) -> dict[str, Any]:
        """The node as the fleet view shows it (plain JSON values)."""
        recent = list(self.latencies)
        return {
            "name": self.name,
            "url": self.url,
            "healthy": self.healthy,
            "reason": self.reason,
            "since": self.changed_at,
            "weight": self.weight,
            "concurrency": self.concurrency,
            "in_flight": self.in_flight,
            "jobs_done": self.jobs_done,
            "jobs_failed": self.jobs_failed,
            "models": list(self.models),
            "latency_p50_s": round(statistics.median(recent), 3) if recent else None,
            "latency_last_s": round(recent[-1], 3) if recent else None,
        }


class NodePool:
    """Thread-safe: the worker's threads lease nodes; one daemon thread probes them."""

    def __init__(self, nodes: list[Node], *, probe_seconds: float):
        if not nodes:
            raise ValueError("a node pool needs at least one node")
        self.nodes = nodes
        self.probe_seconds = probe_seconds
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._prober: threading.Thread | None = None

    def by_name(self, name: str) -> Node | None:
        """The node called ``name``, if the pool has one."""
        return next((node for node in self.nodes if node.name == name), None)

    def _pick(self, exclude: Collection[str], prefer: str | None) -> Node | None:
        candidates = [
            node
            for node in self.nodes
            if node.healthy and node.name not in exclude and node.in_flight < node.concurrency
        ]
        preferred = next((node for node in candidates if node.name == prefer), None)
        if preferred is not None:
            return preferred
        if not candidates:
            return None
        return min(candidates, key=lambda n: (n.in_flight / n.weight, n.last_assigned))

    def _any_usable(self, exclude: Collection[str]) -> bool:
        return any(node.healthy and node.name not in exclude for node in self.nodes)

    @contextmanager
    def lease(
        self,
        control: RenderControl,
        *,
        timeout: float,
        exclude: Collection[str] = (),
        prefer: str | None = None,
    ) -> Iterator[Node]:
        """Hold a job slot on the least-busy healthy node (``prefer`` first if it has one).

        Raises PROVIDER_UNAVAILABLE at once when no healthy node is left outside ``exclude``,
        and PROVIDER_BUSY when every such node stays full for ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                control.check_canceled()
                if not self._any_usable(exclude):
                    raise relay_error(PROVIDER_UNAVAILABLE, "no healthy node in the pool")
                node = self._pick(exclude, prefer)
                if node is not None:
                    node.in_flight += 1
                    node.last_assigned = time.monotonic()
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise relay_error(PROVIDER_BUSY, f"every node busy for {timeout:g}s")
                self._changed.wait(min(_WAIT_STEP_SECONDS, left))
        try:
            yield node
        finally:
            with self._changed:
                node.in_flight -= 1
                self._changed.notify_all()

    def mark_down(self, node: Node, reason: str) -> None:
        """Take ``node`` out until a probe finds it answering again."""
        with self._changed:
            if node.healthy:
                node.healthy, node.reason, node.changed_at = False, reason[:300], time.time()
            self._changed.notify_all()

    def mark_up(self, node: Node) -> None:
        """Bring ``node`` back in, its circuit breaker closed."""
        node.client.slot.breaker.record_success()
        with self._changed:
            if not node.healthy:
                node.healthy, node.reason, node.changed_at = True, None, time.time()
            self._changed.notify_all()

    def record_job(self, node: Node, seconds: float, *, ok: bool) -> None:
        """Count a finished job on ``node``; a successful one's seconds feed its latency."""
        with self._changed:
            if ok:
                node.jobs_done += 1
                node.latencies.append(seconds)
            else:
                node.jobs_failed += 1
            self._changed.notify_all()

    def probe(self, node: Node) -> bool:
        """Ask ``node`` for its models once; mark it up or down by the answer."""
        try:
            models = node.client.models()
        except ProviderUnavailable as exc:
            self.mark_down(node, f"probe failed: {exc}")
            return False
        node.models = models
        self.mark_up(node)
        return True

    def probe_all(self) -> None:
        """Probe every node once (the probe thread's round)."""
        for node in self.nodes:
            if self._stop.is_set():
                return
            self.probe(node)

    def start_probing(self) -> None:
        """Start the probe thread (once; again after :meth:`close` is not supported)."""
        with self._changed:
            if self._prober is not None or self._stop.is_set():
                return
            self._prober = threading.Thread(
                target=self._probe_loop, name="fleet-probe", daemon=True
            )
            self._prober.start()

    def _probe_loop(self) -> None:
        while not self._stop.wait(self.probe_seconds):
            self.probe_all()

    def snapshot(self) -> list[dict[str, Any]]:
        """Every node's view, in the configured order."""
        with self._changed:
            return [node.view() for node in self.nodes]

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate`` holds after a change of the pool (tests, operators)."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def close(self) -> None:
        """Stop the probe thread and close every node's connections."""
        self._stop.set()
        prober = self._prober
        if prober is not None:
            prober.join(timeout=10)
        for node in self.nodes:
            node.client.close()
