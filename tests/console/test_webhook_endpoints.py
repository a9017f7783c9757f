"""Account webhook endpoints from the console (issue 25): URL, event types and an own secret;
a test event, task events signed with the endpoint's secret, a delivery log with resend; one
account never reaches another's endpoints or deliveries. Receivers are real local servers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from standardwebhooks import Webhook

from grokimagine.console.app import create_app
from grokimagine.services import Services, build_services
from grokimagine.settings import Settings
from grokimagine.worker.webhook_sender import WebhookSender
from tests.helpers.console import make_user, sign_in
from tests.helpers.customers import BASE_URL, make_worker
from tests.helpers.webhook_receiver import Receiver

ENDPOINT_SECRET = re.compile(
    r'id="secret-(we_[^"]+)" class="mono secret" type="password" readonly value="(whsec_[^"]+)"'
)


@pytest.fixture
async def own(settings: Settings, services: Services) -> AsyncIterator[Services]:
    """Services whose operator allow-listed 127.0.0.1 (the loopback receiver)."""
    built = build_services(
        settings.replace(fetch_allowlist=["127.0.0.1"], webhook_retry_base_seconds=0.01),
        public_url=BASE_URL,
    )
    yield built
    await built.close()


def _client(services: Services) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(services), client=("198.51.100.3", 4000))
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL)


@pytest.mark.both_databases
async def test_an_endpoint_gets_a_test_event_and_task_events_signed_with_its_secret(
    own: Services, receiver: Receiver
):
    who = await make_user(own)
    sender = WebhookSender(own)
    async with _client(own) as http:
        csrf = await sign_in(http, who)
        refused = await http.post(
            "/console/webhooks/endpoints",
            data={"csrf_token": csrf, "url": "http://10.1.2.3/hook", "events": "task.completed"},
        )
        shown = await http.get(refused.headers["location"])
        assert "callback_url" in shown.text and 'role="alert"' in shown.text
        added = await http.post(
            "/console/webhooks/endpoints",
            data={"csrf_token": csrf, "url": receiver.url("/ours"), "events": "task.completed"},
        )
        assert added.status_code == 303
        page = await http.get("/console/webhooks")
        endpoint_id, secret = ENDPOINT_SECRET.search(page.text).groups()
        assert receiver.url("/ours") in page.text

        tested = await http.post(
            f"/console/webhooks/endpoints/{endpoint_id}/test", data={"csrf_token": csrf}
        )
        assert tested.status_code == 303
        assert await sender.run_once() == 1
        (test_event,) = receiver.received
        verified = Webhook(secret).verify(test_event.body, test_event.headers)
        assert verified["type"] == "webhook.test"
        assert verified["data"]["endpoint_id"] == endpoint_id

        made = await http.post(
            "/console/api/generate", json={"prompt": "a hook"}, headers={"X-CSRF-Token": csrf}
        )
        task_id = made.json()["data"]["task_id"]
        assert await make_worker(own).run_once()
        assert await sender.run_once() == 1
        task_event = receiver.received[1]
        body = Webhook(secret).verify(task_event.body, task_event.headers)
        assert body["type"] == "task.completed" and body["data"]["task_id"] == task_id

        # The log shows both; a resend sends the test event again under the same id.
        page = await http.get("/console/webhooks")
        delivery_id = test_event.headers["webhook-id"]
        assert f'data-delivery-id="{delivery_id}"' in page.text
        resent = await http.post(
            f"/console/webhooks/deliveries/{delivery_id}/resend", data={"csrf_token": csrf}
        )
        assert resent.status_code == 303
        assert await sender.run_once() == 1
        again = receiver.received[2]
        assert again.headers["webhook-id"] == delivery_id
        assert orjson.loads(again.body)["type"] == "webhook.test"

        # Deleted: the next task sends it nothing.
        await http.post(
            f"/console/webhooks/endpoints/{endpoint_id}/delete", data={"csrf_token": csrf}
        )
        await http.post(
            "/console/api/generate", json={"prompt": "unheard"}, headers={"X-CSRF-Token": csrf}
        )
        assert await make_worker(own).run_once()
        assert await sender.run_once() == 0
    assert len(receiver.received) == 3
    await sender.close()


async def test_another_account_reaches_no_endpoint_or_delivery(own: Services, receiver: Receiver):
    owner, stranger = await make_user(own), await make_user(own)
    async with _client(own) as http, _client(own) as other:
        csrf = await sign_in(http, owner)
        other_csrf = await sign_in(other, stranger)
        await http.post(
            "/console/webhooks/endpoints",
            data={"csrf_token": csrf, "url": receiver.url(), "events": "task.failed"},
        )
        endpoint_id, _ = ENDPOINT_SECRET.search((await http.get("/console/webhooks")).text).groups()
        await http.post(
            f"/console/webhooks/endpoints/{endpoint_id}/test", data={"csrf_token": csrf}
        )
        page = await http.get("/console/webhooks")
        delivery_id = re.search(r'data-delivery-id="(msg_[^"]+)"', page.text)[1]
        theirs = await other.get("/console/webhooks")
        assert endpoint_id not in theirs.text and delivery_id not in theirs.text
        for path in (
            f"/console/webhooks/endpoints/{endpoint_id}/test",
            f"/console/webhooks/endpoints/{endpoint_id}/delete",
            f"/console/webhooks/deliveries/{delivery_id}/resend",
        ):
            answer = await other.post(path, data={"csrf_token": other_csrf})
            assert answer.status_code == 404, path
        assert endpoint_id in (await http.get("/console/webhooks")).text
