"""A GPU fleet behind one grokimagine: its overhead against calling the nodes directly (issue 23).

Nodes: ``--nodes`` fake SGLang Diffusion servers (``tests/engines/relay/fake_sglang.py``) on
loopback, each rendering any job in exactly ``--render-seconds`` with ``--slots`` jobs at once,
or real servers named with ``--node-url`` (SGLang Diffusion; ``--kind vllm-omni`` for
vLLM-Omni). Two cases, alternating, ``--runs`` times each, ``--tasks`` jobs submitted at once:

- direct: a client creates every job on the nodes itself (round-robin), polls each job on the
  schedule our relay uses (``--poll`` seconds, growing 1.5x to ``--poll-max``) and downloads
  its MP4; a job's latency is from its POST to the end of its download.
- grokimagine: one ``grokimagine serve`` (embedded default: SQLite, local files, in-process
  worker) with ``GROKIMAGINE_ENGINE`` = the fleet engine over the same nodes; the client submits
  every task over ``/v1/generate``; a task's latency is ``completed_at - created_at`` read from
  its row (queueing, the node job, download, storing the video and its poster).

Our overhead is the grokimagine case's median latency minus the direct case's, as a share of the
render time; the target is under 5 % at 100 concurrent tasks.

Run: python bench/gpu_fleet.py [--nodes 4] [--slots 25] [--tasks 100] [--render-seconds 20]
Real GPUs: python bench/gpu_fleet.py --node-url http://gpu1:30000/v1 --node-url ... --slots 1
(nodes started with --api-key: set FLEET_API_KEY; both cases send it)
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from tests.engines.relay.fake_sglang import FakeSglang, SglangScenario  # noqa: E402
from tests.engines.relay.loopback import LoopbackServer  # noqa: E402
from worker_concurrency import sample_mp4, serve  # noqa: E402

PROMPT = "a lighthouse in a storm, waves crashing"


def direct_job(
    kind: str, base: str, index: int, poll: float, poll_max: float, folder: Path
) -> float:
    """Create one job on a node, poll it as the relay does, download it; its seconds."""
    started = time.monotonic()
    key = os.environ.get("FLEET_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=base, timeout=60, headers=headers) as http:
        body = {"prompt": f"{PROMPT} {index}", "size": "480x720", "num_frames": 144, "fps": 24}
        if kind == "sglang":
            created = http.post("/videos", json=body)
        else:  # vLLM-Omni reads form fields only
            created = http.post("/videos", data={name: str(v) for name, v in body.items()})
        video_id = created.raise_for_status().json()["id"]
        interval = poll
        while True:
            time.sleep(interval)
            status = http.get(f"/videos/{video_id}").json().get("status")
            if status == "completed":
                break
            if status == "failed":
                raise RuntimeError(f"job {video_id} failed")
            interval = min(interval * 1.5, poll_max)
        content = http.get(f"/videos/{video_id}/content").raise_for_status().content
        (folder / f"{index}.mp4").write_bytes(content)
        http.delete(f"/videos/{video_id}")
    return time.monotonic() - started


def direct_run(
    kind: str, nodes: list[str], tasks: int, poll: float, poll_max: float
) -> tuple[list[float], float]:
    """Every job's latency, and the seconds from the first POST to the last download."""
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as folder, ThreadPoolExecutor(tasks) as pool:
        futures = [
            pool.submit(direct_job, kind, nodes[i % len(nodes)], i, poll, poll_max, Path(folder))
            for i in range(tasks)
        ]
        latencies = [future.result() for future in futures]
    return latencies, time.monotonic() - began


def _seconds(start: str, end: str) -> float:
    """Seconds between two stored timestamps (SQLite keeps microseconds)."""
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def fleet_run(
    kind: str, nodes: list[str], slots: int, tasks: int, poll: float, poll_max: float
) -> tuple[list[float], float]:
    """Every task's latency, and the seconds from the first task created to the last completed."""
    prefix = "GROKIMAGINE_SGLANG_" if kind == "sglang" else "GROKIMAGINE_VLLM_OMNI_"
    with (
        tempfile.TemporaryDirectory() as folder,
        serve(
            Path(folder),
            GROKIMAGINE_ENGINE=kind,
            GROKIMAGINE_RELAY_POLL_INTERVAL=str(poll),
            GROKIMAGINE_RELAY_POLL_MAX_INTERVAL=str(poll_max),
            GROKIMAGINE_PLANS=json.dumps({"free": {"max_active_tasks": tasks * 2}}),
            **{
                f"{prefix}NODES": json.dumps([{"url": u, "concurrency": slots} for u in nodes]),
                f"{prefix}DURATIONS": "[1,2,3,4,5,6,7,8,9,10]",
                **({f"{prefix}API_KEY": key} if (key := os.environ.get("FLEET_API_KEY")) else {}),
            },
        ) as (base, token),
    ):
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            ids = []
            for index in range(tasks):
                answer = http.post("/v1/generate", json={"prompt": f"{PROMPT} {index}"})
                answer.raise_for_status()
                ids.append(answer.json()["data"]["task_id"])
            done: set[str] = set()
            while len(done) < len(ids):
                time.sleep(1.0)
                for task_id in ids:
                    if task_id in done:
                        continue
                    data = http.get("/v1/status", params={"task_id": task_id}).json()["data"]
                    if data["status"] == "completed":
                        done.add(task_id)
                    elif data["status"] in ("failed", "canceled"):
                        raise RuntimeError(f"task {task_id}: {data}")
        # The API's times are whole seconds: read the microseconds from the database.
        with sqlite3.connect(Path(folder) / "data" / "grokimagine.db") as db:
            rows = db.execute("SELECT created_at, completed_at FROM tasks").fetchall()
        first, last = min(row[0] for row in rows), max(row[1] for row in rows)
        return [_seconds(created, completed) for created, completed in rows], _seconds(first, last)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=4, help="fake nodes (no --node-url)")
    parser.add_argument("--node-url", action="append", default=[], help="a real node's /v1 URL")
    parser.add_argument("--kind", choices=("sglang", "vllm-omni"), default="sglang")
    parser.add_argument("--slots", type=int, default=25, help="jobs at once per node")
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--render-seconds", type=float, default=20.0)
    parser.add_argument("--poll", type=float, default=0.25)
    parser.add_argument("--poll-max", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    if args.kind == "vllm-omni" and not args.node_url:
        parser.error("the fake nodes speak SGLang's dialect: give --node-url for vllm-omni")

    results: dict[str, list[list[float]]] = {"direct": [], "grokimagine": []}
    spans: dict[str, list[float]] = {"direct": [], "grokimagine": []}
    with ExitStack() as stack:
        nodes = list(args.node_url)
        if not nodes:
            with tempfile.TemporaryDirectory() as folder:
                mp4 = sample_mp4(Path(folder))
            for _ in range(args.nodes):
                fake = FakeSglang(mp4)
                fake.reset(SglangScenario(render_seconds=args.render_seconds))
                server = stack.enter_context(LoopbackServer(fake.app))
                nodes.append(f"{server.base_url}/v1")
        for run in range(args.runs):
            for case in ("direct", "grokimagine"):
                if case == "direct":
                    values, span = direct_run(
                        args.kind, nodes, args.tasks, args.poll, args.poll_max
                    )
                else:
                    values, span = fleet_run(
                        args.kind, nodes, args.slots, args.tasks, args.poll, args.poll_max
                    )
                results[case].append(values)
                spans[case].append(span)
                print(
                    f"run {run + 1} {case}: median {statistics.median(values):.2f} s, "
                    f"max {max(values):.2f} s, all done in {span:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )

    load = os.getloadavg()[0]
    print(
        f"\n{len(nodes)} nodes x {args.slots} slots, {args.tasks} tasks at once, render "
        f"{args.render_seconds:g} s, polls {args.poll:g}-{args.poll_max:g} s; load {load:.1f}\n"
    )
    print(
        "| case | run | median latency s | p90 s | max s | median - render s | vs direct "
        "| all done in s | videos/min |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for run in range(args.runs):
        direct = statistics.median(results["direct"][run])
        for case in ("direct", "grokimagine"):
            values = sorted(results[case][run])
            median = statistics.median(values)
            p90 = values[int(0.9 * (len(values) - 1))]
            share = (median - direct) / args.render_seconds
            overhead = "-" if case == "direct" else f"{median - direct:+.2f} s = {share:+.1%}"
            added = median - args.render_seconds
            span = spans[case][run]
            print(
                f"| {case} | {run + 1} | {median:.2f} | {p90:.2f} | {values[-1]:.2f} "
                f"| {added:+.2f} | {overhead} | {span:.1f} | {60 * len(values) / span:.0f} |"
            )


if __name__ == "__main__":
    main()
