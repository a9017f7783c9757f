"""Webhooks: callback_url checked at submission, signed deliveries that survive restarts and are
retried with backoff, and a delivery log per task. Receivers are real local HTTP servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from grokimagine.http.app import create_app
from grokimagine.services import Services, build_services
from grokimagine.settings import Settings
from grokimagine.worker.webhook_sender import WebhookSender
from tests.helpers.api import FailingEngine, balance_of, submit
from tests.helpers.customers import BASE_URL, Customer, make_customer, make_worker
from tests.helpers.webhook_receiver import Receiver
from tests.helpers.workers import wait_until


@pytest.fixture
async def hooked(
    settings: Settings, services: Services
) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    """A service whose operator allow-listed 127.0.0.1, with retries in milliseconds."""
    fast = settings.replace(
        fetch_allowlist=["127.0.0.1"], webhook_retry_base_seconds=0.01, webhook_timeout=2.0
    )
    own = build_services(fast, public_url=BASE_URL)
    transport = httpx.ASGITransport(app=create_app(own))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http, own
    await own.close()


async def deliveries(http: httpx.AsyncClient, customer: Customer, task_id: str) -> list[dict]:
    response = await http.get(f"/v1/tasks/{task_id}/deliveries", headers=customer.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]["deliveries"]


async def secret_of(http: httpx.AsyncClient, customer: Customer) -> str:
    response = await http.get("/v1/account", headers=customer.headers)
    return response.json()["data"]["webhook_secret"]


async def deliver_all(sender: WebhookSender, services: Services, task_id: str) -> None:
    """Run the sender until the task's deliveries are no longer pending."""
    from sqlalchemy import select

    from grokimagine.storage.schema import webhook_deliveries

    async def settled() -> bool:
        await sender.run_once()
        rows = await services.db.fetch_all(
            select(webhook_deliveries.c.status).where(webhook_deliveries.c.task_id == task_id)
        )
        return bool(rows) and all(row.status != "pending" for row in rows)

    try:
        await wait_until(settled, seconds=20)
    finally:
        await sender.close()


async def test_a_receiver_failing_three_times_then_succeeding_gets_a_verifiable_delivery(
    hooked: tuple[httpx.AsyncClient, Services], receiver: Receiver
) -> None:
    http, services = hooked
    customer = await make_customer(services)
    receiver.script = [500, 503, 404]
    task_id = await submit(http, customer, {"prompt": "p", "callback_url": receiver.url()})
    assert await make_worker(services).run_once()

    await deliver_all(WebhookSender(services), services, task_id)

    assert len(receiver.received) == 4
    webhook = Webhook(await secret_of(http, customer))
    ids = set()
    for post in receiver.received:
        payload = webhook.verify(post.body, post.headers)
        ids.add(post.headers["webhook-id"])
        assert post.path == "/hook"
        assert post.headers["Content-Type"] == "application/json"
    assert len(ids) == 1 and ids.pop().startswith("msg_")
    assert payload["type"] == "task.completed"
    assert payload["data"]["task_id"] == task_id and payload["data"]["status"] == "completed"
    assert payload["data"]["response"][0].startswith(f"{BASE_URL}/files/videos/{task_id}/")
    # A tampered body or a signature made with another secret does not verify.
    last = receiver.received[-1]
    with pytest.raises(WebhookVerificationError):
        webhook.verify(last.body.replace(b"completed", b"failed"), last.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(last.body, last.headers)

    (log,) = await deliveries(http, customer, task_id)
    assert log["status"] == "delivered" and log["attempts"] == 4
    assert log["event"] == "task.completed" and log["url"] == receiver.url()
    assert [a["status_code"] for a in log["attempt_log"]] == [500, 503, 404, 204]
    assert log["next_attempt_at"] is None and log["finished_at"]


async def test_failures_and_cancels_are_delivered_too(
    hooked: tuple[httpx.AsyncClient, Services], receiver: Receiver
) -> None:
    http, services = hooked
    customer = await make_customer(services)
    failing = await submit(http, customer, {"prompt": "p", "callback_url": receiver.url("/f")})
    await make_worker(services, FailingEngine()).run_once()
    canceled = await submit(http, customer, {"prompt": "p", "callback_url": receiver.url("/c")})
    await http.post(f"/v1/tasks/{canceled}/cancel", headers=customer.headers)
    plain = await submit(http, customer, {"prompt": "no callback"})
    await http.post(f"/v1/tasks/{plain}/cancel", headers=customer.headers)

    await deliver_all(WebhookSender(services), services, canceled)
    await deliver_all(WebhookSender(services), services, failing)
    by_path = {post.path: orjson.loads(post.body) for post in receiver.received}
    assert set(by_path) == {"/f", "/c"}
    assert by_path["/f"]["type"] == "task.failed"
    assert by_path["/f"]["data"]["error"]["code"] == "ENGINE_FAILED"
    assert by_path["/c"]["type"] == "task.canceled"
    assert by_path["/c"]["data"]["consumed_credits"] == 0
    assert await deliveries(http, customer, plain) == []


async def test_a_pending_delivery_survives_a_restart(
    hooked: tuple[httpx.AsyncClient, Services], receiver: Receiver
) -> None:
    http, services = hooked
    customer = await make_customer(services)
    task_id = await submit(http, customer, {"prompt": "p", "callback_url": receiver.url()})
    assert await make_worker(services).run_once()
    # Written with the completion, before any sender ran.
    (queued,) = await deliveries(http, customer, task_id)
    assert (queued["status"], queued["attempts"]) == ("pending", 0)

    restarted = build_services(services.settings, public_url=BASE_URL)
    try:
        await deliver_all(WebhookSender(restarted), restarted, task_id)
    finally:
        await restarted.close()
    assert len(receiver.received) == 1
    assert (await deliveries(http, customer, task_id))[0]["status"] == "delivered"


async def test_a_timeout_is_retried(
    hooked: tuple[httpx.AsyncClient, Services], receiver: Receiver
) -> None:
    http, services = hooked
    services.settings.webhooks.timeout = 0.2
    customer = await make_customer(services)
    receiver.delay = 1.0
    task_id = await submit(http, customer, {"prompt": "p", "callback_url": receiver.url()})
    await make_worker(services).run_once()
    sender = WebhookSender(services)
    assert await sender.run_once() == 1
    receiver.delay = 0.0
    await deliver_all(sender, services, task_id)
    (log,) = await deliveries(http, customer, task_id)
    assert log["attempt_log"][0]["error"] == "timed out"
    assert log["attempt_log"][0]["status_code"] is None
    assert log["status"] == "delivered" and log["attempts"] == 2


async def test_deliveries_stop_after_the_retry_window(
    hooked: tuple[httpx.AsyncClient, Services], receiver: Receiver
) -> None:
    http, services = hooked
    services.settings.webhooks.retry_hours = 0.3 / 3600  # 0.3 s
    customer = await make_customer(services)
    receiver.then = 500
    task_id = await submit(http, customer, {"prompt": "p", "callback_url": receiver.url()})
    await make_worker(services).run_once()
    await deliver_all(WebhookSender(services), services, task_id)
    (log,) = await deliveries(http, customer, task_id)
    assert log["status"] == "failed" and log["next_attempt_at"] is None
    assert log["attempts"] == len(receiver.received) >= 2
    assert log["last_status_code"] == 500


async def test_two_senders_never_send_one_delivery_twice(
    hooked: tuple[httpx.AsyncClient, Services], receiver: Receiver
) -> None:
    http, services = hooked
    customer = await make_customer(services)
    receiver.delay = 0.3
    task_id = await submit(http, customer, {"prompt": "p", "callback_url": receiver.url()})
    await make_worker(services).run_once()
    other = build_services(services.settings, public_url=BASE_URL)  # another process
    senders = [WebhookSender(services), WebhookSender(other)]
    try:
        counts = await asyncio.gather(*(sender.run_once() for sender in senders))
    finally:
        for sender in senders:
            await sender.close()
        await other.close()
    assert sorted(counts) == [0, 1]
    assert len(receiver.received) == 1
    assert (await deliveries(http, customer, task_id))[0]["status"] == "delivered"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:9/hook", "the address is not allowed"),
        ("http://169.254.169.254/latest", "the address is not allowed"),
        ("ftp://example.com/hook", "only http and https URLs are allowed"),
        ("not a url", "only http and https URLs are allowed"),
    ],
)
async def test_a_callback_url_is_checked_at_submission(
    client: httpx.AsyncClient, services: Services, customer: Customer, url: str, reason: str
) -> None:
    response = await client.post(
        "/v1/generate", json={"prompt": "p", "callback_url": url}, headers=customer.headers
    )
    assert response.status_code == 400
    assert response.json()["message"] == (
        f"Invalid request: The callback_url parameter is not valid: {reason}"
    )
    assert await balance_of(services, customer.account_id) == 400


async def test_the_delivery_loop_runs_beside_the_api(
    hooked: tuple[httpx.AsyncClient, Services], receiver: Receiver
) -> None:
    """As ``grokimagine serve`` runs it: started and stopped by the app's lifespan."""
    _, services = hooked
    customer = await make_customer(services)
    worker, sender = make_worker(services), WebhookSender(services)
    app = create_app(services, worker=worker, webhooks=sender)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
            await submit(http, customer, {"prompt": "p", "callback_url": receiver.url()})

            async def received() -> bool:
                return len(receiver.received) == 1

            await wait_until(received, seconds=20)
