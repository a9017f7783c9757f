"""Console sessions: server-side rows behind a random cookie token, each with its CSRF token.

Only the SHA-256 of the cookie's token is stored, like API keys: a copy of the database does not
sign anyone in. Ending a session deletes its row, so a stolen cookie dies with sign-out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, delete, insert, select

from grokimagine.domain.accounts.accounts import Principal
from grokimagine.domain.accounts.audit import Actor
from grokimagine.domain.clock import utcnow
from grokimagine.storage.db import Database
from grokimagine.storage.schema import accounts, sessions, users

TOKEN_BYTES = 32
# How long the second step of a sign-in (the code) may take.
SECOND_FACTOR_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class NewSession:
    """A session just started: the cookie's token (never stored) and its id."""

    token: str
    id: str


@dataclass(frozen=True)
class SessionUser:
    """Who a valid session cookie belongs to, with what the console needs about their account."""

    session_id: str
    csrf_token: str
    user_id: str
    email: str
    role: str
    account_id: str
    plan: str
    allow_spicy: bool
    account_disabled: bool = False
    two_factor: bool = False
    email_verified: bool = True

    @property
    def is_admin(self) -> bool:
        """Operators have the admin role."""
        return self.role == "admin"

    def actor(self) -> Actor:
        """Who an operator's action is recorded as (audit log, ledger rows): this user."""
        return Actor(self.user_id)

    def principal(self) -> Principal:
        """The caller as the domain's submission sees it: the account, charged (live), with the
        user's id in place of a key id, so the task records who made it."""
        return Principal(
            account_id=self.account_id,
            key_id=self.user_id,
            plan=self.plan,
            allow_spicy=self.allow_spicy,
            live=True,
            disabled=self.account_disabled,
        )


def session_id_of(token: str) -> str:
    """The stored id of a cookie token."""
    return hashlib.sha256(token.encode()).hexdigest()


async def start_session(
    db: Database,
    user_id: str,
    *,
    address: str,
    lifetime: timedelta,
    second_factor_due: bool = False,
) -> NewSession:
    """Start a session for ``user_id``; the token goes into the cookie. With
    ``second_factor_due`` it signs nobody in until :func:`finish_second_factor`."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    session_id = session_id_of(token)
    async with db.write() as conn:
        # Expired sessions of this user are swept here: sign-ins are rare, reads are not.
        await conn.execute(
            delete(sessions).where(sessions.c.user_id == user_id, sessions.c.expires_at < now)
        )
        await conn.execute(
            insert(sessions).values(
                id=session_id,
                user_id=user_id,
                csrf_token=secrets.token_urlsafe(TOKEN_BYTES),
                address=address[:64],
                created_at=now,
                expires_at=now + (SECOND_FACTOR_WINDOW if second_factor_due else lifetime),
                second_factor_due=second_factor_due,
            )
        )
    return NewSession(token=token, id=session_id)


async def second_factor_user(db: Database, token: str | None) -> str | None:
    """The user whose password was right but whose second factor is still due, or ``None``."""
    if not token or len(token) > 100:
        return None
    row = await db.fetch_one(
        select(sessions.c.user_id, sessions.c.expires_at)
        .join(users, users.c.id == sessions.c.user_id)
        .where(
            sessions.c.id == session_id_of(token),
            sessions.c.second_factor_due.is_(True),
            users.c.disabled_at.is_(None),
        )
    )
    if row is None or row.expires_at <= utcnow():
        return None
    return str(row.user_id)


async def finish_second_factor(
    db: Database, token: str, *, address: str, lifetime: timedelta
) -> NewSession | None:
    """Replace the half-done session of ``token`` with a real one (a new token: whoever saw the
    first learns nothing); ``None`` if it is gone (used, expired)."""
    user_id = await second_factor_user(db, token)
    if user_id is None:
        return None
    async with db.write() as conn:
        gone = await conn.execute(
            delete(sessions).where(
                sessions.c.id == session_id_of(token), sessions.c.second_factor_due.is_(True)
            )
        )
    if gone.rowcount != 1:  # a concurrent request finished it first
        return None
    return await start_session(db, user_id, address=address, lifetime=lifetime)


_SESSION_QUERY = (
    select(
        sessions.c.id,
        sessions.c.csrf_token,
        sessions.c.expires_at,
        users.c.id.label("user_id"),
        users.c.email,
        users.c.role,
        accounts.c.id.label("account_id"),
        accounts.c.plan,
        accounts.c.allow_spicy,
        accounts.c.disabled_at,
        users.c.totp_enabled_at,
        users.c.email_verified_at,
    )
    .join(users, users.c.id == sessions.c.user_id)
    .join(accounts, accounts.c.id == users.c.account_id)
    # A disabled user's sessions are deleted too; this also covers one started meanwhile.
    .where(
        sessions.c.id == bindparam("session_id"),
        users.c.disabled_at.is_(None),
        sessions.c.second_factor_due.is_(False),
    )
)


async def session_user(db: Database, token: str | None) -> SessionUser | None:
    """The user of a cookie token, or ``None`` for a missing, unknown or expired one."""
    if not token or len(token) > 100:
        return None
    row = await db.lookup(_SESSION_QUERY, {"session_id": session_id_of(token)})
    if row is None or row["expires_at"] <= utcnow():
        return None
    return SessionUser(
        session_id=row["id"],
        csrf_token=row["csrf_token"],
        user_id=row["user_id"],
        email=row["email"],
        role=row["role"],
        account_id=row["account_id"],
        plan=row["plan"],
        allow_spicy=bool(row["allow_spicy"]),
        account_disabled=row["disabled_at"] is not None,
        two_factor=row["totp_enabled_at"] is not None,
        email_verified=row["email_verified_at"] is not None,
    )


def csrf_matches(user: SessionUser, submitted: str | None) -> bool:
    """Whether a form's CSRF token is this session's (compared in constant time)."""
    if not submitted:
        return False
    # As bytes: compare_digest raises on str holding anything but ASCII.
    return hmac.compare_digest(user.csrf_token.encode(), submitted.encode("utf-8", "replace"))


async def end_session(db: Database, session_id: str) -> None:
    """Sign out: delete the session."""
    async with db.write() as conn:
        await conn.execute(delete(sessions).where(sessions.c.id == session_id))
