"""Claim latency of the fair-share queue with many accounts waiting, on PostgreSQL (issue 23).

Makes a database of its own on the test server, fills it with ``--accounts`` x ``--per-account``
pending tasks, then times ``--claims`` claims one after another (each one the fair choice: the
oldest task of the account served longest ago). Run it with PYTHONPATH at the tree to measure:

    PYTHONPATH=src python bench/fair_claims.py --accounts 100 --per-account 100
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import psycopg
from sqlalchemy import insert

from grokimagine.domain import ids
from grokimagine.domain.accounts import accounts
from grokimagine.domain.clock import utcnow
from grokimagine.domain.tasks import queue as task_queue
from grokimagine.services import build_services
from grokimagine.settings import Settings
from grokimagine.storage.migrate import upgrade_database
from grokimagine.storage.schema import tasks


async def measure(admin_url: str, n_accounts: int, per_account: int, claims: int) -> None:
    name = f"gi_bench_claims_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade_database(url)
        with TemporaryDirectory() as folder:
            settings = Settings(database_url=url, data_dir=Path(folder))
            services = build_services(settings, public_url="http://bench")
            base = utcnow() - timedelta(hours=2)
            made = [
                (await accounts.create_account(services.db, plan="free", credits_granted=0)).id
                for _ in range(n_accounts)
            ]
            rows = [
                {
                    "id": ids.new_task_id(),
                    "account_id": account,
                    "key_id": "key_bench",
                    "status": "pending",
                    "mode": "normal",
                    "prompt": "p",
                    "ratio": "2:3",
                    "request": {},
                    "input_images": [],
                    "width": 480,
                    "height": 720,
                    "num_frames": 144,
                    "fps": 24,
                    "seed": 1,
                    "consumed_credits": 0,
                    "videos": [],
                    "created_at": base + timedelta(milliseconds=a * per_account + i),
                }
                for a, account in enumerate(made)
                for i in range(per_account)
            ]
            async with services.db.write() as conn:
                for start in range(0, len(rows), 2000):
                    await conn.execute(insert(tasks), rows[start : start + 2000])
            times = []
            for _ in range(claims):
                began = time.perf_counter()
                claimed = await task_queue.claim_next_task(
                    services.db, "bench", lease_seconds=60, max_attempts=3
                )
                times.append(time.perf_counter() - began)
                assert claimed is not None
            await services.close()
        times.sort()
        median, p90 = times[len(times) // 2], times[int(0.9 * len(times))]
        print(
            f"{n_accounts} accounts x {per_account} pending: claim median "
            f"{1000 * median:.1f} ms, p90 {1000 * p90:.1f} ms"
        )
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1/test")
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--per-account", type=int, default=100)
    parser.add_argument("--claims", type=int, default=60)
    args = parser.parse_args()
    asyncio.run(measure(args.postgres, args.accounts, args.per_account, args.claims))


if __name__ == "__main__":
    main()
