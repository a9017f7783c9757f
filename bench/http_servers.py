"""Which HTTP server runs the API: uvicorn with httptools, uvicorn with h11, or granian, on the
status and generate benchmark (the same app, the same SQLite database), alternating rounds.

    python bench/http_servers.py [--seconds 8] [--connections 32] [--rounds 2]
        [--servers uvicorn-httptools,uvicorn-h11,granian,serve]

Needs ``wrk``. Prints a markdown table (medians over rounds) for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from http_api import BENCH_PLAN_LIMIT, free_port, run_wrk, wait_for

FACTORY = "grokimagine.http.app:create_app_from_env"
BIN = Path(sys.executable).parent


def cpu_seconds(pid: int) -> float:
    """User plus system CPU so far of a process and its descendants (Linux /proc): granian
    serves from worker processes."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    family, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        family.update(children)
        frontier.extend(children)
    return sum(times.get(member, 0.0) for member in family)


def server_command(server: str, port: int) -> list[str]:
    if server == "serve":
        # What `grokimagine serve` runs (on this branch: httptools with the header guards).
        return [str(BIN / "grokimagine"), "serve", "--no-worker", "--port", str(port)]
    if server == "granian":
        return [
            str(BIN / "granian"),
            *("--interface", "asgi", "--factory", "--port", str(port)),
            *("--loop", "uvloop", "--log-level", "warning", "--no-access-log", FACTORY),
        ]
    http = "httptools" if server == "uvicorn-httptools" else "h11"
    return [
        sys.executable,
        *("-m", "uvicorn", "--factory", FACTORY, "--port", str(port), "--http", http),
        *("--loop", "uvloop", "--log-level", "warning", "--no-access-log"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--servers", default="uvicorn-httptools,uvicorn-h11,granian", help="comma-separated"
    )
    args = parser.parse_args()
    servers = args.servers.split(",")
    work = Path(tempfile.mkdtemp(prefix="gi-bench-servers-"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GROKIMAGINE_")},
        "GROKIMAGINE_DATA_DIR": str(work / "data"),
        "GROKIMAGINE_PLAN_LIMITS": json.dumps({"free": BENCH_PLAN_LIMIT}),
        "GROKIMAGINE_IN_PROCESS_WORKER": "false",
    }
    subprocess.run([BIN / "grokimagine", "migrate"], env=env, check=True, capture_output=True)
    created = subprocess.run(
        [BIN / "grokimagine", "keys", "create", "--credits", str(10**9)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    token = created.stdout.strip().splitlines()[-1]
    body = {"mode": "fun", "prompt": "a beautiful landscape with mountains", "ratio": "1:1"}
    status_script = work / "status.lua"
    status_script.write_text(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
    generate_script = work / "generate.lua"
    generate_script.write_text(
        'wrk.method = "POST"\n'
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
    )
    results: dict[str, dict[str, list[float]]] = {
        s: {"status": [], "generate": [], "status_cpu": [], "generate_cpu": []} for s in servers
    }
    try:
        for _ in range(args.rounds):
            for server in servers:
                port = free_port()
                base = f"http://127.0.0.1:{port}"
                process = subprocess.Popen(
                    server_command(server, port),
                    env={**env, "GROKIMAGINE_PUBLIC_URL": base},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                try:
                    wait_for(f"{base}/healthz")
                    headers = {"Authorization": f"Bearer {token}"}
                    task = httpx.post(f"{base}/v1/generate", json=body, headers=headers).json()
                    task_id = task["data"]["task_id"]
                    before = cpu_seconds(process.pid)
                    status = run_wrk(
                        f"{base}/v1/status?task_id={task_id}",
                        args.seconds,
                        args.connections,
                        status_script,
                    )
                    middle = cpu_seconds(process.pid)
                    generate = run_wrk(
                        f"{base}/v1/generate", args.seconds, args.connections, generate_script
                    )
                    after = cpu_seconds(process.pid)
                    figures = results[server]
                    figures["status"].append(status["rps"])
                    figures["generate"].append(generate["rps"])
                    # Server CPU per request: steadier than requests/s on a shared machine.
                    figures["status_cpu"].append(
                        (middle - before) / (status["rps"] * args.seconds) * 1e6
                    )
                    figures["generate_cpu"].append(
                        (after - middle) / (generate["rps"] * args.seconds) * 1e6
                    )
                    print(server, status, generate, file=sys.stderr, flush=True)
                finally:
                    process.terminate()
                    process.wait(10)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"wrk -t1 -c{args.connections} -d{args.seconds}s, {args.rounds} alternating rounds,")
    print(f"medians; SQLite, no worker; {os.cpu_count()} CPUs shared with wrk.\n")
    print(
        "| server | status req/s | status CPU µs/req | generate req/s | generate CPU µs/req"
        " | rounds (status req/s) |"
    )
    print("|---|---:|---:|---:|---:|---|")
    for server, figures in results.items():
        rounds = ", ".join(f"{rps:.0f}" for rps in figures["status"])
        median = {name: statistics.median(values) for name, values in figures.items()}
        print(
            f"| {server} | {median['status']:.0f} | {median['status_cpu']:.0f}"
            f" | {median['generate']:.0f} | {median['generate_cpu']:.0f} | {rounds} |"
        )


if __name__ == "__main__":
    main()
