"""Connection limits of ``grokimagine serve``: header size cap, header-read timeout (slowloris),
connection cap and keep-alive timeout, in our error body; no signed URL in the access log."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import httpx

from tests.helpers.cluster import REPO, Process, make_cluster, ready

HEADER_TIMEOUT = 1.0
MAX_HEADER_BYTES = 16 * 1024
MAX_CONNECTIONS = 20


def connect(api: Process) -> socket.socket:
    host, port = api.base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def status_and_body(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_serve_bounds_headers_slow_clients_connections_and_idle_keepalive(tmp_path: Path) -> None:
    with make_cluster(
        tmp_path,
        f"sqlite:///{tmp_path / 'data' / 'grokimagine.db'}",
        http_header_timeout=HEADER_TIMEOUT,
        http_max_header_bytes=MAX_HEADER_BYTES,
        http_max_connections=MAX_CONNECTIONS,
        http_keepalive_seconds=1,
        log_format="text",
    ) as cluster:
        cluster.env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO / "src"), str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        api = cluster.api("api", "--access-log")
        ready(api)

        # A 1 MiB header: 431 in our body once the cap is passed, and the connection closed.
        sock = connect(api)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ")
        try:
            for _ in range(64):
                sock.sendall(b"a" * 16384)
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, body = status_and_body(read_all(sock))
        sock.close()
        assert status == 431
        assert body["code"] == 431 and body["error"] == "HEADERS_TOO_LARGE"
        # A head just under the cap is served.
        fine = httpx.get(f"{api.base_url}/healthz", headers={"X-Big": "a" * 8000})
        assert fine.status_code == 200

        # Slowloris: more clients than the connection cap, each sending a byte at a time.
        slow = [connect(api) for _ in range(MAX_CONNECTIONS + 10)]
        for sock in slow:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        # While they hold the connections, a new request is refused in our body, not queued.
        refused = httpx.get(f"{api.base_url}/healthz")
        assert refused.status_code == 503
        assert refused.json()["error"] == "SERVICE_BUSY"
        assert refused.headers["retry-after"] == "1"
        started = time.monotonic()
        for sock in slow:
            sock.settimeout(0.05)
        open_ones = list(slow)
        closed_at: list[float] = []
        answers: list[int] = []
        while open_ones and time.monotonic() - started < 10:
            for sock in list(open_ones):
                try:
                    sock.sendall(b"X")
                    data = sock.recv(65536)
                except TimeoutError:
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    data = b""
                if data:
                    answers.append(int(data.split()[1]))
                open_ones.remove(sock)
                closed_at.append(time.monotonic() - started)
                sock.close()
            time.sleep(0.1)
        assert not open_ones, "slow clients were still connected after 10 s"
        assert max(closed_at) < HEADER_TIMEOUT + 2.0
        assert answers and set(answers) == {408}
        assert httpx.get(f"{api.base_url}/healthz").status_code == 200

        # A connection that sends nothing is closed after the header timeout too.
        idle = connect(api)
        started = time.monotonic()
        assert read_all(idle).split()[1] == b"408"
        assert time.monotonic() - started < HEADER_TIMEOUT + 2.0
        idle.close()

        # An idle keep-alive connection is closed after the keep-alive timeout.
        kept = connect(api)
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        started = time.monotonic()
        first = read_all(kept)
        assert first.startswith(b"HTTP/1.1 200")
        assert time.monotonic() - started < 3.0
        kept.close()

        # Unparsable requests get our body too.
        bad = connect(api)
        bad.sendall(b"NOT HTTP AT ALL\x00\r\n\r\n")
        status, body = status_and_body(read_all(bad))
        bad.close()
        assert status == 400 and body["error"] == "INVALID_REQUEST"

        # The access log never holds a usable signed URL.
        signature = "f" * 64
        httpx.get(f"{api.base_url}/files/videos/task_A/0.mp4?expires=1&signature={signature}")
        time.sleep(0.3)
        log = api.log()
        assert "/files/videos/task_A/0.mp4" in log
        assert signature not in log
        assert "signature=[redacted]" in log
