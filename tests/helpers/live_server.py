"""A real grokimagine server for client tests: uvicorn on a free loopback port, in a thread,
with the in-process worker and the preview engine (the embedded default)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI
from sqlalchemy import delete

from grokimagine.domain.accounts import accounts
from grokimagine.domain.tasks.events import TaskWatcher
from grokimagine.http.app import create_app
from grokimagine.services import Services, build_services
from grokimagine.settings import Settings
from grokimagine.storage.schema import metadata
from grokimagine.worker.loop import Worker


@dataclass
class LiveServer:
    """A running server and a customer's key on it."""

    url: str
    token: str
    account_id: str
    settings: Settings
    services: Services  # the server's own (its event loop runs in the server thread)
    loop: asyncio.AbstractEventLoop
    app: FastAPI

    @property
    def watcher(self) -> TaskWatcher:
        """The server's watcher of event streams."""
        return self.app.state.task_watcher

    def call(self, make: Callable[[Services], object]) -> object:
        """Run ``make(services)``'s coroutine on the server's loop and return its result."""
        future = asyncio.run_coroutine_threadsafe(make(self.services), self.loop)  # type: ignore[arg-type]
        return future.result(timeout=30)


async def _prepare(settings: Settings, credits: int) -> tuple[str, str]:
    services = build_services(settings)
    try:
        async with services.db.write() as conn:
            for table in reversed(metadata.sorted_tables):
                await conn.execute(delete(table))
        account = await accounts.create_account(services.db, plan="pro", credits_granted=credits)
        key = await accounts.create_key(services.db, account.id)
        return account.id, key.token
    finally:
        await services.close()


@contextmanager
def live_server(
    settings: Settings,
    *,
    credits: int = 4000,
    worker: bool = True,
    build: Callable[..., FastAPI] = create_app,
) -> Iterator[LiveServer]:
    """Serve ``settings`` on 127.0.0.1 (a free port) until the block ends; ``build`` makes the
    app (the console's, to serve the pages too)."""
    account_id, token = asyncio.run(_prepare(settings, credits))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    services = build_services(settings, public_url=url)
    app = build(services, worker=Worker(services) if worker else None)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=3)
    server = uvicorn.Server(config)
    loop_box: list[asyncio.AbstractEventLoop] = []

    def serve() -> None:
        loop = asyncio.new_event_loop()
        loop_box.append(loop)
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve(sockets=[sock]))
        # Streams' helper tasks (sse-starlette's shutdown watcher) end with the loop.
        leftover = asyncio.all_tasks(loop)
        for task in leftover:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
        loop.close()

    thread = threading.Thread(target=serve, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(url, token, account_id, settings, services, loop_box[0], app)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
