"""Single-use links sent by email: an invitation, a password reset, an email check.

The link carries a random token; only its SHA-256 is stored (a copy of the database opens no
link). A link is spent by one conditional UPDATE (``spent_at IS NULL AND expires_at > now``),
so two clicks at once, or two servers, spend it exactly once. Issuing a link of a purpose spends
the user's earlier unspent links of that purpose: only the newest one works.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, insert, select, update

from grokimagine.domain.accounts import users
from grokimagine.domain.clock import utcnow
from grokimagine.storage.db import Database, DbConnection
from grokimagine.storage.schema import link_tokens, sessions
from grokimagine.storage.schema import users as users_table

Purpose = Literal["invite", "password_reset", "email_verify"]
PURPOSES: tuple[Purpose, ...] = ("invite", "password_reset", "email_verify")
# How long a link works when the caller does not say.
DEFAULT_LIFETIMES: dict[str, timedelta] = {
    "invite": timedelta(days=7),
    "password_reset": timedelta(hours=1),
    "email_verify": timedelta(days=2),
}
# The links whose page sets a password.
PASSWORD_PURPOSES: frozenset[str] = frozenset({"invite", "password_reset"})
TOKEN_BYTES = 32


class LinkTokenError(ValueError):
    """The link is unknown, already used, superseded or expired (one message for all: a
    stranger learns nothing from it)."""

    def __init__(self) -> None:
        super().__init__(
            "This link is not valid any more: it was already used, replaced by a newer one, or "
            "it expired. Ask for a new one."
        )


@dataclass(frozen=True)
class NewLinkToken:
    """A link just issued: the token (never stored) goes into the URL."""

    token: str
    purpose: str
    user_id: str
    expires_at: datetime


@dataclass(frozen=True)
class LinkTarget:
    """Whom a valid, unspent link is for (shown on its page before it is used)."""

    purpose: str
    user_id: str
    email: str
    expires_at: datetime


def token_id(token: str) -> str:
    """The stored id of a link token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _plausible(token: str | None) -> bool:
    return bool(token) and len(token or "") <= 100


async def issue_link_token(
    conn: DbConnection,
    *,
    user_id: str,
    purpose: Purpose,
    created_by: str = "",
    lifetime: timedelta | None = None,
) -> NewLinkToken:
    """Issue a link for ``user_id`` inside the caller's transaction; earlier unspent links of
    the same purpose stop working."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown link purpose {purpose!r}")
    now = utcnow()
    await spend_open_links(conn, user_id, {purpose}, now)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = now + (lifetime or DEFAULT_LIFETIMES[purpose])
    await conn.execute(
        insert(link_tokens).values(
            id=token_id(token),
            purpose=purpose,
            user_id=user_id,
            created_by=created_by[:40],
            created_at=now,
            expires_at=expires_at,
        )
    )
    return NewLinkToken(token=token, purpose=purpose, user_id=user_id, expires_at=expires_at)


async def spend_open_links(
    conn: DbConnection, user_id: str, purposes: Collection[str], now: datetime
) -> None:
    """Spend the user's unspent links of ``purposes`` inside the caller's transaction: they
    stop working."""
    await conn.execute(
        update(link_tokens)
        .where(
            link_tokens.c.user_id == user_id,
            link_tokens.c.purpose.in_(purposes),
            link_tokens.c.spent_at.is_(None),
        )
        .values(spent_at=now)
    )


async def find_link(
    db: Database, token: str | None, purposes: frozenset[str] | set[str]
) -> LinkTarget | None:
    """Whom an unspent, unexpired link of one of ``purposes`` is for; ``None`` otherwise."""
    if not _plausible(token):
        return None
    row = await db.fetch_one(
        select(
            link_tokens.c.purpose,
            link_tokens.c.user_id,
            link_tokens.c.expires_at,
            link_tokens.c.spent_at,
            users_table.c.email,
            users_table.c.disabled_at,
        )
        .join(users_table, users_table.c.id == link_tokens.c.user_id)
        .where(link_tokens.c.id == token_id(token or ""))
    )
    if (
        row is None
        or row.purpose not in purposes
        or row.spent_at is not None
        or row.expires_at <= utcnow()
        or row.disabled_at is not None
    ):
        return None
    return LinkTarget(row.purpose, row.user_id, row.email, row.expires_at)


async def spend_link_token(
    conn: DbConnection, token: str | None, purposes: frozenset[str] | set[str]
) -> tuple[str, str]:
    """Spend a link inside the caller's transaction: its ``(user_id, purpose)``.

    Raises :class:`LinkTokenError` if it is unknown, spent, expired or of another purpose.
    Exactly one of any number of concurrent calls with one token succeeds.
    """
    if not _plausible(token):
        raise LinkTokenError()
    now = utcnow()
    stored_id = token_id(token or "")
    row = (
        await conn.execute(
            select(link_tokens.c.user_id, link_tokens.c.purpose).where(
                link_tokens.c.id == stored_id
            )
        )
    ).first()
    if row is None or row.purpose not in purposes:
        raise LinkTokenError()
    spent = await conn.execute(
        update(link_tokens)
        .where(
            link_tokens.c.id == stored_id,
            link_tokens.c.spent_at.is_(None),
            link_tokens.c.expires_at > now,
        )
        .values(spent_at=now)
    )
    if spent.rowcount != 1:
        raise LinkTokenError()
    return row.user_id, row.purpose


async def set_password_from_link(db: Database, token: str | None, new_password: str) -> str:
    """Set a user's password from an invitation or reset link, spending it; every session of
    that user ends. Returns the user's id.

    Raises :class:`LinkTokenError`, or :class:`~grokimagine.domain.accounts.users.UserError`
    for a password the policy refuses (the link then stays usable).
    """
    users.check_password_policy(new_password)
    new_hash = await users.hash_password(new_password)
    async with db.write() as conn:
        user_id, _ = await spend_link_token(conn, token, PASSWORD_PURPOSES)
        changed = await conn.execute(
            update(users_table)
            .where(users_table.c.id == user_id, users_table.c.disabled_at.is_(None))
            .values(password_hash=new_hash, password_changed_at=utcnow())
        )
        if changed.rowcount != 1:  # disabled since the link was sent: the link dies with it
            raise LinkTokenError()
        # Whoever held a session (a thief, a shared computer) is signed out everywhere.
        await conn.execute(delete(sessions).where(sessions.c.user_id == user_id))
        # A reset also ends the invitation, and the reverse: one password-setting link at a time.
        await spend_open_links(conn, user_id, PASSWORD_PURPOSES, utcnow())
    return user_id
