"""Cost as the work grows: status, a list page and generate with 1 and with 20,000 pending tasks.

    python bench/backlog.py [--backlog 20000] [--seconds 5] [--database sqlite|postgresql]
        [--accounts 1|100] [--tree LABEL=DIR ...]

One ``grokimagine serve --no-worker`` per checkout (this one, and each ``--tree``: the code
before, from another worktree), with a plan whose active-task limit is high (so that the limit
is checked on every submission, as the issue measured). For each server: wrk on
``GET /v1/status`` (the account's newest task: the whole queue ahead of it),
``GET /v1/tasks?limit=20`` and ``POST /v1/generate`` with one task pending; then the backlog is
written straight into the database (copies of that task, older than it, spread over
``--accounts`` accounts, each with its ledger row) and the same three runs again. Servers
alternate within each step. Needs ``wrk``; PostgreSQL on 127.0.0.1 for ``--database
postgresql``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import MetaData, create_engine, func, insert, select, update

sys.path.insert(0, str(Path(__file__).parent))
from http_api import ApiServer, run_wrk, start_api

from scale import ADMIN_URL, database

PLANS = {"free": {"requests_per_minute": 10_000_000, "max_active_tasks": 1_000_000}}


def server_env(database_url: str | None) -> dict[str, str]:
    """What every server of the run gets on top of ``http_api``'s environment."""
    extra = {"GROKIMAGINE_PLANS": json.dumps(PLANS)}
    if database_url:
        extra["GROKIMAGINE_DATABASE_URL"] = database_url
        extra["GROKIMAGINE_SIGNING_SECRET"] = secrets.token_hex(32)
    return extra


def database_url_of(server: ApiServer, work: Path, postgres_url: str | None) -> str:
    """The SQLAlchemy URL of the server's database."""
    if postgres_url:
        return postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    return f"sqlite:///{work / server.label / 'data' / 'grokimagine.db'}"


def fill(url: str, task_id: str, backlog: int, accounts_count: int) -> None:
    """Write ``backlog`` pending copies of task ``task_id``, older than it, with their ledger
    rows, spread over ``accounts_count`` accounts (the task's own and new ones)."""
    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine, only=["accounts", "tasks", "ledger"])
    accounts, tasks, ledger = (meta.tables[n] for n in ("accounts", "tasks", "ledger"))
    with engine.begin() as conn:
        template = dict(conn.execute(select(tasks).where(tasks.c.id == task_id)).one()._mapping)
        owner = dict(
            conn.execute(select(accounts).where(accounts.c.id == template["account_id"]))
            .one()
            ._mapping
        )
        owners = [owner["id"]]
        for _ in range(accounts_count - 1):
            owners.append(f"acct_bench{secrets.token_hex(6)}")
            conn.execute(insert(accounts).values({**owner, "id": owners[-1]}))
        rows, entries = [], []
        for index in range(backlog):
            copy_id = f"task_bench{secrets.token_hex(8)}"
            created = template["created_at"] - timedelta(milliseconds=backlog - index)
            account = owners[index % len(owners)]
            rows.append({**template, "id": copy_id, "account_id": account, "created_at": created})
            entries.append(
                {
                    "account_id": account,
                    "delta": -40,
                    "reason": "reserve",
                    "task_id": copy_id,
                    "note": "",
                    "created_at": created,
                }
            )
        for start in range(0, backlog, 2000):
            conn.execute(insert(tasks), rows[start : start + 2000])
            conn.execute(insert(ledger), entries[start : start + 2000])
        if "active_tasks" in accounts.c:  # the count the active-task limit reads (issue 20)
            active = (
                select(func.count())
                .where(
                    tasks.c.account_id == accounts.c.id,
                    tasks.c.status.in_(("pending", "processing")),
                )
                .scalar_subquery()
            )
            conn.execute(update(accounts).values(active_tasks=active))
    engine.dispose()


def measure(server: ApiServer, seconds: int, connections: int) -> dict[str, dict]:
    """wrk on status (newest task), a list page and generate."""
    status_url = f"{server.base}/v1/status?task_id={server.task_id}"
    return {
        "status": run_wrk(status_url, seconds, connections, server.scripts["status"]),
        "list": run_wrk(
            f"{server.base}/v1/tasks?limit=20", seconds, connections, server.scripts["status"]
        ),
        "generate": run_wrk(
            f"{server.base}/v1/generate", seconds, connections, server.scripts["generate"]
        ),
    }


def newest_task(server: ApiServer) -> str:
    """A new task of the server's demo account: the one status polls (the newest pending)."""
    headers = {"Authorization": f"Bearer {server.token}"}
    body = {"prompt": "the newest task", "ratio": "1:1"}
    answer = httpx.post(f"{server.base}/v1/generate", json=body, headers=headers, timeout=30)
    answer.raise_for_status()
    return answer.json()["data"]["task_id"]


def run(args: argparse.Namespace, trees: dict[str, Path]) -> dict:
    """Every tree at 1 pending task, then at the backlog: requests/s and p50."""
    work = Path(tempfile.mkdtemp(prefix="gi-backlog-"))
    servers: list[ApiServer] = []
    postgres: dict[str, str] = {}
    contexts = []
    results: dict[str, dict] = {}
    try:
        for label, tree in trees.items():
            url = None
            if args.database == "postgresql":
                context = database()
                url = context.__enter__()
                contexts.append(context)
                postgres[label] = url
            servers.append(start_api(label, tree, work / label, 0, server_env(url)))
        for step, count in (("1", 0), (str(args.backlog), args.backlog)):
            for server in servers:
                if count:
                    url = database_url_of(server, work, postgres.get(server.label))
                    fill(url, server.task_id, count, args.accounts)
                    server.task_id = newest_task(server)
            ordered = servers if step == "1" else servers[::-1]
            for server in ordered:
                results[f"{server.label} {step}"] = measure(server, args.seconds, args.connections)
    finally:
        for server in servers:
            server.process.terminate()
            server.process.wait(15)
        for context in contexts:
            context.__exit__(None, None, None)
        shutil.rmtree(work, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backlog", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--accounts", type=int, default=1)
    parser.add_argument("--tree", action="append", default=[], help="LABEL=DIR, another checkout")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    trees = {"this": Path(__file__).parent.parent}
    for item in args.tree:
        label, _, folder = item.partition("=")
        trees[label] = Path(folder).resolve()
    results = run(args, trees)
    print(f"{args.database}, backlog over {args.accounts} account(s), wrk -c{args.connections}")
    print(f"-d{args.seconds}s; requests/s (p50 ms); {os.cpu_count()} CPUs shared with wrk.\n")
    print(
        "| code | pending | GET /v1/status (newest) | GET /v1/tasks?limit=20 | POST /v1/generate |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, result in results.items():
        label, step = name.rsplit(" ", 1)
        cells = " | ".join(
            f"{result[k]['rps']:.0f} ({result[k]['p50']:.1f})"
            for k in ("status", "list", "generate")
        )
        print(f"| {label} | {step} | {cells} |")
    for label in trees:
        low, high = results[f"{label} 1"], results[f"{label} {args.backlog}"]
        kept = ", ".join(
            f"{k} {high[k]['rps'] / low[k]['rps']:.2f}" for k in ("status", "list", "generate")
        )
        print(f"\n{label}: at {args.backlog} pending, throughput kept: {kept}")
    print(f"\n(PostgreSQL: {ADMIN_URL})" if args.database == "postgresql" else "")


if __name__ == "__main__":
    main()
