"""Scale-out benchmark on the real PostgreSQL and Redis (issue 4).

1. Task pickup latency (submit -> claimed: tasks.started_at - tasks.created_at) with two
   ``grokimagine worker`` processes waiting, woken by LISTEN/NOTIFY, then by polling alone.
2. ``POST /v1/generate`` throughput with ``serve --workers 1`` and ``--workers 2`` (wrk).

    python bench/scale.py [--samples 40] [--seconds 10] [--connections 32]

Needs PostgreSQL on 127.0.0.1 (trust, database ``test``), Redis on 6379 and ``wrk``.
Prints markdown tables for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).parent))
from http_api import free_port, run_wrk, wait_for

ADMIN_URL = os.environ.get("GROKIMAGINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1/test")
REDIS_URL = os.environ.get("GROKIMAGINE_TEST_REDIS", "redis://127.0.0.1:6379/0")
GROKIMAGINE = Path(sys.executable).parent / "grokimagine"


@contextmanager
def database() -> Iterator[str]:
    name = f"gi_bench_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def processes() -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    try:
        yield started
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


def environment(work: Path, url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROKIMAGINE_")}
    env.update(
        GROKIMAGINE_DATA_DIR=str(work / "data"),
        GROKIMAGINE_DATABASE_URL=url,
        GROKIMAGINE_REDIS_URL=REDIS_URL,
        GROKIMAGINE_REDIS_PREFIX=f"gi-bench-{secrets.token_hex(4)}",
        GROKIMAGINE_SIGNING_SECRET=secrets.token_hex(32),
        GROKIMAGINE_PLAN_LIMITS=json.dumps({"free": 10_000_000}),
        **extra,
    )
    return env


def new_token(env: dict[str, str]) -> str:
    out = subprocess.run(
        [GROKIMAGINE, "keys", "create", "--credits", str(10**9)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.strip().splitlines()[-1]


def start(group: list[subprocess.Popen], env: dict[str, str], *argv: str) -> None:
    group.append(
        subprocess.Popen(
            [GROKIMAGINE, *argv], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    )


def wait_workers(url: str, count: int) -> None:
    deadline = time.monotonic() + 60
    with psycopg.connect(url, autocommit=True) as conn:
        while conn.execute("SELECT count(*) FROM workers").fetchone()[0] < count:
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not start")
            time.sleep(0.1)


def pickup_latencies(work: Path, samples: int, notify: bool) -> list[float]:
    """Seconds from creation to claim, one task at a time, both workers idle at each submit."""
    with database() as url, processes() as group:
        env = environment(work, url, GROKIMAGINE_LISTEN_NOTIFY=str(notify).lower())
        subprocess.run([GROKIMAGINE, "migrate"], env=env, check=True, capture_output=True)
        token = new_token(env)
        port = free_port()
        start(group, env, "serve", "--no-worker", "--port", str(port))
        for name in ("w1", "w2"):
            start(group, {**env, "GROKIMAGINE_WORKER_NAME": name}, "worker")
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/healthz")
        wait_workers(url, 2)
        headers = {"Authorization": f"Bearer {token}"}
        body = {"prompt": "a beautiful landscape with mountains", "ratio": "1:1"}
        latencies = []
        with (
            httpx.Client(base_url=base, headers=headers) as http,
            psycopg.connect(url, autocommit=True) as conn,
        ):
            for _ in range(samples):
                # A random phase, so that polling workers are caught anywhere in their wait.
                time.sleep(random.uniform(0, 1))
                task_id = http.post("/v1/generate", json=body).json()["data"]["task_id"]
                while True:
                    row = conn.execute(
                        "SELECT status, EXTRACT(EPOCH FROM started_at - created_at) "
                        "FROM tasks WHERE id = %s",
                        (task_id,),
                    ).fetchone()
                    if row[0] in ("completed", "failed"):
                        latencies.append(float(row[1]))
                        break
                    time.sleep(0.02)
        return latencies


def generate_throughput(
    work: Path, api_processes: int, seconds: int, connections: int, accounts: int = 1
) -> dict:
    """wrk on ``POST /v1/generate``; each request picks one of ``accounts`` keys at random (one
    account's submissions queue on its balance row by design: they cannot run side by side)."""
    with database() as url, processes() as group:
        env = environment(work, url)
        subprocess.run([GROKIMAGINE, "migrate"], env=env, check=True, capture_output=True)
        tokens = [new_token(env) for _ in range(accounts)]
        port = free_port()
        start(
            group, env, "serve", "--no-worker", "--workers", str(api_processes), "--port", str(port)
        )
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/healthz")
        time.sleep(2)  # every process up, not just the first
        script = work / "generate.lua"
        body = {"mode": "fun", "prompt": "a beautiful landscape with mountains", "ratio": "1:1"}
        script.write_text(
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = {json.dumps(json.dumps(body))}\n"
            f"local tokens = {{{', '.join(json.dumps(token) for token in tokens)}}}\n"
            "request = function()\n"
            '  wrk.headers["Authorization"] = "Bearer " .. tokens[math.random(#tokens)]\n'
            "  return wrk.format()\n"
            "end\n"
        )
        return run_wrk(f"{base}/v1/generate", seconds, connections, script)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--skip-pickup", action="store_true", help="generate throughput only")
    parser.add_argument("--accounts", type=int, default=1, help="keys of as many accounts")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="gi-scale-"))
    try:
        pickups = {}
        if not args.skip_pickup:
            pickups = {
                "LISTEN/NOTIFY (default)": pickup_latencies(work, args.samples, notify=True),
                "polling only, 1 s interval": pickup_latencies(work, args.samples, notify=False),
            }
        throughput = {
            n: generate_throughput(work, n, args.seconds, args.connections, args.accounts)
            for n in (1, 2)
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"Task pickup (created_at -> started_at), 2 idle workers, {args.samples} tasks each,")
    print("one at a time, random 0-1 s pause before each submit; PostgreSQL, preview engine.\n")
    print("| wake-up | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|")
    for name, values in pickups.items():
        ms = [v * 1000 for v in values]
        print(
            f"| {name} | {statistics.median(ms):.1f} | {percentile(ms, 0.99):.1f} | {max(ms):.1f} |"
        )
    print(f"\nPOST /v1/generate, wrk -t1 -c{args.connections} -d{args.seconds}s, PostgreSQL +")
    print(f"Redis, no worker, JSON request log on, {args.accounts} account(s); "
          f"{os.cpu_count()} CPUs shared by all.\n")  # fmt: skip
    print("| API processes | requests/s | p50 ms | p99 ms | non-2xx |")
    print("|---:|---:|---:|---:|---:|")
    for n, r in throughput.items():
        print(f"| {n} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['errors']} |")


if __name__ == "__main__":
    main()
