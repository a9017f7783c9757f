"""CPU per request of a reference-page client's generate and status calls, in process.

    python bench/reference_path_cpu.py                       # this checkout
    PYTHONPATH=/path/to/other/src python bench/reference_path_cpu.py   # another version

Drives the ASGI app through httpx's in-process transport on a fresh SQLite database and reports
process CPU (server and client together) per request, which is steadier than wall-clock load
tests on a shared machine. Prints one markdown table row.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time

import httpx

import grokimagine
from grokimagine.domain.accounts import accounts
from grokimagine.http.app import create_app
from grokimagine.services import build_services
from grokimagine.settings import Settings
from grokimagine.storage.migrate import upgrade_database

BODY = {"mode": "fun", "prompt": "a beautiful landscape with mountains", "ratio": "1:1"}


async def cpu_per_request(call, count: int, rounds: int = 5) -> list[float]:
    """Microseconds of process CPU per ``call()``, one figure per round."""
    figures = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(count):
            await call()
        figures.append((time.process_time() - started) / count * 1e6)
    return figures


async def main() -> None:
    settings = Settings(data_dir=tempfile.mkdtemp(), plan_limits={"free": 10**9})
    upgrade_database(settings.resolved_database_url)
    services = build_services(settings, public_url="http://bench")
    account = await accounts.create_account(services.db, plan="free", credits_granted=10**9)
    headers = {
        "Authorization": f"Bearer {(await accounts.create_key(services.db, account.id)).token}"
    }
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

        async def generate() -> httpx.Response:
            return await client.post("/v1/generate", json=BODY, headers=headers)

        task_id = (await generate()).json()["data"]["task_id"]

        async def status() -> httpx.Response:
            return await client.get(f"/v1/status?task_id={task_id}", headers=headers)

        await cpu_per_request(generate, 50, rounds=1)  # warm-up
        generate_us = await cpu_per_request(generate, 300)
        status_us = await cpu_per_request(status, 1000)
    await services.close()
    print(
        f"| {grokimagine.__file__.rsplit('/src/', 1)[0]} | {min(generate_us):.0f} |"
        f" {statistics.median(generate_us):.0f} | {min(status_us):.0f} |"
        f" {statistics.median(status_us):.0f} |"
    )


if __name__ == "__main__":
    asyncio.run(main())
