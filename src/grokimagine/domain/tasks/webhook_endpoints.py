"""An account's webhook endpoints (issue 25): a URL, the event types it wants, its own secret.

Each task event of a chosen type becomes a delivery row per endpoint, written in the transaction
that finishes the task (``webhook_deliveries.enqueue_delivery``), and sent by the same loop as
per-request ``callback_url`` deliveries. A test event is a delivery with its body stored; a
resend puts a finished delivery back in the queue under the same ``webhook-id`` (receivers that
deduplicate by it stay correct).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, insert, select, update

from grokimagine.domain import ids
from grokimagine.domain.clock import iso_utc, utcnow
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.domain.tasks.webhook_deliveries import EVENTS, PENDING
from grokimagine.storage.db import Database
from grokimagine.storage.schema import webhook_deliveries, webhook_endpoints

EVENT_TYPES: tuple[str, ...] = tuple(EVENTS.values())
TEST_EVENT = "webhook.test"
MAX_ENDPOINTS = 10


class EndpointNotFoundError(LookupError):
    """No such endpoint (or delivery) in this account."""


@dataclass(frozen=True)
class Endpoint:
    """A registered endpoint; ``secret`` signs what it receives."""

    id: str
    account_id: str
    url: str
    events: list[str]
    secret: str
    created_at: datetime


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(row.id, row.account_id, row.url, list(row.events), row.secret, row.created_at)


def _new_endpoint_id() -> str:
    return "we_" + secrets.token_urlsafe(12)


def _endpoints_of(account_id: str) -> tuple[ColumnElement[bool], ...]:
    """Where a row is one of the account's endpoints (a deleted one is none of them)."""
    return (
        webhook_endpoints.c.account_id == account_id,
        webhook_endpoints.c.deleted_at.is_(None),
    )


async def add_endpoint(db: Database, account_id: str, url: str, events: list[str]) -> Endpoint:
    """Register ``url`` for ``events`` (checked by the caller against the SSRF guard)."""
    chosen = sorted(set(events))
    if not chosen or any(event not in EVENT_TYPES for event in chosen):
        raise InvalidRequestError(f"choose events among {', '.join(EVENT_TYPES)}")
    now = utcnow()
    endpoint = Endpoint(_new_endpoint_id(), account_id, url, chosen, ids.new_webhook_secret(), now)
    async with db.write() as conn:
        active = await conn.execute(
            select(webhook_endpoints.c.id).where(*_endpoints_of(account_id))
        )
        if len(active.all()) >= MAX_ENDPOINTS:
            raise InvalidRequestError(f"an account has at most {MAX_ENDPOINTS} endpoints")
        await conn.execute(
            insert(webhook_endpoints).values(
                id=endpoint.id,
                account_id=account_id,
                url=url,
                events=chosen,
                secret=endpoint.secret,
                created_at=now,
            )
        )
    return endpoint


async def list_endpoints(db: Database, account_id: str) -> list[Endpoint]:
    """The account's endpoints, oldest first."""
    rows = await db.fetch_all(
        select(webhook_endpoints)
        .where(*_endpoints_of(account_id))
        .order_by(webhook_endpoints.c.created_at, webhook_endpoints.c.id)
    )
    return [_endpoint(row) for row in rows]


async def endpoint_secret(db: Database, endpoint_id: str) -> str | None:
    """The signing secret of an endpoint (also of a deleted one, for its last deliveries)."""
    row = await db.fetch_one(
        select(webhook_endpoints.c.secret).where(webhook_endpoints.c.id == endpoint_id)
    )
    return None if row is None else str(row.secret)


async def delete_endpoint(db: Database, account_id: str, endpoint_id: str) -> None:
    """Stop sending to an endpoint (its pending deliveries are dropped)."""
    now = utcnow()
    async with db.write() as conn:
        gone = await conn.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint_id, *_endpoints_of(account_id))
            .values(deleted_at=now)
        )
        if gone.rowcount != 1:
            raise EndpointNotFoundError(endpoint_id)
        await conn.execute(
            update(webhook_deliveries)
            .where(
                webhook_deliveries.c.endpoint_id == endpoint_id,
                webhook_deliveries.c.status == PENDING,
            )
            .values(status="failed", next_attempt_at=None, last_error="endpoint deleted")
        )


async def send_test_event(db: Database, account_id: str, endpoint_id: str) -> str:
    """Queue a ``webhook.test`` event to one endpoint; the delivery's id."""
    now = utcnow()
    delivery_id = ids.new_delivery_id()
    async with db.write() as conn:
        row = (
            await conn.execute(
                select(webhook_endpoints.c.url).where(
                    webhook_endpoints.c.id == endpoint_id, *_endpoints_of(account_id)
                )
            )
        ).first()
        if row is None:
            raise EndpointNotFoundError(endpoint_id)
        await conn.execute(
            insert(webhook_deliveries).values(
                id=delivery_id,
                task_id=None,
                account_id=account_id,
                event=TEST_EVENT,
                url=row.url,
                status=PENDING,
                attempts=0,
                next_attempt_at=now,
                attempt_log=[],
                created_at=now,
                endpoint_id=endpoint_id,
                payload={
                    "type": TEST_EVENT,
                    "timestamp": iso_utc(now),
                    "data": {"endpoint_id": endpoint_id, "message": "A test event."},
                },
            )
        )
    return delivery_id


async def resend_delivery(db: Database, account_id: str, delivery_id: str) -> None:
    """Send a finished delivery again, now, under the same id (a pending one is left alone)."""
    now = utcnow()
    async with db.write() as conn:
        changed = await conn.execute(
            update(webhook_deliveries)
            .where(
                webhook_deliveries.c.id == delivery_id,
                webhook_deliveries.c.account_id == account_id,
                webhook_deliveries.c.status != PENDING,
            )
            .values(
                status=PENDING,
                next_attempt_at=now,
                # The retry window starts again from the resend.
                created_at=now,
                finished_at=None,
            )
        )
        if changed.rowcount != 1:
            found = await conn.execute(
                select(webhook_deliveries.c.id).where(
                    webhook_deliveries.c.id == delivery_id,
                    webhook_deliveries.c.account_id == account_id,
                )
            )
            if found.first() is None:
                raise EndpointNotFoundError(delivery_id)
