"""Tasks at once on one worker: relay tasks against a loopback fake xAI, preview tasks per core.

One ``grokimagine serve`` (embedded default: SQLite, local files, its in-process worker) per run.
Relay: N tasks whose fake xAI jobs take ``--job-seconds`` each, with the provider cap at
``--cap``; preview: N tasks with ``GROKIMAGINE_PREVIEW_CONCURRENCY`` at 1 and at ``--cores``.
Runs of the cases alternate; the table gives each run and the median, wall seconds from the
first submission until every task is completed (status polled every 0.1 s).

Run: python bench/worker_concurrency.py [--runs 3] [--relay-tasks 32] [--cap 8]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.engines.relay.fake_xai import FakeXai, XaiScenario  # noqa: E402
from tests.engines.relay.loopback import LoopbackServer  # noqa: E402

from grokimagine.engines.encoding import encode_mp4  # noqa: E402

GROKIMAGINE = str(Path(sys.executable).parent / "grokimagine")
XAI_KEY = "xai-bench-key-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sample_mp4(folder: Path) -> bytes:
    path = folder / "sample.mp4"
    frames = [np.full((64, 96, 3), i * 20, dtype=np.uint8) for i in range(12)]
    encode_mp4(frames, path, width=96, height=64, fps=12)
    return path.read_bytes()


@contextmanager
def serve(work: Path, **extra: str) -> Iterator[tuple[str, str]]:
    """A ``grokimagine serve`` with its worker; yields its base URL and a key's token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROKIMAGINE_")}
    env.update(
        GROKIMAGINE_DATA_DIR=str(work / "data"),
        GROKIMAGINE_SIGNING_SECRET=secrets.token_hex(32),
        GROKIMAGINE_PLAN_LIMITS=json.dumps({"free": 10_000_000}),
        GROKIMAGINE_LOG_FORMAT="text",
        GROKIMAGINE_POLL_SECONDS="0.2",
        **extra,
    )
    token = (
        subprocess.run(
            [GROKIMAGINE, "keys", "create", "--credits", str(10**6)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    port = free_port()
    log = (work / "serve.log").open("wb")
    process = subprocess.Popen(
        [GROKIMAGINE, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError((work / "serve.log").read_text()[-3000:])
            time.sleep(0.1)
        while "started with engines" not in (work / "serve.log").read_text():
            time.sleep(0.1)
        yield base, token
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def run_tasks(base: str, token: str, count: int, prompt: str) -> float:
    """Submit ``count`` tasks at once; seconds until the last is completed."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        started = time.monotonic()
        ids = []
        for index in range(count):
            answer = http.post("/v1/generate", json={"prompt": f"{prompt} {index}"})
            answer.raise_for_status()
            ids.append(answer.json()["data"]["task_id"])
        waiting = set(ids)
        while waiting:
            for task_id in list(waiting):
                data = http.get("/v1/status", params={"task_id": task_id}).json()["data"]
                if data["status"] == "completed":
                    waiting.discard(task_id)
                elif data["status"] in ("failed", "canceled"):
                    raise RuntimeError(f"task {task_id}: {data}")
            if waiting:
                time.sleep(0.1)
        return time.monotonic() - started


def relay_run(fake: FakeXai, fake_url: str, tasks: int, cap: int, job_seconds: float) -> float:
    fake.reset(XaiScenario(job_seconds=job_seconds, url_ttl=60))
    with (
        tempfile.TemporaryDirectory() as folder,
        serve(
            Path(folder),
            GROKIMAGINE_ENGINE="xai",
            GROKIMAGINE_XAI_API_KEY=XAI_KEY,
            GROKIMAGINE_XAI_BASE_URL=f"{fake_url}/v1",
            GROKIMAGINE_RELAY_MAX_CONCURRENCY=str(cap),
            GROKIMAGINE_RELAY_POLL_INTERVAL="0.5",
            GROKIMAGINE_RELAY_POLL_MAX_INTERVAL="1",
        ) as (base, token),
    ):
        seconds = run_tasks(base, token, tasks, "a lighthouse in a storm")
    assert fake.calls.count("create") == tasks, "one provider job per task"
    assert fake.max_active <= cap
    return seconds


def preview_run(tasks: int, cores: int) -> float:
    with (
        tempfile.TemporaryDirectory() as folder,
        serve(Path(folder), GROKIMAGINE_PREVIEW_CONCURRENCY=str(cores)) as (base, token),
    ):
        return run_tasks(base, token, tasks, "a cat surfing a giant wave at sunset")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--relay-tasks", type=int, default=32)
    parser.add_argument("--cap", type=int, default=8)
    parser.add_argument("--job-seconds", type=float, default=5.0)
    parser.add_argument("--serial-tasks", type=int, default=8, help="relay tasks at cap 1")
    parser.add_argument("--preview-tasks", type=int, default=8)
    parser.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--only", choices=("relay", "preview"), help="run one family of cases")
    args = parser.parse_args()

    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        fake = FakeXai(sample_mp4(Path(folder)), XAI_KEY)
        with LoopbackServer(fake.app) as server:
            cases = {
                f"relay, {args.relay_tasks} tasks, cap {args.cap}": lambda: relay_run(
                    fake, server.base_url, args.relay_tasks, args.cap, args.job_seconds
                ),
                f"relay, {args.serial_tasks} tasks, cap 1": lambda: relay_run(
                    fake, server.base_url, args.serial_tasks, 1, args.job_seconds
                ),
                f"preview, {args.preview_tasks} tasks, 1 at once": lambda: preview_run(
                    args.preview_tasks, 1
                ),
                f"preview, {args.preview_tasks} tasks, {args.cores} at once": lambda: preview_run(
                    args.preview_tasks, args.cores
                ),
            }
            if args.only:
                cases = {name: case for name, case in cases.items() if name.startswith(args.only)}
            for _ in range(args.runs):  # alternate the cases
                for name, case in cases.items():
                    seconds = case()
                    results.setdefault(name, []).append(seconds)
                    print(f"{name}: {seconds:.2f} s", file=sys.stderr, flush=True)

    load = os.getloadavg()[0]
    print(f"\nfake xAI jobs of {args.job_seconds:g} s; load average {load:.1f} at the end\n")
    print("| case | runs (s) | median s |")
    print("|---|---|---:|")
    for name, values in results.items():
        runs = ", ".join(f"{value:.1f}" for value in values)
        print(f"| {name} | {runs} | {statistics.median(values):.1f} |")


if __name__ == "__main__":
    main()
