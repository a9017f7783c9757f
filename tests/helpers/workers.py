"""Workers and engines for tests: waiting, gated and failing engines."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from sqlalchemy import select

from grokimagine.engines.base import GenerationRequest, GenerationResult, RenderControl
from grokimagine.engines.encoding import encode_mp4
from grokimagine.services import Services
from grokimagine.storage.schema import ledger


async def wait_until(predicate, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        # Predicates poll over HTTP: a slow machine must not spend the free plan's 100/minute.
        await asyncio.sleep(0.2)


async def ledger_rows(services: Services, task_id: str) -> list[tuple[str, int]]:
    async with services.db.read() as conn:
        rows = (
            await conn.execute(
                select(ledger.c.reason, ledger.c.delta)
                .where(ledger.c.task_id == task_id)
                .order_by(ledger.c.id)
            )
        ).all()
    return [(row.reason, row.delta) for row in rows]


class GatedEngine:
    """Reports half its progress, then waits for the test to open the gate (or a cancel)."""

    name = "gated"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.halfway = threading.Event()

    def generate(
        self, request: GenerationRequest, output: Path, control: RenderControl
    ) -> GenerationResult:
        control.report(0.5)
        self.halfway.set()
        while not self.gate.wait(0.01):
            control.check_canceled()
        frames = [bytes(request.width * request.height * 3)] * 2
        import numpy as np

        encode_mp4(
            (np.frombuffer(f, np.uint8).reshape(request.height, request.width, 3) for f in frames),
            output,
            width=request.width,
            height=request.height,
            fps=request.fps,
        )
        return GenerationResult(provider_task_id="gated-1")
