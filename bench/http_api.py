"""HTTP benchmark: GET /v1/status and POST /v1/generate on the embedded default (SQLite), each
as a ratio to its anchor measured in the same run, with wrk on loopback.

Anchors: a bare Starlette app answering the very bytes of the status response
(``bare_starlette.py``), and a bare Starlette app doing generate's durable work the simplest
way (``bare_generate.py``: parse the body, one SQLite WAL transaction). Rounds alternate
between every server; each figure is the median over the rounds, each ratio the median of the
rounds' ratios (a drift of the machine's load hits a round's pair alike).

    python bench/http_api.py [--seconds 8] [--rounds 3] [--connections 32]
        [--tree LABEL=DIR ...] [--delay-us N] [--json OUT]

``--tree`` measures the code of another checkout too (a worktree of an older commit: the
"before"), alternating with this one. Needs ``wrk`` (Debian package ``wrk``). Prints a markdown
table for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(
    url: str, seconds: int, connections: int, script: Path | None = None, pid: int | None = None
) -> dict:
    """One wrk run; with ``pid``, also the server's CPU microseconds per request (steadier than
    requests/s on a busy machine: other processes take wall time, not the server's CPU)."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script is not None:
        command[1:1] = ["-s", str(script)]
    cpu_before = cpu_seconds(pid) if pid else 0.0
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pid) - cpu_before if pid else 0.0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rps": rps,
        "cpu_us": cpu / max(requests, 1) * 1e6 if pid else None,
        "p50": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
        "p99": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
    }


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


BODY = {"mode": "fun", "prompt": "a beautiful landscape with mountains", "ratio": "1:1"}


@dataclass
class ApiServer:
    """One ``grokimagine serve`` of one checkout, with its demo key and a task to poll."""

    label: str
    process: subprocess.Popen
    base: str
    token: str = ""
    task_id: str = ""
    scripts: dict[str, Path] = field(default_factory=dict)


def tree_env(tree: Path, work: Path) -> dict[str, str]:
    """The environment of a server running ``tree``'s code on its own SQLite file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROKIMAGINE_")}
    env.update(
        PYTHONPATH=f"{tree / 'src'}{os.pathsep}{tree / 'sdk' / 'python' / 'src'}",
        GROKIMAGINE_DATA_DIR=str(work / "data"),
        GROKIMAGINE_PLAN_LIMITS=json.dumps({"free": BENCH_PLAN_LIMIT}),
        GROKIMAGINE_DEMO_CREDITS=str(10**12),
    )
    return env


def start_api(
    label: str, tree: Path, work: Path, delay_us: int, extra_env: dict[str, str] | None = None
) -> ApiServer:
    """Start ``tree``'s server (with ``extra_env``); returns once it answers, with the demo
    key and one task."""
    work.mkdir(parents=True)
    port = free_port()
    slow = ["--delay-us", str(delay_us)] if delay_us else []
    process = subprocess.Popen(
        [sys.executable, HERE / "serve_api.py", *slow, "--no-worker", "--port", str(port)],
        env={**tree_env(tree, work), **(extra_env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    server = ApiServer(label, process, f"http://127.0.0.1:{port}")
    for line in process.stdout:  # the demo key is printed before uvicorn starts
        if line.startswith("gi_live_"):
            server.token = line.strip()
            break
    wait_for(f"{server.base}/openapi.json", 120)
    headers = {"Authorization": f"Bearer {server.token}"}
    answer = httpx.post(f"{server.base}/v1/generate", json=BODY, headers=headers)
    server.task_id = answer.json()["data"]["task_id"]
    server.scripts = {
        "status": write_script(work / "status.lua", server.token),
        "generate": write_script(work / "generate.lua", server.token, BODY),
    }
    return server


def write_script(path: Path, token: str, body: dict | None = None) -> Path:
    """A wrk script sending the key (and, given ``body``, POSTing it as JSON)."""
    lines = [f'wrk.headers["Authorization"] = "Bearer {token}"']
    if body is not None:
        lines += [
            'wrk.method = "POST"',
            'wrk.headers["Content-Type"] = "application/json"',
            f"wrk.body = {json.dumps(json.dumps(body))}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def start_anchor(argv: list[str | Path], port: int) -> subprocess.Popen:
    """Start an anchor app and wait for its port."""
    process = subprocess.Popen(
        [sys.executable, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.1)
    raise RuntimeError(f"{argv} did not come up")


def measure(
    trees: dict[str, Path], *, seconds: int, rounds: int, connections: int, delay_us: int = 0
) -> dict:
    """Every server of ``trees`` and both anchors, ``rounds`` alternating rounds; the rounds'
    results and, per tree, the median requests/s and the median ratio to each anchor."""
    work = Path(tempfile.mkdtemp(prefix="gi-bench-"))
    processes: list[subprocess.Popen] = []
    try:
        servers = []
        for label, tree in trees.items():
            servers.append(start_api(label, tree, work / label, delay_us))
            processes.append(servers[-1].process)
        first = servers[0]
        headers = {"Authorization": f"Bearer {first.token}"}
        status_url = f"{first.base}/v1/status?task_id={first.task_id}"
        (work / "body.json").write_bytes(httpx.get(status_url, headers=headers).content)
        bare_status_port, bare_generate_port = free_port(), free_port()
        bare_status = start_anchor(
            [HERE / "bare_starlette.py", work / "body.json", str(bare_status_port)],
            bare_status_port,
        )
        processes.append(bare_status)
        bare_generate = start_anchor(
            [HERE / "bare_generate.py", work / "bare.db", str(bare_generate_port)],
            bare_generate_port,
        )
        processes.append(bare_generate)
        bare_generate_script = work / "bare_generate.lua"
        bare_generate_script.write_text(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = {json.dumps(json.dumps(BODY))}\n"
        )
        runs: list[dict] = []

        def run(url: str, script: Path | None, pid: int) -> dict:
            return run_wrk(url, seconds, connections, script, pid)

        for index in range(rounds):
            ordered = servers if index % 2 == 0 else servers[::-1]
            bare_status_url = f"http://127.0.0.1:{bare_status_port}/"
            results = {"bare status": run(bare_status_url, None, bare_status.pid)}
            for server in ordered:
                url = f"{server.base}/v1/status?task_id={server.task_id}"
                results[f"{server.label} status"] = run(
                    url, server.scripts["status"], server.process.pid
                )
            bare_generate_url = f"http://127.0.0.1:{bare_generate_port}/"
            results["bare generate"] = run(
                bare_generate_url, bare_generate_script, bare_generate.pid
            )
            for server in ordered:
                url = f"{server.base}/v1/generate"
                results[f"{server.label} generate"] = run(
                    url, server.scripts["generate"], server.process.pid
                )
            runs.append(results)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)
    return summarize(list(trees), runs)


def summarize(labels: list[str], runs: list[dict]) -> dict:
    """Medians over the rounds: requests/s of every server, and each tree's ratios."""
    names = list(runs[0])
    median_rps = {name: statistics.median(r[name]["rps"] for r in runs) for name in names}
    ratios = {
        label: {
            kind: statistics.median(
                r[f"{label} {kind}"]["rps"] / r[f"bare {kind}"]["rps"] for r in runs
            )
            for kind in ("status", "generate")
        }
        for label in labels
    }
    # The same ratios from the servers' CPU per request (anchor CPU / server CPU).
    cpu_ratios = {
        label: {
            kind: statistics.median(
                r[f"bare {kind}"]["cpu_us"] / r[f"{label} {kind}"]["cpu_us"] for r in runs
            )
            for kind in ("status", "generate")
        }
        for label in labels
    }
    median_cpu = {name: statistics.median(r[name]["cpu_us"] for r in runs) for name in names}
    errors = {name: sum(r[name]["errors"] for r in runs) for name in names}
    return {
        "runs": runs,
        "median_rps": median_rps,
        "ratios": ratios,
        "median_cpu_us": median_cpu,
        "cpu_ratios": cpu_ratios,
        "errors": errors,
    }


def print_tables(summary: dict, args: argparse.Namespace) -> None:
    """The run as markdown: every round, then the medians and ratios."""
    runs = summary["runs"]
    print(f"wrk -t1 -c{args.connections} -d{args.seconds}s on loopback, {len(runs)} rounds")
    print(f"alternating; worker stopped; SQLite; {os.cpu_count()} CPUs shared with wrk.\n")
    print("| server | requests/s per round | median | vs anchor |", end="")
    print(" server CPU µs/request | vs anchor | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, median in summary["median_rps"].items():
        label, kind = name.rsplit(" ", 1)
        each = ", ".join(f"{r[name]['rps']:.0f}" for r in runs)
        ratio = "1" if label == "bare" else _ratio(summary["ratios"][label][kind])
        cpu_ratio = "1" if label == "bare" else _ratio(summary["cpu_ratios"][label][kind])
        cpu = summary["median_cpu_us"][name]
        print(
            f"| {name} | {each} | {median:.0f} | {ratio} | {cpu:.0f} | {cpu_ratio} | "
            f"{summary['errors'][name]} |"
        )


def _ratio(value: float) -> str:
    return f"{value:.3f} (1/{1 / value:.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--tree", action="append", default=[], help="LABEL=DIR, another checkout")
    parser.add_argument("--delay-us", type=int, default=0, help="a deliberate slowdown")
    parser.add_argument("--json", type=Path, help="write the summary here too")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    trees = {"this": HERE.parent}
    for item in args.tree:
        label, _, folder = item.partition("=")
        trees[label] = Path(folder).resolve()
    summary = measure(
        trees,
        seconds=args.seconds,
        rounds=args.rounds,
        connections=args.connections,
        delay_us=args.delay_us,
    )
    print_tables(summary, args)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
