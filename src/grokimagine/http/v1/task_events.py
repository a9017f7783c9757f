"""``GET /v1/tasks/{task_id}/events``: a task's changes as a server-sent event stream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.responses import Response

from grokimagine.domain.tasks.events import TaskSnapshot, TaskWatcher, read_snapshots
from grokimagine.domain.tasks.signals import TASK_CHANGES_CHANNEL
from grokimagine.domain.tasks.views import render_task
from grokimagine.http.errors import ApiError
from grokimagine.http.params import TaskIdPath
from grokimagine.http.v1.generate import principal_of, services_of
from grokimagine.http.v1.schemas import ERROR_RESPONSES, Error
from grokimagine.services import Services
from grokimagine.storage.listen import libpq_url, listen

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])


def build_task_watcher(services: Services) -> TaskWatcher:
    """The one watcher of a process's streams: on PostgreSQL it hears every process's changes
    (LISTEN), on SQLite this process's own."""
    db = services.db

    async def listen_for_changes(
        on_change: Callable[[str], None], on_connect: Callable[[], None]
    ) -> None:
        await listen(libpq_url(db.url), TASK_CHANGES_CHANNEL, on_change, on_connect=on_connect)

    return TaskWatcher(
        db,
        poll_seconds=services.settings.events.poll_seconds,
        listen=None if db.is_sqlite else listen_for_changes,
    )


def watcher_of(request: Request) -> TaskWatcher:
    """The app's task watcher (see :func:`build_task_watcher`)."""
    return request.app.state.task_watcher


# How long a client waits before reconnecting after a dropped connection (the SSE retry field).
RECONNECT_MILLISECONDS = 1000

STREAM_DESCRIPTION = """\
A `text/event-stream`. Each change of the task's status, queue position, progress or
cancel/delete state sends one event:

    id: <opaque state id>
    event: task
    data: <the task, as in the data of GET /v1/tasks/{task_id}>

The first event is the task as it is now. A comment line (`: ping`) is sent after each quiet
spell (15 s by default) to keep proxies from closing the connection. The stream ends after the
event with a final status (completed, failed, canceled). A client that reconnects with
`Last-Event-ID` gets the current state only if it differs from the one that id names.
"""


@router.get(
    "/{task_id}/events",
    summary="Stream a task's changes",
    operation_id="streamTaskEvents",
    response_class=Response,
    responses={
        200: {
            "description": STREAM_DESCRIPTION,
            # One server-sent event (as stream readers and schemathesis parse them): the task
            # body as JSON in `data`; heartbeats are comments, not events.
            "content": {
                "text/event-stream": {
                    "schema": {
                        "type": "object",
                        "required": ["data"],
                        "properties": {
                            "id": {"type": "string"},
                            "event": {"type": "string"},
                            "data": {"type": "string", "contentMediaType": "application/json"},
                            "retry": {"type": "integer"},
                        },
                    }
                }
            },
        },
        **ERROR_RESPONSES,
        404: {"model": Error, "description": "TASK_NOT_FOUND"},
    },
)
async def stream_task_events(
    request: Request,
    task_id: TaskIdPath,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", description="Resume after the state with this id."),
    ] = None,
) -> Response:
    """Follow a task until it finishes: one event per change, the whole task in each."""
    return await watched_task_stream(
        request, principal_of(request).account_id, task_id, last_event_id
    )


async def watched_task_stream(
    request: Request, account_id: str, task_id: str, last_event_id: str | None
) -> Response:
    """The event stream of ``task_id`` of ``account_id``, fed by the app's one watcher (the
    console's pages use it too); 404 ``TASK_NOT_FOUND`` for another account's task."""
    services = services_of(request)
    watcher = watcher_of(request)
    # Subscribed before the first read, so no change can fall between the two.
    subscription = watcher.subscribe(task_id)
    try:
        first = (await read_snapshots(services.db, [task_id])).get(task_id)
    except BaseException:
        subscription.close()
        raise
    if first is None or first.record.account_id != account_id:
        subscription.close()
        raise ApiError(404, "Task not found", "TASK_NOT_FOUND")
    watcher.prime(first)

    async def events() -> AsyncIterator[ServerSentEvent]:
        try:
            async for snapshot in _changes(first, subscription.next, last_event_id):
                yield _event(snapshot, services)
        finally:
            subscription.close()

    return EventSourceResponse(
        events(),
        ping=services.settings.events.heartbeat_seconds,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _changes(
    first: TaskSnapshot,
    next_state: Callable[[], Awaitable[TaskSnapshot]],
    seen: str | None,
) -> AsyncIterator[TaskSnapshot]:
    """``first``, then each new state, skipping the one the client has seen, until a final one."""
    current = first
    while True:
        if current.event_id != seen:
            yield current
            seen = current.event_id
        if current.finished:
            return
        current = await next_state()


def _event(snapshot: TaskSnapshot, services: Services) -> ServerSentEvent:
    view = render_task(
        snapshot.record,
        snapshot.queue_position,
        snapshot.money,
        services.store,
        services.settings.url_ttl_seconds,
    )
    return ServerSentEvent(
        data=orjson.dumps(view).decode(),
        event="task",
        id=snapshot.event_id,
        retry=RECONNECT_MILLISECONDS,
    )
