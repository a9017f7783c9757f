"""The webhook delivery loop: POST due deliveries, signed per Standard Webhooks; retry with backoff.

Deliveries are rows (``domain/tasks/webhook_deliveries.py``), so a restart loses none: a loop
claims due rows under a short lease, sends them concurrently through the SSRF-guarded client,
and records each attempt. Non-2xx answers, timeouts and connection errors are retried with
exponential backoff and jitter until the retry window (a day by default) is over; the schedule
lives in the row's ``next_attempt_at``. Several processes may run this loop side by side.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import socket
import time
import uuid
from datetime import datetime, timedelta

import httpx
import orjson
from tenacity import RetryCallState, wait_exponential, wait_random

from grokimagine.domain.billing.usage import account_details
from grokimagine.domain.clock import iso_utc, utcnow
from grokimagine.domain.tasks.records import find_task
from grokimagine.domain.tasks.views import task_view
from grokimagine.domain.tasks.webhook_deliveries import (
    AttemptResult,
    Delivery,
    claim_due_deliveries,
    record_attempt,
)
from grokimagine.domain.tasks.webhook_endpoints import endpoint_secret
from grokimagine.net.guard import FetchError, guarded_client
from grokimagine.services import Services

log = logging.getLogger("grokimagine.webhooks")


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``.

    ``secret`` is ``whsec_`` + base64 of the key, as Standard Webhooks libraries expect.
    """
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class RetrySchedule:
    """When to try again after a failed attempt: exponential backoff with jitter, in a window."""

    def __init__(self, base_seconds: float, max_delay_seconds: float, window: timedelta) -> None:
        # tenacity computes the delays; the loop keeps them in the database, not in a sleep.
        self._wait = wait_exponential(multiplier=base_seconds, max=max_delay_seconds) + wait_random(
            0, base_seconds
        )
        self.window = window

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = attempts
        return float(self._wait(state))

    def next_attempt(self, created_at: datetime, attempts: int) -> datetime | None:
        """When to try next after ``attempts`` failures; ``None`` once past the window."""
        when = utcnow() + timedelta(seconds=self.delay(attempts))
        return when if when <= created_at + self.window else None


class WebhookSender:
    """Sends due webhook deliveries until told to stop."""

    def __init__(self, services: Services, *, sender_id: str | None = None) -> None:
        self.services = services
        self.settings = services.settings
        self.sender_id = sender_id or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}:hooks"
        self.schedule = RetrySchedule(
            self.settings.webhooks.retry_base_seconds,
            self.settings.webhooks.retry_max_delay_seconds,
            timedelta(hours=self.settings.webhooks.retry_hours),
        )
        self._client: httpx.AsyncClient | None = None
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()

    def wake(self) -> None:
        """Look for due deliveries now rather than at the next poll."""
        self._wakeup.set()

    def stop(self) -> None:
        """Stop after the deliveries in hand."""
        self._stopping.set()
        self._wakeup.set()

    async def run(self) -> None:
        """Deliver until :meth:`stop`."""
        try:
            while not self._stopping.is_set():
                try:
                    sent = await self.run_once()
                except Exception:
                    log.exception("webhook sender %s: unexpected error", self.sender_id)
                    sent = 0
                if not sent and not self._stopping.is_set():
                    self._wakeup.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            self._wakeup.wait(), self.settings.webhooks.poll_seconds
                        )
        finally:
            await self.close()

    async def run_once(self) -> int:
        """Claim the due deliveries (a batch) and attempt each; returns how many."""
        batch = await claim_due_deliveries(
            self.services.db,
            self.sender_id,
            limit=self.settings.webhooks.concurrency,
            # Longer than an attempt can take, so no other sender claims one in flight.
            lease_seconds=self.settings.webhooks.timeout * 2 + 30,
        )
        outcomes = await asyncio.gather(
            *(self._attempt(delivery) for delivery in batch), return_exceptions=True
        )
        for delivery, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Exception):
                # Its lease runs out and another pass tries it again.
                log.error("webhook %s: attempt failed: %r", delivery.id, outcome)
        return len(batch)

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _attempt(self, delivery: Delivery) -> None:
        started = time.monotonic()
        try:
            status_code, error = await self._post(delivery), None
        except (httpx.HTTPError, FetchError, TimeoutError, LookupError) as exc:
            status_code, error = None, _describe(exc)
        result = AttemptResult(status_code, error, int((time.monotonic() - started) * 1000))
        next_at = None
        if not result.succeeded:
            next_at = self.schedule.next_attempt(delivery.created_at, delivery.attempts + 1)
        await record_attempt(self.services.db, delivery, self.sender_id, result, next_at)
        log.info(
            "webhook %s for %s: attempt %d -> %s",
            delivery.id,
            delivery.task_id,
            delivery.attempts + 1,
            status_code or error,
        )

    async def _post(self, delivery: Delivery) -> int:
        db = self.services.db
        if delivery.payload is not None:  # a test event: its body was stored
            payload = delivery.payload
        else:
            # A task that is gone raises TaskNotFoundError (a LookupError), as before.
            record = await find_task(db, delivery.task_id or "", account_id=delivery.account_id)
            # Built at each attempt, so the video URLs in it are freshly signed.
            view = await task_view(record, db, self.services.store, self.settings.url_ttl_seconds)
            payload = {"type": delivery.event, "timestamp": iso_utc(utcnow()), "data": view}
        body = orjson.dumps(payload)
        secret = await self._secret(delivery)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "grokimagine-webhooks/1",
            "webhook-id": delivery.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, delivery.id, timestamp, body),
        }
        if self._client is None:
            self._client = guarded_client(
                self.services.fetch_allowlist, timeout=self.settings.webhooks.timeout
            )
        async with asyncio.timeout(self.settings.webhooks.timeout):
            # The receiver's body is not read: only its status matters.
            async with self._client.stream(
                "POST", delivery.url, content=body, headers=headers
            ) as response:
                return response.status_code

    async def _secret(self, delivery: Delivery) -> str:
        """An endpoint's own secret, or the account's for a per-request callback_url."""
        if delivery.endpoint_id is not None:
            secret = await endpoint_secret(self.services.db, delivery.endpoint_id)
            if secret is None:
                raise LookupError(delivery.endpoint_id)
            return secret
        return str((await account_details(self.services.db, delivery.account_id))["webhook_secret"])


def _describe(exc: Exception) -> str:
    if isinstance(exc, FetchError):
        return exc.message
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "connection failed"
    return "request failed"
