"""HTTP benchmark: GET /v1/status and POST /v1/generate on the embedded default, against a bare
Starlette app that returns the same bytes, all in one run with wrk on loopback.

    python bench/http_api.py [--seconds 10] [--connections 32]

Needs ``wrk`` (Debian package ``wrk``). Prints a markdown table for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).parent
BENCH_PLAN_LIMIT = 10_000_000  # the rate limiter runs on every request, but never refuses here


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def run_wrk(url: str, seconds: int, connections: int, script: Path | None = None) -> dict:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script is not None:
        command[1:1] = ["-s", str(script)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rps": rps,
        "p50": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
        "p99": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
    }


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="gi-bench-"))
    env = {
        **os.environ,
        "GROKIMAGINE_DATA_DIR": str(work / "data"),
        "GROKIMAGINE_PLAN_LIMITS": json.dumps({"free": BENCH_PLAN_LIMIT}),
        "GROKIMAGINE_DEMO_CREDITS": str(10**9),
    }
    env.pop("GROKIMAGINE_DATABASE_URL", None)
    api_port, bare_port = free_port(), free_port()
    grokimagine = Path(sys.executable).parent / "grokimagine"
    api = subprocess.Popen(
        [grokimagine, "serve", "--no-worker", "--port", str(api_port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    processes = [api]
    try:
        token = ""
        for line in api.stdout:  # the demo key is printed before uvicorn starts
            if line.startswith("gi_live_"):
                token = line.strip()
                break
        base = f"http://127.0.0.1:{api_port}"
        wait_for(f"{base}/openapi.json")
        headers = {"Authorization": f"Bearer {token}"}
        body = {"mode": "fun", "prompt": "a beautiful landscape with mountains", "ratio": "1:1"}
        task_id = httpx.post(f"{base}/v1/generate", json=body, headers=headers).json()["data"][
            "task_id"
        ]
        status_bytes = httpx.get(f"{base}/v1/status?task_id={task_id}", headers=headers).content
        (work / "body.json").write_bytes(status_bytes)

        bare = subprocess.Popen(
            [sys.executable, HERE / "bare_starlette.py", work / "body.json", str(bare_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(bare)
        wait_for(f"http://127.0.0.1:{bare_port}/")

        status_script = work / "status.lua"
        status_script.write_text(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
        generate_script = work / "generate.lua"
        generate_script.write_text(
            'wrk.method = "POST"\n'
            f'wrk.headers["Authorization"] = "Bearer {token}"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = {json.dumps(json.dumps(body))}\n"
        )
        secs, conns = args.seconds, args.connections
        results = {
            "bare Starlette, same bytes": run_wrk(f"http://127.0.0.1:{bare_port}/", secs, conns),
            "GET /v1/status": run_wrk(
                f"{base}/v1/status?task_id={task_id}", secs, conns, status_script
            ),
            "POST /v1/generate": run_wrk(f"{base}/v1/generate", secs, conns, generate_script),
        }
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
        shutil.rmtree(work, ignore_errors=True)

    bare_rps = results["bare Starlette, same bytes"]["rps"]
    print(f"wrk -t1 -c{args.connections} -d{args.seconds}s on loopback; one server process each;")
    print(f"worker stopped; SQLite embedded default; {os.cpu_count()} CPUs shared with wrk.\n")
    print("| endpoint | requests/s | p50 ms | p99 ms | non-2xx | vs bare |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        ratio = r["rps"] / bare_rps
        print(
            f"| {name} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['errors']} "
            f"| {ratio:.2f} (1/{1 / ratio:.1f}) |"
        )


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
