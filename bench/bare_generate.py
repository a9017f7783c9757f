"""The generate yardstick: a bare Starlette app doing generate's durable work the simplest way.

python bench/bare_generate.py DATABASE_FILE PORT

Each POST parses the JSON body, then runs one SQLite transaction (WAL, synchronous=NORMAL, as
the service runs SQLite): debit the balance, append a ledger row, insert the task row, commit;
and answers the task id. No authentication, rules, prices or idempotency: what is left is the
floor under ``POST /v1/generate`` on this machine.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import sys
from datetime import UTC, datetime

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PRICE = 40

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (id TEXT PRIMARY KEY, balance INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ledger (id INTEGER PRIMARY KEY, account_id TEXT NOT NULL,
    delta INTEGER NOT NULL, reason TEXT NOT NULL, task_id TEXT, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, account_id TEXT NOT NULL,
    status TEXT NOT NULL, prompt TEXT NOT NULL, request TEXT NOT NULL, created_at TEXT NOT NULL);
INSERT OR IGNORE INTO accounts VALUES ('bench', 1000000000000);
"""


def build(path: str) -> Starlette:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)

    async def generate(request: Request) -> Response:
        body = json.loads(await request.body())
        task_id = secrets.token_hex(16)
        now = datetime.now(UTC).isoformat()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "UPDATE accounts SET balance = balance - ? WHERE id = 'bench' AND balance >= ?",
                (PRICE, PRICE),
            )
            db.execute(
                "INSERT INTO ledger (account_id, delta, reason, task_id, created_at)"
                " VALUES ('bench', ?, 'reserve', ?, ?)",
                (-PRICE, task_id, now),
            )
            db.execute(
                "INSERT INTO tasks VALUES (?, 'bench', 'pending', ?, ?, ?)",
                (task_id, body["prompt"], json.dumps(body), now),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return JSONResponse({"code": 200, "message": "success", "data": {"task_id": task_id}})

    return Starlette(routes=[Route("/", generate, methods=["POST"])])


if __name__ == "__main__":
    uvicorn.run(build(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
