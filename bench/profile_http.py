"""Profile one endpoint of ``grokimagine serve`` under wrk with py-spy; prints where time goes.

    python bench/profile_http.py status|generate|list [--seconds 10] [--backlog N] [--out FILE]

Starts a server (SQLite, worker stopped), optionally fills the queue with ``--backlog`` tasks
(written into the database as ``bench/backlog.py`` does), then samples the server with
``py-spy record`` while wrk drives the endpoint.
Prints the functions with the most inclusive and self time (of the samples), and writes the
collapsed stacks to ``--out`` (for a flame graph). Needs ``wrk`` and ``py-spy``.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from backlog import fill
from http_api import run_wrk, start_api


def summarize(collapsed: Path, top: int) -> None:
    """Inclusive and self shares of the functions in py-spy's collapsed stacks."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        samples = int(count)
        total += samples
        for frame in set(frames):
            inclusive[frame] += samples
        own[frames[-1]] += samples
    packages: collections.Counter[str] = collections.Counter()
    for frame, samples in own.items():
        where = frame.rpartition("(")[2]
        packages[where.split("/")[0].split(".py")[0] or "?"] += samples
    print(
        "self time by package: "
        + ", ".join(
            f"{name} {100 * samples / max(total, 1):.0f}%"
            for name, samples in packages.most_common(8)
        )
    )
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"\n{title} (of {total} samples)")
        for frame, samples in counter.most_common(top):
            print(f"{100 * samples / total:5.1f}%  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("endpoint", choices=["status", "generate", "list"])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--backlog", type=int, default=0)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gi-profile-"))
    server = start_api("this", Path(__file__).parent.parent, work / "this", 0)
    try:
        if args.backlog:
            fill(
                f"sqlite:///{work / 'this' / 'data' / 'grokimagine.db'}",
                server.task_id,
                args.backlog,
                1,
            )
        urls = {
            "status": (f"{server.base}/v1/status?task_id={server.task_id}", "status"),
            "list": (f"{server.base}/v1/tasks?limit=20", "status"),
            "generate": (f"{server.base}/v1/generate", "generate"),
        }
        url, script = urls[args.endpoint]
        collapsed = args.out or work / "collapsed.txt"
        spy = subprocess.Popen(
            [
                "py-spy",
                "record",
                "--pid",
                str(server.process.pid),
                "--duration",
                str(args.seconds),
                "--format",
                "raw",
                "--output",
                str(collapsed),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        result = run_wrk(url, args.seconds, 32, server.scripts[script])
        spy.wait(60)
        print(
            f"{args.endpoint}: {result['rps']:.0f} requests/s under py-spy, backlog {args.backlog}"
        )
        summarize(collapsed, args.top)
    finally:
        server.process.terminate()
        server.process.wait(15)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
