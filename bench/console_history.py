"""Console benchmark: the history page of an account with 10,000 tasks, first page and a deep one.

    python bench/console_history.py [--tasks 10000] [--runs 50] [--database-url URL]

Builds a fresh database (SQLite in a temp dir unless a URL is given), one account with a console
user and ``--tasks`` completed tasks (each with a video and poster key, so every card signs a
thumbnail URL), signs in, then times ``GET /console/history`` in-process through the whole ASGI
app (middleware, session lookup, query, template), which is the server's time without the
network. Prints a markdown table for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import re
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert

from grokimagine.console.app import create_app
from grokimagine.domain.accounts import accounts, users
from grokimagine.services import build_services
from grokimagine.settings import Settings
from grokimagine.storage.migrate import upgrade_database
from grokimagine.storage.schema import tasks

BASE = "http://bench.test"


def task_rows(account_id: str, count: int) -> list[dict]:
    start = datetime.now(UTC) - timedelta(days=29)
    rows = []
    for index in range(count):
        task_id = "task_" + secrets.token_urlsafe(18)
        created = start + timedelta(seconds=index * 250)
        rows.append(
            {
                "id": task_id,
                "account_id": account_id,
                "key_id": "key_bench",
                "live": True,
                "status": "completed" if index % 10 else "failed",
                "mode": ("fun", "normal", "spicy")[index % 3],
                "prompt": f"bench prompt {index} <b>with markup</b> and some words to fill a card",
                "ratio": "1:1",
                "request": {"mode": "normal", "prompt": f"bench prompt {index}", "ratio": "1:1"},
                "input_images": [],
                "video_count": 1,
                "width": 480,
                "height": 480,
                "num_frames": 144,
                "fps": 24,
                "seed": index,
                "negative_prompt": None,
                "route": ["preview"],
                "route_head": "preview",
                "consumed_credits": 40,
                "progress": 100,
                "videos": [f"videos/{task_id}/0.mp4"],
                "posters": [f"videos/{task_id}/0.jpg"],
                "cancel_requested": False,
                "attempts": 1,
                "created_at": created,
                "started_at": created,
                "completed_at": created + timedelta(seconds=2),
            }
        )
    return rows


async def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="gi-bench-console-"))
    url = args.database_url or f"sqlite:///{work / 'bench.db'}"
    upgrade_database(url)
    settings = Settings(data_dir=work / "data", database_url=url)
    services = build_services(settings, public_url=BASE)
    account = await accounts.create_account(services.db, plan="free", credits_granted=0)
    password = secrets.token_urlsafe(12)
    email = f"bench-{secrets.token_hex(3)}@example.com"
    await users.create_user(services.db, email=email, password=password, account_id=account.id)
    rows = task_rows(account.id, args.tasks)
    async with services.db.write() as conn:
        for chunk in range(0, len(rows), 1000):
            await conn.execute(insert(tasks), rows[chunk : chunk + 1000])
    app = create_app(services)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1))
    results = []
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        form = await http.get("/console/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)[1]
        signed_in = await http.post(
            "/console/sign-in", data={"email": email, "password": password, "csrf_token": token}
        )
        assert signed_in.status_code == 303, signed_in.text
        first = await http.get("/console/history")
        cursor = re.search(r"cursor=([A-Za-z0-9_-]+)", first.text)[1]
        # A deep page: follow the cursor 200 pages in (4,800 tasks back).
        deep = f"/console/history?cursor={cursor}"
        for _ in range(199):
            page = await http.get(deep)
            deep = "/console/history?cursor=" + re.search(r"cursor=([A-Za-z0-9_-]+)", page.text)[1]
        cases = [
            ("first page (24 cards)", "/console/history"),
            ("first page, status=failed", "/console/history?status=failed"),
            ("first page, mode=fun", "/console/history?mode=fun"),
            ("page 201 (cursor)", deep),
            ("overview (chart + 6 recent)", "/console"),
        ]
        for name, path in cases:
            for _ in range(5):  # warm-up
                await http.get(path)
            times = []
            for _ in range(args.runs):
                started = time.perf_counter()
                answer = await http.get(path)
                times.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200
            cards = answer.text.count('class="card task-card"')
            results.append((name, cards, statistics.median(times), max(times), len(answer.content)))
    await services.close()
    print(
        f"{args.tasks} tasks in one account, {services.db.dialect}, median of {args.runs} runs"
        f" after 5 warm-up; Python {platform.python_version()}, {platform.machine()}."
    )
    print()
    print("| page | cards | median ms | max ms | bytes |")
    print("|---|---:|---:|---:|---:|")
    for name, cards, median, worst, size in results:
        print(f"| {name} | {cards} | {median:.1f} | {worst:.1f} | {size} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--database-url")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
