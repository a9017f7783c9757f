"""A task's engines are chosen by plan and mode when it is submitted; the worker follows them."""

from __future__ import annotations

from pathlib import Path

import httpx
from pydantic import SecretStr
from sqlalchemy import select

from grokimagine.engines.base import EngineError, GenerationRequest, GenerationResult, RenderControl
from grokimagine.engines.preview.engine import PreviewEngine
from grokimagine.engines.routing import EngineRouter
from grokimagine.http.app import create_app
from grokimagine.services import build_services
from grokimagine.settings import Settings
from grokimagine.storage.schema import tasks
from grokimagine.worker.loop import Worker
from tests.helpers.api import status_of, submit
from tests.helpers.customers import BASE_URL, make_customer


class DownProvider:
    name = "xai"

    def generate(
        self, request: GenerationRequest, output: Path, control: RenderControl
    ) -> GenerationResult:
        raise EngineError("provider down", "PROVIDER_UNAVAILABLE", fallback=True)


async def test_a_pro_task_goes_to_its_route_and_falls_back(settings: Settings, services) -> None:
    routed = settings.replace(
        **{
            "routes": {"plan:pro": ["xai", "preview"]},
            "xai_api_key": SecretStr("xai-test-key"),
        }
    )
    own = build_services(routed, public_url=BASE_URL)
    transport = httpx.ASGITransport(app=create_app(own))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
            pro = await make_customer(own, plan="pro")
            free = await make_customer(own, plan="free")
            pro_task = await submit(http, pro)
            free_task = await submit(http, free)
            async with own.db.read() as conn:
                routes = dict((await conn.execute(select(tasks.c.id, tasks.c.route))).all())
            assert routes == {pro_task: ["xai", "preview"], free_task: ["preview"]}

            engines = {"xai": DownProvider(), "preview": PreviewEngine()}
            router = EngineRouter(
                routed, factory=lambda _s, name: engines[name], check=lambda *_: None
            )
            worker = Worker(own, router)
            assert await worker.run_once() and await worker.run_once()
            done = await status_of(http, pro, pro_task)
            assert done["status"] == "completed" and done["consumed_credits"] == 40
            async with own.db.read() as conn:
                row = (
                    await conn.execute(
                        select(tasks.c.engine, tasks.c.engine_info).where(tasks.c.id == pro_task)
                    )
                ).one()
            assert row.engine == "preview"
            assert row.engine_info["videos"][0]["fallback_from"] == [
                {"engine": "xai", "code": "PROVIDER_UNAVAILABLE"}
            ]
    finally:
        await own.close()
