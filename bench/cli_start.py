"""Start-up benchmark (issue 20, "start fast"): how long `grokimagine --help` and the operator
commands take, and how long `scripts/serve.sh` takes to answer HTTP, first and on a restart.

    python bench/cli_start.py [--runs 10] [--serve]

Each command runs in a fresh interpreter against a migrated SQLite database in a temp folder;
wall time and the child's CPU time (user + sys, what a quiet machine's wall time approaches)
are printed with the load average, as a markdown table for bench/RESULTS.md. `--serve` runs
scripts/serve.sh from this checkout (it makes ./.venv on the first run: that row is pip's time).
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
COMMANDS = [
    ["--help"],
    ["plans"],
    ["accounts", "list"],
    ["keys", "list"],
    ["admin-keys", "list"],
    ["migrate"],
]


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_command(
    argv: list[str], env: dict[str, str], runs: int
) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of `runs` runs of `grokimagine ARGV`."""
    walls, cpus = [], []
    for _ in range(runs):
        cpu_before, started = _child_cpu(), time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "grokimagine.cli", *argv],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        walls.append(time.perf_counter() - started)
        cpus.append(_child_cpu() - cpu_before)
    return walls, cpus


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def time_serve(env: dict[str, str], timeout: float = 900) -> float:
    """Seconds from starting scripts/serve.sh to its first HTTP answer; stops it after."""
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        ["scripts/serve.sh", "--port", str(port), "--no-worker"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/v1/status", timeout=5)
                return time.perf_counter() - started
            except httpx.TransportError:
                if process.poll() is not None or time.perf_counter() - started > timeout:
                    output = process.stdout.read() if process.stdout else ""
                    raise RuntimeError(f"serve.sh did not answer:\n{output}") from None
                time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--serve", action="store_true", help="also time scripts/serve.sh")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs\n")
    with tempfile.TemporaryDirectory(prefix="gi-bench-start-") as data:
        env = {**os.environ, "GROKIMAGINE_DATA_DIR": data}
        env.pop("GROKIMAGINE_DATABASE_URL", None)
        time_command(["migrate"], env, 1)
        print("| command | wall median s | wall min s | CPU median s |")
        print("|---|---:|---:|---:|")
        for argv in COMMANDS:
            walls, cpus = time_command(argv, env, args.runs)
            print(
                f"| `grokimagine {' '.join(argv)}` | {statistics.median(walls):.2f} | "
                f"{min(walls):.2f} | {statistics.median(cpus):.2f} |"
            )
        if args.serve:
            env = {**env, "GROKIMAGINE_DATA_DIR": str(Path(data) / "serve")}
            env.pop("PYTHONPATH", None)
            env.pop("VIRTUAL_ENV", None)
            first = time_serve(env)
            restarts = [time_serve(env) for _ in range(3)]
            print("\n| scripts/serve.sh | seconds to the first HTTP answer |\n|---|---:|")
            print(f"| first start (this run) | {first:.1f} |")
            print(f"| restart, median of 3 | {statistics.median(restarts):.1f} |")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
