"""The SDK under faults: 429 and 5xx retried with Retry-After honoured and the same idempotency
key; a server without the event stream (polling instead); unknown statuses and fields; typed
task errors; webhook signatures."""

from __future__ import annotations

import json
import time

import pytest

from grokimagine.worker.webhook_sender import sign
from grokimagine_client import (
    ContentRejectedError,
    GrokImagine,
    RateLimitError,
    ServerError,
    Task,
    TaskCanceledError,
    TaskFailedError,
    UnsupportedError,
    WebhookVerificationError,
)
from grokimagine_client.errors import error_for_task
from tests.client.conftest import Scripted, StubServer, envelope, sqlite_settings
from tests.helpers.live_server import live_server

RATE_LIMITED = {"code": 429, "message": "Rate limit exceeded", "error": "RATE_LIMITED"}
UNAVAILABLE = {"code": 503, "message": "Service unavailable", "error": "UNAVAILABLE"}


def test_429_is_retried_after_the_servers_retry_after(stub: StubServer) -> None:
    stub.script(
        "GET",
        "/v1/account",
        Scripted(429, RATE_LIMITED, {"Retry-After": "0.4"}),
        Scripted(429, RATE_LIMITED, {"Retry-After": "0.4"}),
        Scripted(200, envelope({"account_id": "acct_1", "plan": "pro", "balance": 80})),
    )
    started = time.monotonic()
    with GrokImagine(api_key="gi_live_x", base_url=stub.url, max_retries=2) as client:
        assert client.account.retrieve().balance == 80
    assert time.monotonic() - started >= 0.8
    assert len(stub.calls("GET", "/v1/account")) == 3


def test_retries_stop_at_max_retries_with_a_typed_error(stub: StubServer) -> None:
    stub.script("GET", "/v1/account", Scripted(429, RATE_LIMITED, {"Retry-After": "0.1"}))
    with (
        GrokImagine(api_key="gi_live_x", base_url=stub.url, max_retries=1) as client,
        pytest.raises(RateLimitError) as limited,
    ):
        client.account.retrieve()
    assert (limited.value.status, limited.value.code, limited.value.retry_after) == (
        429,
        "RATE_LIMITED",
        0.1,
    )
    assert len(stub.calls("GET", "/v1/account")) == 2


def test_a_retried_generate_sends_the_same_idempotency_key(stub: StubServer) -> None:
    stub.script(
        "POST",
        "/v1/generate",
        Scripted(503, UNAVAILABLE, {"Retry-After": "0"}),
        Scripted(200, envelope({"task_id": "task_1"})),
    )
    with GrokImagine(api_key="gi_live_x", base_url=stub.url) as client:
        task = client.videos.create("a fox")
        client.videos.create("another fox")
    assert task.id == "task_1" and task.status == "pending"
    keys = [headers["Idempotency-Key"] for headers in stub.calls("POST", "/v1/generate")]
    assert len(keys) == 3 and keys[0] == keys[1] != keys[2]


def test_a_500_is_retried_then_raised_as_a_server_error_with_the_task_id(stub: StubServer) -> None:
    failure = {"code": 500, "message": "Internal error", "error": "INTERNAL_ERROR"}
    stub.script("GET", "/v1/tasks/task_1", Scripted(500, failure))
    with (
        GrokImagine(api_key="gi_live_x", base_url=stub.url, max_retries=2) as client,
        pytest.raises(ServerError) as failed,
    ):
        client.videos.retrieve("task_1")
    assert failed.value.task_id == "task_1"
    assert len(stub.calls("GET", "/v1/tasks/task_1")) == 3


def test_a_server_without_the_stream_is_polled_and_unknown_statuses_wait_on(
    stub: StubServer,
) -> None:
    def task(status: str, progress: int) -> Scripted:
        body = {"task_id": "task_1", "status": status, "progress": progress, "hue": "red"}
        if status == "completed":
            body["response"] = ["http://example.invalid/v.mp4"]
        return Scripted(200, envelope(body))

    stub.script(
        "GET",
        "/v1/tasks/task_1",
        task("warming_up", 0),  # a status this client does not know: still running
        task("processing", 50),
        task("completed", 100),
    )
    updates: list[Task] = []
    with GrokImagine(api_key="gi_live_x", base_url=stub.url) as client:
        done = client.videos.wait("task_1", poll_interval=0.05, on_update=updates.append)
    assert [update.status for update in updates] == ["warming_up", "processing", "completed"]
    assert done.videos == ["http://example.invalid/v.mp4"]
    assert done.hue == "red" and done.to_dict()["hue"] == "red"  # unknown fields kept
    assert len(stub.calls("GET", "/v1/tasks/task_1/events")) == 1  # tried once, then polled


def test_finished_tasks_become_typed_errors_with_their_task() -> None:
    failed = Task.from_api(
        {"task_id": "t1", "status": "failed", "error": {"code": "ENGINE_FAILED", "message": "x"}}
    )
    refused = Task.from_api(
        {
            "task_id": "t2",
            "status": "failed",
            "error": {"code": "CONTENT_REJECTED", "message": "no"},
        }
    )
    canceled = Task.from_api({"task_id": "t3", "status": "canceled"})
    assert type(error_for_task(failed)) is TaskFailedError
    assert isinstance(error_for_task(refused), ContentRejectedError)
    assert isinstance(error_for_task(canceled), TaskCanceledError)
    error = error_for_task(refused)
    assert (error.task_id, error.code, error.task) == ("t2", "CONTENT_REJECTED", refused)


def test_webhook_signatures_are_verified() -> None:
    secret = "whsec_" + "a2V5LWtleS1rZXkta2V5LWtleS1rZXk="
    body = json.dumps({"type": "task.completed", "data": {"task_id": "t1"}}).encode()
    now = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(now),
        "webhook-signature": sign(secret, "msg_1", now, body),
    }
    with GrokImagine(api_key="gi_live_x", base_url="http://127.0.0.1:9") as client:
        assert client.webhooks.verify(body, headers, secret)["data"]["task_id"] == "t1"
        with pytest.raises(WebhookVerificationError):
            client.webhooks.verify(body + b" ", headers, secret)
        with pytest.raises(WebhookVerificationError):
            client.webhooks.verify(body, {**headers, "webhook-timestamp": str(now - 3600)}, secret)


def test_a_real_servers_429_reaches_the_caller_as_rate_limit_error(tmp_path) -> None:
    settings = sqlite_settings(tmp_path, plan_limits={"pro": 2})
    with (
        live_server(settings, worker=False) as server,
        GrokImagine(
            api_key=server.token, base_url=server.url, max_retries=1, max_retry_after=0.2
        ) as client,
    ):
        client.account.retrieve()
        client.account.retrieve()
        started = time.monotonic()
        with pytest.raises(RateLimitError) as limited:
            client.account.retrieve()
        waited = time.monotonic() - started
    assert limited.value.retry_after is not None and limited.value.retry_after >= 1
    assert limited.value.code == "RATE_LIMITED"
    assert 0.15 <= waited < 5  # one retry, after the capped Retry-After


def _event(task: dict, event_id: str) -> bytes:
    return f"event: task\r\nid: {event_id}\r\ndata: {json.dumps(task)}\r\n\r\n".encode()


def test_wait_reconnects_a_dropped_stream_with_last_event_id(stub: StubServer) -> None:
    pending = {"task_id": "task_1", "status": "pending", "queue_position": 2}
    running = {"task_id": "task_1", "status": "processing", "progress": 40}
    done = {"task_id": "task_1", "status": "completed", "progress": 100, "response": ["u"]}
    stub.script(
        "GET",
        "/v1/tasks/task_1/events",
        # The connection ends before the task does (a proxy, a restart): no final event.
        Scripted(200, None, raw=b": ping\r\n\r\n" + _event(pending, "s1") + _event(running, "s2")),
        Scripted(200, None, raw=_event(done, "s3")),
    )
    updates: list[Task] = []
    with GrokImagine(api_key="gi_live_x", base_url=stub.url) as client:
        finished = client.videos.wait("task_1", on_update=updates.append)
    assert finished.succeeded and finished.videos == ["u"]
    assert [(u.status, u.queue_position, u.progress) for u in updates] == [
        ("pending", 2, 0),
        ("processing", None, 40),
        ("completed", None, 100),
    ]
    first, second = stub.calls("GET", "/v1/tasks/task_1/events")
    assert "Last-Event-ID" not in first and second["Last-Event-ID"] == "s2"
    assert not stub.calls("GET", "/v1/tasks/task_1"), "no polling while the stream works"


def test_a_failed_task_raises_from_wait_with_its_id(stub: StubServer) -> None:
    failed = {
        "task_id": "task_1",
        "status": "failed",
        "error": {"code": "CONTENT_REJECTED", "message": "refused"},
    }
    stub.script("GET", "/v1/tasks/task_1/events", Scripted(200, None, raw=_event(failed, "s1")))
    with (
        GrokImagine(api_key="gi_live_x", base_url=stub.url) as client,
        pytest.raises(ContentRejectedError) as rejected,
    ):
        client.videos.wait("task_1")
    assert (rejected.value.task_id, rejected.value.code) == ("task_1", "CONTENT_REJECTED")


def test_a_server_without_quotes_gets_a_clear_error(stub: StubServer) -> None:
    with (
        GrokImagine(api_key="gi_live_x", base_url=stub.url) as client,
        pytest.raises(UnsupportedError) as no_quote,
    ):
        client.videos.quote("a fox")
    assert no_quote.value.code == "QUOTE_UNSUPPORTED" and "POST /v1/quote" in str(no_quote.value)
