"""Event-stream benchmark (issue 13): many open ``GET /v1/tasks/{id}/events`` on one API process.

One ``grokimagine serve --no-worker`` process; N pending tasks, one stream open on each. Then
the oldest pending task is canceled (``POST /v1/tasks/{id}/cancel``) every ``--interval``
seconds: its stream gets its final event and every other stream a queue-position event, so each
cancel fans out to all N streams. Latency of an event = its arrival - the moment the cancel
that caused it was sent (a stream's queue position tells which cancel that was). Then the
newest task is canceled ``--single`` times: a change that moves no other task, so one event
among the N open streams. The API process's CPU and memory come from /proc.

    python bench/event_streams.py [--streams 1000] [--cancels 20] [--interval 0.5]
                                  [--postgres]

Streams are read with raw asyncio sockets so that the client costs the 2-CPU machine little.
Prints a markdown table row for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from http_api import free_port, wait_for

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
FINAL = ("completed", "failed", "canceled")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Stream:
    """One open stream and what arrived on it."""

    task_id: str
    first_position: int | None = None
    arrivals: list[tuple[float, dict]] = field(default_factory=list)
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False


async def follow(host: str, port: int, token: str, stream: Stream) -> None:
    """Read ``stream``'s events until the server ends it."""
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    writer.write(
        (
            f"GET /v1/tasks/{stream.task_id}/events HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"{stream.task_id}: {status!r}")
    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
        pass  # headers
    # Only the events' id lines are read (status.attempts.progress.position.flags): the
    # client then costs little next to the server it measures.
    pending = b""
    try:
        while True:
            chunk = await reader.read(1 << 16)
            if not chunk:
                break
            arrived = time.monotonic()
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                if not line.startswith(b"id: "):
                    continue
                status, _, _, position, _ = line[4:].rstrip(b"\r").decode().split(".")
                task = {"status": status, "queue_position": int(position) if position else None}
                stream.arrivals.append((arrived, task))
                if stream.first_position is None:
                    stream.first_position = task["queue_position"]
                    stream.opened.set()
            if stream.arrivals and stream.arrivals[-1][1]["status"] in FINAL:
                break
    finally:
        stream.closed = True
        writer.close()


async def run(args: argparse.Namespace, base: str, token: str, pid: int) -> dict:
    host, port = base.removeprefix("http://").split(":")
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
        task_ids = []
        for index in range(args.streams):
            answer = await http.post("/v1/generate", json={"prompt": f"fox {index}"})
            answer.raise_for_status()
            task_ids.append(answer.json()["data"]["task_id"])
        rss_before = rss_mib(pid)
        streams = [Stream(task_id) for task_id in task_ids]
        started = time.monotonic()
        readers = []
        for stream in streams:
            readers.append(asyncio.create_task(follow(host, int(port), token, stream)))
            if len(readers) % 100 == 0:
                await asyncio.sleep(0)  # let accepted streams answer while the rest connect
        await asyncio.wait_for(asyncio.gather(*(s.opened.wait() for s in streams)), 120)
        open_seconds = time.monotonic() - started
        await asyncio.sleep(2)
        rss_open = rss_mib(pid)
        idle_from = cpu_seconds(pid)
        await asyncio.sleep(args.idle_seconds)
        idle_cpu = (cpu_seconds(pid) - idle_from) / args.idle_seconds

        # Cancel the oldest pending tasks one by one: each moves every other stream's queue.
        by_position = sorted(streams, key=lambda s: s.first_position or 0)
        sent_at: list[float] = []
        cancel_ms: list[int] = []  # how long each cancel request took (its write included)
        profiler = None
        if os.environ.get("BENCH_PY_SPY"):  # a py-spy binary: profile the server meanwhile
            profiler = subprocess.Popen(
                [
                    *(os.environ["BENCH_PY_SPY"], "record", "--pid", str(pid), "--format", "raw"),
                    *("--output", "/tmp/event_streams.pyspy", "--duration", "10", "--nonblocking"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        busy_from = cpu_seconds(pid)
        busy_started = time.monotonic()
        for index in range(args.cancels):
            sent_at.append(time.monotonic())
            answer = await http.post(f"/v1/tasks/{by_position[index].task_id}/cancel")
            answer.raise_for_status()
            cancel_ms.append(round((time.monotonic() - sent_at[-1]) * 1000))
            await asyncio.sleep(args.interval)
        await asyncio.sleep(1.0)
        if profiler is not None:
            profiler.wait(30)
        busy_seconds = time.monotonic() - busy_started
        busy_cpu = (cpu_seconds(pid) - busy_from) / busy_seconds
        rss_busy = rss_mib(pid)

        # One task's change among the N watched: cancel the newest, which moves nobody else.
        single: list[float] = []
        for stream in reversed(by_position[-args.single :]):
            sent = time.monotonic()
            answer = await http.post(f"/v1/tasks/{stream.task_id}/cancel")
            answer.raise_for_status()
            while not stream.closed:
                await asyncio.sleep(0.001)
            single.append(stream.arrivals[-1][0] - sent)
            await asyncio.sleep(args.interval)
        single.sort()

    latencies: list[float] = []
    by_cancel: dict[int, list[float]] = {}
    missing = 0
    canceled = {stream.task_id: index for index, stream in enumerate(by_position[: args.cancels])}
    for stream in streams:
        first = stream.first_position or 0
        seen = set()
        for arrived, task in stream.arrivals[1:]:
            if task["status"] == "canceled":
                if stream.task_id not in canceled:
                    continue  # canceled in the single-update phase, measured there
                cause = canceled[stream.task_id]
            else:
                cause = first - (task["queue_position"] or 0) - 1
            if 0 <= cause < len(sent_at):
                latencies.append(arrived - sent_at[cause])
                by_cancel.setdefault(cause, []).append(arrived - sent_at[cause])
                seen.add(cause)
        expected = canceled.get(stream.task_id, args.cancels - 1) + 1
        expected = min(expected, first + 1)
        missing += max(0, expected - len(seen))
    for reader in readers:
        reader.cancel()
    latencies.sort()
    return {
        "streams": args.streams,
        "open_seconds": open_seconds,
        "rss_before": rss_before,
        "rss_open": rss_open,
        "rss_busy": rss_busy,
        "idle_cpu": idle_cpu,
        "busy_cpu": busy_cpu,
        # The API process's CPU per event delivered: a figure the machine's load hardly moves.
        "server_cpu_us_per_event": busy_cpu * busy_seconds / max(1, len(latencies)) * 1e6,
        "events": len(latencies),
        "missing": missing,
        "events_per_second": len(latencies) / busy_seconds,
        "p50": statistics.median(latencies) * 1000,
        "p95": latencies[int(len(latencies) * 0.95)] * 1000,
        "p99": latencies[int(len(latencies) * 0.99)] * 1000,
        "max": latencies[-1] * 1000,
        "over_half_second": sum(1 for value in latencies if value > 0.5),
        "cancel_request_ms": cancel_ms,
        "per_cancel_first_last_ms": [
            (round(min(values) * 1000), round(max(values) * 1000))
            for _, values in sorted(by_cancel.items())
        ],
        "single_p50": statistics.median(single) * 1000,
        "single_max": single[-1] * 1000,
    }


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A database of its own on the test PostgreSQL server, dropped afterwards."""
    import psycopg

    admin_url = os.environ.get("GROKIMAGINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1/test")
    name = f"gi_bench_events_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _event_loop_runner():  # type: ignore[no-untyped-def]
    """uvloop's runner when installed (the server runs on it too): a cheaper client."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--cancels", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--single", type=int, default=20, help="cancels of the newest task")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="a fresh database on $GROKIMAGINE_TEST_POSTGRES's server (default: SQLite)",
    )
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if args.postgres:
            args.database_url = stack.enter_context(postgres_database())
        work = stack.enter_context(tempfile.TemporaryDirectory(prefix="gi-events-"))
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GROKIMAGINE_")}
        env.update(
            GROKIMAGINE_DATA_DIR=f"{work}/data",
            GROKIMAGINE_SIGNING_SECRET=secrets.token_hex(32),
            GROKIMAGINE_PLAN_LIMITS=json.dumps({"free": 10_000_000}),
            GROKIMAGINE_DEMO_CREDITS=str(10**9),
            GROKIMAGINE_LOG_FORMAT="text",
        )
        if args.postgres:
            env["GROKIMAGINE_DATABASE_URL"] = args.database_url
        command = [sys.executable, "-m", "grokimagine.cli"]
        serve = subprocess.Popen(
            [*command, "serve", "--no-worker", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert serve.stdout is not None
            token = ""
            for line in serve.stdout:
                if line.startswith("gi_live_"):
                    token = line.strip()
                    break
            if not token:
                raise RuntimeError("no demo key printed (database not empty?)")
            base = f"http://127.0.0.1:{port}"
            wait_for(f"{base}/healthz")
            client_cpu = time.process_time()
            result = _event_loop_runner()(run(args, base, token, serve.pid))
            result["client_cpu_seconds"] = time.process_time() - client_cpu
            result["load_average"] = os.getloadavg()[0]
        finally:
            serve.terminate()
            serve.wait(20)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(json.dumps(result, indent=2))
    print(
        f"| {backend} | {result['streams']} | {result['open_seconds']:.1f} "
        f"| {result['rss_before']:.0f} / {result['rss_open']:.0f} / {result['rss_busy']:.0f} "
        f"| {result['idle_cpu'] * 100:.1f} | {result['busy_cpu'] * 100:.0f} "
        f"| {result['events']} ({result['events_per_second']:.0f}/s) "
        f"| {result['p50']:.0f} | {result['p95']:.0f} | {result['p99']:.0f} | {result['max']:.0f} "
        f"| {result['over_half_second']} | {result['missing']} "
        f"| {result['single_p50']:.0f} / {result['single_max']:.0f} "
        f"| {result['server_cpu_us_per_event']:.0f} | {result['load_average']:.1f} |"
    )


if __name__ == "__main__":
    main()
