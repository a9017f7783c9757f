"""Cost per request as the queue grows, in process: steadier than wrk on a shared machine.

    python bench/backlog_cpu.py [--backlog 20000] [--database sqlite|postgresql]
        [--accounts 1] [--tree LABEL=DIR ...] [--rounds 3]

For each checkout (this one and each ``--tree``, run in its own process with its own
PYTHONPATH, alternating), drives the ASGI app through httpx's in-process transport and
measures, per request, the process CPU (app and client; on PostgreSQL the database server's
own CPU is not in it) and the wall time of ``GET /v1/status`` (the newest task: the whole queue
ahead of it), ``GET /v1/tasks?limit=20`` and ``POST /v1/generate``: first with 21 tasks
pending (a full page), then with ``--backlog`` more written into the database
(``backlog.fill``, spread over ``--accounts`` accounts). The plan has a high active-task
limit, so submissions check it.
Each figure is the median of ``--rounds`` rounds; a round lasts over a second, so the ranking
of the queue (read at most once a second) is paid in it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

KINDS = ("status", "list", "generate")
PAGE = 20
COUNTS = {"status": 300, "list": 30, "generate": 60}  # the code before takes ~1 s a page


async def per_request(call, count: int, rounds: int) -> dict[str, float]:
    """Median CPU and wall microseconds per ``call()`` over ``rounds`` rounds of ``count``."""
    cpu, wall = [], []
    for _ in range(rounds):
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        for _ in range(count):
            response = await call()
            assert response.status_code == 200, response.text
        cpu.append((time.process_time() - cpu_start) / count * 1e6)
        wall.append((time.perf_counter() - wall_start) / count * 1e6)
    return {"cpu_us": statistics.median(cpu), "wall_us": statistics.median(wall)}


async def measure_here(args: argparse.Namespace) -> dict:
    """This process's checkout (whatever PYTHONPATH imports): both steps, every kind."""
    import httpx
    from backlog import fill

    from grokimagine.domain.accounts import accounts
    from grokimagine.http.app import create_app
    from grokimagine.services import build_services
    from grokimagine.settings import Settings
    from grokimagine.storage.migrate import upgrade_database

    settings = Settings(
        data_dir=tempfile.mkdtemp(prefix="gi-backlog-cpu-"),
        database_url=args.database_url,
        plan_limits={"free": 10**9},
        plans={"free": {"max_active_tasks": 1_000_000}},
    )
    url = settings.resolved_database_url
    upgrade_database(url)
    services = build_services(settings, public_url="http://bench")
    account = await accounts.create_account(services.db, plan="free", credits_granted=10**12)
    token = (await accounts.create_key(services.db, account.id)).token
    headers = {"Authorization": f"Bearer {token}"}
    body = {"prompt": "a beautiful landscape with mountains", "ratio": "1:1"}
    transport = httpx.ASGITransport(app=create_app(services))
    results: dict[str, dict] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

        async def generate() -> httpx.Response:
            return await client.post("/v1/generate", json=body, headers=headers)

        for _ in range(PAGE):  # a full page of the account's own tasks at every step
            await generate()
        for step, backlog in ((str(PAGE + 1), 0), (str(args.backlog), args.backlog)):
            task_id = (await generate()).json()["data"]["task_id"]
            if backlog:
                sync_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
                fill(sync_url, task_id, backlog, args.accounts)
                task_id = (await generate()).json()["data"]["task_id"]

            async def status(task_id: str = task_id) -> httpx.Response:
                return await client.get(f"/v1/status?task_id={task_id}", headers=headers)

            async def page() -> httpx.Response:
                return await client.get("/v1/tasks?limit=20", headers=headers)

            calls = {"status": status, "list": page, "generate": generate}
            for kind in KINDS:
                await per_request(calls[kind], 20, 1)  # warm-up
                results[f"{step} {kind}"] = await per_request(
                    calls[kind], COUNTS[kind], args.rounds
                )
    await services.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backlog", type=int, default=20_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--accounts", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tree", action="append", default=[], help="LABEL=DIR, another checkout")
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(measure_here(args))))
        return
    trees = {"this": HERE.parent}
    for item in args.tree:
        label, _, folder = item.partition("=")
        trees[label] = Path(folder).resolve()
    from scale import database

    results = {}
    for label, tree in trees.items():
        env = {k: v for k, v in os.environ.items() if not k.startswith("GROKIMAGINE_")}
        env["PYTHONPATH"] = f"{tree / 'src'}{os.pathsep}{tree / 'sdk' / 'python' / 'src'}"
        argv = [sys.executable, __file__, "--child", "--backlog", str(args.backlog)]
        argv += ["--accounts", str(args.accounts), "--rounds", str(args.rounds)]
        if args.database == "postgresql":
            with database() as url:
                out = subprocess.run(
                    [*argv, "--database-url", url], env=env, capture_output=True, text=True
                )
        else:
            out = subprocess.run(argv, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"{label}: {out.stderr[-3000:]}")
        results[label] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{args.database}, backlog over {args.accounts} account(s); in process, per request:")
    print("CPU µs (wall µs), median of rounds; load average", os.getloadavg()[0], "\n")
    print("| code | pending | GET /v1/status (newest) | GET /v1/tasks?limit=20 |", end="")
    print(" POST /v1/generate |\n|---|---:|---:|---:|---:|")
    for label, figures in results.items():
        for step in (str(PAGE + 1), str(args.backlog)):
            cells = " | ".join(
                f"{figures[f'{step} {k}']['cpu_us']:.0f} ({figures[f'{step} {k}']['wall_us']:.0f})"
                for k in KINDS
            )
            print(f"| {label} | {step} | {cells} |")
    for label, figures in results.items():
        low, high = (f"{PAGE + 1}", f"{args.backlog}")
        grown = ", ".join(
            f"{k} x{figures[f'{high} {k}']['cpu_us'] / figures[f'{low} {k}']['cpu_us']:.2f}"
            for k in KINDS
        )
        print(f"\n{label}: CPU per request at {args.backlog} pending vs {PAGE + 1}: {grown}")


if __name__ == "__main__":
    main()
