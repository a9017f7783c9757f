"""A SQLite write lock held by another process never stalls the server: reads and /healthz answer
at once, writes wait in asyncio and then succeed, or get a JSON 503 SERVICE_BUSY, never a 500."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from grokimagine.http.app import create_app
from grokimagine.services import build_services
from grokimagine.settings import Settings
from grokimagine.storage.migrate import upgrade_database
from tests.helpers.cluster import GROKIMAGINE, REPO, make_cluster, ready
from tests.helpers.customers import BASE_URL, make_customer

HOLD_SECONDS = 5.0


def hold_write_lock(db_path: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process that takes the write lock, says so, and keeps it for ``seconds``."""
    script = (
        "import sqlite3, sys, time\n"
        "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "conn.execute('BEGIN IMMEDIATE')\n"
        "print('locked', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n"
        "conn.execute('COMMIT')\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(db_path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


async def test_a_write_past_its_wait_is_a_json_503_and_the_loop_stays_free(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "busy.db"
    url = f"sqlite:///{db_path}"
    upgrade_database(url)
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=url,
        auth_cache_seconds=0,
        sqlite_write_wait_seconds=1.0,
    )
    services = build_services(settings, public_url=BASE_URL)
    customer = await make_customer(services)
    transport = httpx.ASGITransport(app=create_app(services), client=("203.0.113.7", 50000))
    holder = hold_write_lock(db_path, 3.0)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
            generate = asyncio.create_task(
                http.post("/v1/generate", json={"prompt": "a kite"}, headers=customer.headers)
            )
            await asyncio.sleep(0.1)
            # While the write waits, reads are served from the same event loop at once.
            started = time.monotonic()
            status = await http.get("/v1/status?task_id=task_x", headers=customer.headers)
            assert status.status_code == 404
            assert time.monotonic() - started < 0.5
            response = await generate
        assert response.status_code == 503
        assert response.json() == {
            "code": 503,
            "message": "Service busy: the database is locked by another process; retry shortly",
            "error": "SERVICE_BUSY",
        }
        assert response.headers["retry-after"] == "1"
    finally:
        holder.wait(10)
        await services.close()
    # Nothing was charged for the refused request.
    with sqlite3.connect(db_path) as conn:
        (balance,) = conn.execute(
            "SELECT balance FROM accounts WHERE id = ?", (customer.account_id,)
        ).fetchone()
    assert balance == 400


def test_a_served_process_answers_healthz_within_a_second_while_another_holds_the_lock(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "data" / "grokimagine.db"
    with make_cluster(tmp_path, f"sqlite:///{db_path}") as cluster:
        # The worktree's own source first (the cluster's default path is the repository root).
        cluster.env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO / "src"), str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        created = subprocess.run(
            [str(GROKIMAGINE), "keys", "create", "--credits", "400"],
            env={**cluster.env, "GROKIMAGINE_DATABASE_URL": f"sqlite:///{db_path}"},
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
        )
        headers = {"Authorization": f"Bearer {created.stdout.strip().splitlines()[-1]}"}
        api = cluster.api("api")
        ready(api)
        holder = hold_write_lock(db_path, HOLD_SECONDS)
        locked_at = time.monotonic()
        with httpx.Client(base_url=api.base_url, timeout=30) as http:

            def generate() -> httpx.Response:
                return http.post("/v1/generate", json={"prompt": "a kite"}, headers=headers)

            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                pending = pool.submit(generate)
                slowest = 0.0
                while time.monotonic() - locked_at < HOLD_SECONDS - 0.5:
                    started = time.monotonic()
                    assert http.get("/healthz").status_code == 200
                    slowest = max(slowest, time.monotonic() - started)
                    time.sleep(0.2)
                response = pending.result()
        holder.wait(10)
    assert slowest < 1.0, f"/healthz took {slowest:.2f} s while the lock was held"
    # The default wait (10 s) outlasts the 5 s hold: the write goes through after the release.
    assert response.status_code == 200, response.text
    assert time.monotonic() - locked_at >= HOLD_SECONDS - 0.5
    assert "Traceback" not in api.log()
