"""Calls of the public API that many tests make: submit, poll, cancel, read."""

from __future__ import annotations

import base64
import io
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from sqlalchemy import select, update

from grokimagine.engines.base import (
    EngineError,
    GenerationRequest,
    GenerationResult,
    RenderControl,
)
from grokimagine.engines.encoding import encode_mp4
from grokimagine.services import Services
from grokimagine.storage.schema import accounts, tasks
from tests.helpers.customers import Customer, make_worker


async def submit(client: httpx.AsyncClient, customer: Customer, body: dict | None = None) -> str:
    response = await client.post("/v1/generate", json=body or SEED_BODY, headers=customer.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]["task_id"]


async def status_of(client: httpx.AsyncClient, customer: Customer, task_id: str) -> dict:
    response = await client.get("/v1/status", params={"task_id": task_id}, headers=customer.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == 200 and body["message"] == "success"
    return body["data"]


class FailingEngine:
    name = "failing"

    def generate(
        self, request: GenerationRequest, output: Path, control: RenderControl
    ) -> GenerationResult:
        raise EngineError("the model ran out of memory", "ENGINE_FAILED")


async def balance_of(services: Services, account_id: str) -> int:
    async with services.db.read() as conn:
        row = (
            await conn.execute(select(accounts.c.balance).where(accounts.c.id == account_id))
        ).one()
    return int(row.balance)


SEED_BODY = {"mode": "fun", "prompt": "a beautiful landscape with mountains", "ratio": "1:1"}


async def task_of(client: httpx.AsyncClient, customer: Customer, task_id: str) -> dict:
    response = await client.get(f"/v1/tasks/{task_id}", headers=customer.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def cancel(client: httpx.AsyncClient, customer: Customer, task_id: str) -> httpx.Response:
    return await client.post(f"/v1/tasks/{task_id}/cancel", headers=customer.headers)


async def age_task(services: Services, task_id: str, age: timedelta) -> None:
    """Move a task's creation back by ``age``."""
    row = await services.db.fetch_one(select(tasks.c.created_at).where(tasks.c.id == task_id))
    assert row is not None
    async with services.db.write() as conn:
        await conn.execute(
            update(tasks).where(tasks.c.id == task_id).values(created_at=row.created_at - age)
        )


def png(color: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def data_uri(data: bytes, mime: str = "video/mp4") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


async def finished(client: httpx.AsyncClient, services: Services, customer: Customer, task_id: str):
    assert await make_worker(services).run_once()
    status = await status_of(client, customer, task_id)
    assert status["status"] == "completed", status
    return status


async def generated(
    client: httpx.AsyncClient, services: Services, customer: Customer, seconds: int = 2
) -> str:
    response = await client.post(
        "/v1/generate",
        json={"prompt": "a quiet street", "duration": seconds},
        headers=customer.headers,
    )
    assert response.status_code == 200, response.text
    task_id = response.json()["data"]["task_id"]
    await finished(client, services, customer, task_id)
    return task_id


def mp4_bytes(tmp_path: Path, seconds: float = 1.0, size: tuple[int, int] = (64, 48)) -> bytes:
    """A real H.264 MP4 of ``seconds`` at 24 fps."""
    width, height = size
    frames = (
        np.full((height, width, 3), (i * 7) % 255, np.uint8) for i in range(int(seconds * 24))
    )
    path = tmp_path / "clip.mp4"
    encode_mp4(frames, path, width=width, height=height, fps=24)
    return path.read_bytes()
