"""AIPerf's video-generation profile (``--endpoint-type video_generation``: POST /v1/videos,
poll GET /v1/videos/{id}) against a grokimagine server; prints a markdown table.

By default it starts the embedded default (``grokimagine serve``: SQLite, the in-process worker,
the preview engine) with a plan limit high enough that polling is never refused:

    python bench/aiperf_video.py --aiperf /path/to/aiperf-venv/bin/aiperf \\
        --requests 40 --concurrency 4 --size 480x480 --seconds 2

Against a running server instead (a GPU engine: GROKIMAGINE_ENGINE=diffusers), give its URL,
a live key and the model and size it serves:

    python bench/aiperf_video.py --aiperf .../aiperf --url http://gpu-host:8000 \\
        --key gi_live_... --model grokimagine-video --size 720x480 --seconds 5 --requests 8

AIPerf is not in the test extra (its pins clash with ours): install it in a venv of its own,
``python -m venv aiperf-venv && aiperf-venv/bin/pip install aiperf==0.13.0``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).parent
BENCH_PLAN = {"free": {"requests_per_minute": 10_000_000, "max_active_tasks": 100_000}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(work: Path) -> tuple[subprocess.Popen[str], str, str]:
    """``grokimagine serve`` on a free port: the process, its URL and the demo key."""
    port = free_port()
    env = {
        **os.environ,
        "GROKIMAGINE_DATA_DIR": str(work / "data"),
        "GROKIMAGINE_PLANS": json.dumps(BENCH_PLAN),
        "GROKIMAGINE_DEMO_CREDITS": str(10**9),
    }
    env.pop("GROKIMAGINE_DATABASE_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "grokimagine.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdout is not None
    token = ""
    for line in server.stdout:  # the demo key is printed before uvicorn starts
        if line.startswith("gi_live_"):
            token = line.strip()
            break
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/openapi.json", timeout=1)
            return server, url, token
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("the server did not come up")


def run_profile(aiperf: Path, url: str, token: str, args: argparse.Namespace, work: Path) -> dict:
    """Run AIPerf's video profile; its JSON export."""
    tokenizer = work / "tokenizer"
    python = aiperf.parent / "python"
    subprocess.run(
        [python, HERE / "aiperf_tokenizer.py", HERE.parent / "README.md", tokenizer],
        check=True,
        capture_output=True,
    )
    artifacts = work / "artifacts"
    command = [
        str(aiperf), "profile",
        "--model", args.model,
        "--url", url,
        "--endpoint-type", "video_generation",
        "--api-key", token,
        "--tokenizer", str(tokenizer),
        "--request-count", str(args.requests),
        "--concurrency", str(args.concurrency),
        "--extra-inputs", f"size:{args.size}",
        "--extra-inputs", f"seconds:{args.seconds}",
        "--artifact-dir", str(artifacts),
        "--ui-type", "none",
    ]  # fmt: skip
    env = {**os.environ, "AIPERF_HTTP_VIDEO_POLL_INTERVAL": str(args.poll_interval)}
    # AIPerf 0.13 offline looks a tokenizer up only in the hub's cache and refuses a local folder.
    env.pop("HF_HUB_OFFLINE", None)
    env.pop("TRANSFORMERS_OFFLINE", None)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.timeout)
    export = artifacts / "profile_export_aiperf.json"
    if done.returncode != 0 or not export.exists():
        sys.exit(
            f"aiperf failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return json.loads(export.read_text())


def table(result: dict, args: argparse.Namespace) -> str:
    """The profile's latency, throughput and errors as a markdown table."""
    latency = result["request_latency"]
    errors = sum(item.get("count", 0) for item in result.get("error_summary") or [])
    rows = [
        "| requests | concurrency | size | seconds | latency p50 ms | p90 ms | p99 ms"
        " | avg ms | throughput req/s | errors | error rate % |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {int(result['request_count']['avg'])} | {args.concurrency} | {args.size}"
        f" | {args.seconds} | {latency['p50']:.0f} | {latency['p90']:.0f} | {latency['p99']:.0f}"
        f" | {latency['avg']:.0f} | {result['request_throughput']['avg']:.2f} | {errors}"
        f" | {result['request_error_rate']['avg']:.1f} |",
    ]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--aiperf", type=Path, required=True, help="the aiperf executable")
    parser.add_argument("--url", help="a running server (default: start the embedded default)")
    parser.add_argument("--key", help="a live key of that server")
    parser.add_argument("--model", default="grokimagine-video")
    parser.add_argument("--size", default="480x480")
    parser.add_argument("--seconds", type=int, default=2)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--poll-interval", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gi-aiperf-"))
    server = None
    try:
        if args.url:
            url, token = args.url, args.key or ""
        else:
            server, url, token = start_server(work)
        result = run_profile(args.aiperf, url, token, args, work)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    print(
        f"AIPerf {result.get('aiperf_version')}, {platform.python_version()},"
        f" {os.cpu_count()} CPUs, {url if args.url else 'embedded default (preview engine)'}"
    )
    print(table(result, args))


if __name__ == "__main__":
    main()
