"""The /admin workers page lists the GPU nodes of the fleet engines (tests/http/admin has the API)."""

from __future__ import annotations

from grokimagine.domain.operator import fleet
from grokimagine.services import Services
from tests.helpers.console import make_user, sign_in


def _node(name: str, *, healthy: bool = True) -> dict:
    return {
        "engine": "sglang",
        "name": name,
        "url": f"http://{name}/v1",
        "healthy": healthy,
        "reason": None if healthy else "probe failed: unreachable",
        "weight": 1.0,
        "concurrency": 2,
        "in_flight": 1,
        "jobs_done": 5,
        "jobs_failed": 0,
        "models": ["Wan-AI/Wan2.1-T2V-1.3B-Diffusers"],
        "latency_p50_s": 41.5,
    }


async def test_the_workers_page_lists_the_nodes(services: Services, browser_like) -> None:
    admin = await make_user(services, admin=True)
    http = browser_like()
    await sign_in(http, admin)
    assert "No fleet engine" in (await http.get("/admin/fleet")).text
    await fleet.register_worker(services.db, "w-1", ["sglang"])
    await fleet.touch_worker(
        services.db, "w-1", [_node("gpu1:30000"), _node("gpu2:30000", healthy=False)]
    )
    page = (await http.get("/admin/fleet")).text
    assert "gpu1:30000" in page and "gpu2:30000" in page
    assert ">healthy<" in page and ">out<" in page and "41.5 s" in page
