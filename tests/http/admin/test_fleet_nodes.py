"""GET /admin/v1/fleet and /admin/fleet: the GPU nodes the live workers report, merged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, update

from grokimagine.domain.operator import fleet
from grokimagine.engines.base import Engine, GenerationRequest, GenerationResult, RenderControl
from grokimagine.services import Services
from grokimagine.storage.schema import workers
from tests.helpers.admin import admin_headers, data
from tests.helpers.customers import make_worker


def _node(name: str, *, healthy: bool = True, in_flight: int = 0, **extra: Any) -> dict:
    return {
        "engine": "sglang",
        "name": name,
        "url": f"http://{name}/v1",
        "healthy": healthy,
        "reason": None if healthy else "probe failed: unreachable",
        "since": 1_700_000_000.0,
        "weight": 1.0,
        "concurrency": 2,
        "in_flight": in_flight,
        "jobs_done": 5,
        "jobs_failed": 0,
        "models": ["Wan-AI/Wan2.1-T2V-1.3B-Diffusers"],
        "latency_p50_s": 41.5,
        "latency_last_s": 40.0,
        **extra,
    }


async def test_fleet_shows_each_node_once_with_the_jobs_of_every_live_worker(
    client: httpx.AsyncClient, services: Services
) -> None:
    operator = await admin_headers(services)
    for worker_id in ("w-1", "w-2", "w-old"):
        await fleet.register_worker(services.db, worker_id, ["sglang"])
    await fleet.touch_worker(services.db, "w-1", [_node("gpu1:30000", in_flight=1)])
    await fleet.touch_worker(
        services.db,
        "w-2",
        [_node("gpu1:30000", in_flight=2), _node("gpu2:30000", healthy=False)],
    )
    await fleet.touch_worker(services.db, "w-old", [_node("gpu9:30000", in_flight=7)])
    async with services.db.write() as conn:  # a silent worker's view is not shown
        await conn.execute(
            update(workers)
            .where(workers.c.id == "w-old")
            .values(last_seen_at=datetime.now(UTC) - timedelta(minutes=5))
        )

    view = data(await client.get("/admin/v1/fleet", headers=operator))

    nodes = {node["name"]: node for node in view["nodes"]}
    assert sorted(nodes) == ["gpu1:30000", "gpu2:30000"]
    assert nodes["gpu1:30000"]["in_flight"] == 3
    assert sorted(nodes["gpu1:30000"]["workers"]) == ["w-1", "w-2"]
    assert nodes["gpu2:30000"]["healthy"] is False
    assert nodes["gpu2:30000"]["reason"].startswith("probe failed")
    assert nodes["gpu1:30000"]["latency_p50_s"] == 41.5
    # The older path answers the same document.
    assert data(await client.get("/admin/v1/workers", headers=operator))["nodes"] == view["nodes"]
    assert (await client.get("/admin/v1/fleet")).status_code == 401


class _NodesEngine(Engine):
    """An engine with nodes to report, as the fleet engines have."""

    name = "sglang"

    def node_status(self) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in _node("gpu7:30000", in_flight=1).items() if k != "engine"},
        ]

    def generate(
        self, request: GenerationRequest, output: Path, control: RenderControl
    ) -> GenerationResult:
        raise NotImplementedError


async def test_a_worker_reports_its_engines_nodes_when_it_checks_in(services: Services) -> None:
    worker = make_worker(services, _NodesEngine())
    await fleet.register_worker(services.db, worker.worker_id, sorted(worker.engines))
    await worker._check_in(force=True)
    row = await services.db.fetch_one(
        select(workers.c.nodes).where(workers.c.id == worker.worker_id)
    )
    assert row is not None and row.nodes
    assert {node["name"] for node in row.nodes} == {"gpu7:30000"}
    assert all(node["engine"] in worker.engines for node in row.nodes)
