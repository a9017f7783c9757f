"""GET /v1/tasks/{task_id}/events against a real server: one event per change, heartbeats,
Last-Event-ID resume, the end after the final state, and one shared watcher per process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from grokimagine.domain.tasks import control as task_control
from grokimagine.settings import EventSettings, Settings
from tests.helpers.live_server import LiveServer, live_server
from tests.helpers.sse import Event, read_events


def _auth(server: LiveServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token}"}


def _generate(http: httpx.Client, server: LiveServer, prompt: str = "a red fox") -> str:
    answer = http.post(f"{server.url}/v1/generate", json={"prompt": prompt}, headers=_auth(server))
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]["task_id"]


def _task_events(events: Iterator[Event]) -> Iterator[Event]:
    return (event for event in events if event.event == "task")


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    with live_server(settings) as running:
        yield running


@pytest.fixture
def idle_server(settings: Settings) -> Iterator[LiveServer]:
    """No worker: tasks stay pending until the test moves them. No re-reading on a timer
    either, so whatever arrives came by an announced change (NOTIFY on PostgreSQL)."""
    quiet = settings.model_copy(
        update={"events": EventSettings(poll_seconds=60.0, heartbeat_seconds=0.3)}
    )
    with live_server(quiet, worker=False) as running:
        yield running


def test_a_stream_follows_a_task_to_the_end_with_the_whole_task_in_each_event(
    server: LiveServer,
) -> None:
    with httpx.Client(timeout=30) as http:
        task_id = _generate(http, server)
        url = f"{server.url}/v1/tasks/{task_id}/events"
        with http.stream("GET", url, headers=_auth(server)) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert "x-ratelimit-remaining" in response.headers
            events = list(_task_events(read_events(response.iter_lines())))
        resource = http.get(f"{server.url}/v1/tasks/{task_id}", headers=_auth(server)).json()
    statuses = [event.json["status"] for event in events]
    assert statuses[-1] == "completed"
    assert set(statuses) <= {"pending", "processing", "completed"}
    # Each event is a change: no two consecutive events carry the same state.
    ids = [event.id for event in events]
    assert all(ids) and len(set(ids)) == len(ids)
    last = events[-1].json
    assert set(last) == set(resource["data"]), "the event body is the task resource"
    assert last["task_id"] == task_id and last["progress"] == 100
    assert len(last["response"]) == 1 and last["expires_at"] is not None
    progress = [event.json["progress"] for event in events]
    assert progress == sorted(progress)


def test_last_event_id_resumes_without_repeating_what_the_client_saw(server: LiveServer) -> None:
    with httpx.Client(timeout=30) as http:
        task_id = _generate(http, server)
        url = f"{server.url}/v1/tasks/{task_id}/events"
        with http.stream("GET", url, headers=_auth(server)) as response:
            events = list(_task_events(read_events(response.iter_lines())))
        final = events[-1]
        # Already seen the final state: nothing to send, and the stream ends at once.
        started = time.monotonic()
        resumed = http.get(url, headers={**_auth(server), "Last-Event-ID": final.id or ""})
        assert resumed.status_code == 200
        assert list(_task_events(read_events(iter(resumed.text.splitlines())))) == []
        assert time.monotonic() - started < 5
        # From an older state: the current one is sent.
        older = http.get(url, headers={**_auth(server), "Last-Event-ID": events[0].id or ""})
        again = list(_task_events(read_events(iter(older.text.splitlines()))))
        assert [event.id for event in again] == [final.id]


def test_streams_need_a_key_and_see_only_their_own_tasks(server: LiveServer) -> None:
    with httpx.Client(timeout=30) as http:
        task_id = _generate(http, server)
        url = f"{server.url}/v1/tasks/{task_id}/events"
        unauthenticated = http.get(url)
        assert unauthenticated.status_code == 401
        assert unauthenticated.json()["error"]
        missing = http.get(f"{server.url}/v1/tasks/task_nope/events", headers=_auth(server))
        assert missing.status_code == 404
        assert missing.json()["error"] == "TASK_NOT_FOUND"
        other = server.call(_other_customer_token)
        foreign = http.get(url, headers={"Authorization": f"Bearer {other}"})
        assert foreign.status_code == 404
    assert server.watcher.watched == 0, "refused streams leave no subscription"


async def _other_customer_token(services) -> str:  # type: ignore[no-untyped-def]
    from grokimagine.domain.accounts import accounts

    account = await accounts.create_account(services.db, plan="free", credits_granted=40)
    return (await accounts.create_key(services.db, account.id)).token


def test_queue_moves_reach_every_stream_through_one_watcher_with_heartbeats(
    idle_server: LiveServer,
) -> None:
    server = idle_server
    with httpx.Client(timeout=30) as http:
        task_ids = [_generate(http, server, f"fox {index}") for index in range(4)]
        received: dict[str, list[Event]] = {task_id: [] for task_id in task_ids[1:]}
        pings: list[str] = []
        opened = threading.Barrier(len(received) + 1)

        def follow(task_id: str) -> None:
            url = f"{server.url}/v1/tasks/{task_id}/events"
            with (
                httpx.Client(timeout=30) as own,
                own.stream("GET", url, headers=_auth(server)) as response,
            ):
                opened.wait()
                for event in read_events(response.iter_lines()):
                    if event.event == "task":
                        received[task_id].append(event)
                    else:
                        pings.extend(event.comments)

        threads = [threading.Thread(target=follow, args=(task_id,)) for task_id in received]
        for thread in threads:
            thread.start()
        opened.wait()
        assert server.watcher.watched == 3
        time.sleep(0.8)  # quiet: heartbeats only
        reads_before = server.watcher.reads
        # The oldest task leaves the queue: every other one moves up.
        started = time.monotonic()
        server.call(lambda s: task_control.cancel(s.db, server.account_id, task_ids[0]))
        while any(len(events) < 2 for events in received.values()):
            assert time.monotonic() - started < 5, received
            time.sleep(0.01)
        moved_after = time.monotonic() - started
        # Then each is canceled in turn: its stream ends with that event.
        for task_id in received:
            http.post(f"{server.url}/v1/tasks/{task_id}/cancel", headers=_auth(server))
        for thread in threads:
            thread.join(timeout=10)
            assert not thread.is_alive()
    assert moved_after < 0.5
    assert any(comment.startswith("ping") for comment in pings)
    for position, task_id in enumerate(received, start=1):
        first, moved = received[task_id][0].json, received[task_id][1].json
        assert (first["status"], first["queue_position"]) == ("pending", position)
        assert (moved["status"], moved["queue_position"]) == ("pending", position - 1)
        assert received[task_id][-1].json["status"] == "canceled"
    # One read of the watched tasks served the three streams for the queue move.
    watcher = server.watcher
    assert watcher.reads - reads_before <= 1 + len(received) * 2
    assert watcher.watched == 0


async def test_the_watchers_timer_catches_unannounced_changes_and_reads_little_otherwise(
    services, customer, client: httpx.AsyncClient
) -> None:
    import asyncio

    from sqlalchemy import update

    from grokimagine.domain.tasks.events import TaskWatcher, read_snapshots
    from grokimagine.storage.schema import tasks
    from tests.helpers.api import submit

    first = await submit(client, customer)
    second = await submit(client, customer)
    watcher = TaskWatcher(services.db, poll_seconds=0.1)
    try:
        subscription = watcher.subscribe(second)
        snapshot = (await read_snapshots(services.db, [second]))[second]
        assert snapshot.queue_position == 1
        watcher.prime(snapshot)
        await asyncio.sleep(0.5)  # several timer rounds, nothing changed
        assert not subscription._ready.is_set()
        # A change nobody announces (another process on SQLite): the timer finds it.
        async with services.db.write() as conn:
            await conn.execute(update(tasks).where(tasks.c.id == first).values(status="canceled"))
        moved = await asyncio.wait_for(subscription.next(), 2)
        assert (moved.record.id, moved.queue_position) == (second, 0)
        async with services.db.write() as conn:
            await conn.execute(update(tasks).where(tasks.c.id == second).values(progress=5))
        changed = await asyncio.wait_for(subscription.next(), 2)
        assert changed.record.progress == 5
    finally:
        await watcher.close()
