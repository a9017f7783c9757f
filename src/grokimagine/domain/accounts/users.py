"""Console users: people with an email and a password, each belonging to one account.

Passwords are hashed with argon2id (argon2-cffi). Hashing takes tens of milliseconds on purpose,
so it runs in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from grokimagine.domain.accounts import accounts
from grokimagine.domain.clock import utcnow
from grokimagine.storage.db import Database
from grokimagine.storage.schema import accounts as accounts_table
from grokimagine.storage.schema import sessions, users

Role = Literal["customer", "admin"]
CUSTOMER, ADMIN = "customer", "admin"
MIN_PASSWORD = 10
MAX_PASSWORD = 256
_EMAIL = re.compile(r"^[^@\s<>\"']{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}$")

# The hash of an invited user who has not chosen a password yet: no password matches it.
NO_PASSWORD = "!invited"

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified when the email is unknown, so that a wrong email takes as long as a wrong
    password. Made on first use: hashing at import would slow every command that loads this."""
    return _hasher.hash(secrets.token_hex(16))


@dataclass(frozen=True)
class User:
    """A console user, never with the password hash."""

    id: str
    email: str
    account_id: str
    role: str
    created_at: datetime
    disabled_at: datetime | None = None
    invited: bool = False  # has not chosen a password yet

    @property
    def is_admin(self) -> bool:
        """Operators have the admin role."""
        return self.role == ADMIN


class UserError(ValueError):
    """A user cannot be made or changed as asked; the message says why, for the person."""


class EmailTakenError(UserError):
    """Another user has that email."""


class WrongPasswordError(UserError):
    """The current password given does not match."""


def normalize_email(email: str) -> str:
    """The email as stored and compared: trimmed and lower-cased; :class:`UserError` if bad."""
    cleaned = email.strip().lower()
    if not _EMAIL.match(cleaned):
        raise UserError("Enter a valid email address, like name@example.com")
    return cleaned


def check_password_policy(password: str) -> None:
    """Refuse a password that is too short or too long (:class:`UserError`)."""
    if len(password) < MIN_PASSWORD:
        raise UserError(f"The password must be at least {MIN_PASSWORD} characters long")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"The password must be at most {MAX_PASSWORD} characters long")


def new_user_id() -> str:
    """A user id such as ``user_3kTq...``."""
    return "user_" + secrets.token_urlsafe(12)


async def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (computed in a thread)."""
    return await asyncio.to_thread(_hasher.hash, password)


async def _verify(password_hash: str, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


async def create_user(
    db: Database,
    *,
    email: str,
    password: str,
    account_id: str | None = None,
    admin: bool = False,
    plan: str = "free",
    starter_credits: int = 0,
    email_verified: bool = True,
) -> User:
    """Create a user in ``account_id``, or in a new account on ``plan`` with a starter grant.

    Raises :class:`UserError` (bad email or password), :class:`EmailTakenError`, or
    :class:`~grokimagine.domain.accounts.accounts.AccountNotFoundError`.
    """
    email = normalize_email(email)
    check_password_policy(password)
    password_hash = await hash_password(password)
    now = utcnow()
    user_id = new_user_id()
    try:
        async with db.write() as conn:
            taken = await conn.execute(select(users.c.id).where(users.c.email == email))
            if taken.first() is not None:
                raise EmailTakenError("An account with this email already exists")
            if account_id is None:
                # The account and its user commit together: no account is left without its user.
                account_id = await accounts.open_account(
                    conn, plan=plan, credits_granted=starter_credits, name=email
                )
            else:
                found = await conn.execute(
                    select(accounts_table.c.id).where(accounts_table.c.id == account_id)
                )
                if found.first() is None:
                    raise accounts.AccountNotFoundError(account_id)
            await conn.execute(
                insert(users).values(
                    id=user_id,
                    email=email,
                    password_hash=password_hash,
                    account_id=account_id,
                    role=ADMIN if admin else CUSTOMER,
                    created_at=now,
                    password_changed_at=now,
                    # A sign-up the operator asks to verify starts unverified (issue 25).
                    email_verified_at=now if email_verified else None,
                )
            )
    except IntegrityError:  # a concurrent sign-up with the same email won the unique index
        raise EmailTakenError("An account with this email already exists") from None
    return User(user_id, email, account_id, ADMIN if admin else CUSTOMER, now)


async def verify_credentials(db: Database, email: str, password: str) -> User | None:
    """The user whose email and password these are, or ``None`` (same time either way)."""
    try:
        email = normalize_email(email)
    except UserError:
        email = ""
    row = await db.fetch_one(select(users).where(users.c.email == email)) if email else None
    if row is None or row.password_hash == NO_PASSWORD:
        await _verify(await asyncio.to_thread(_dummy_hash), password)
        return None
    if not await _verify(row.password_hash, password) or row.disabled_at is not None:
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        new_hash = await hash_password(password)
        async with db.write() as conn:
            await conn.execute(
                update(users).where(users.c.id == row.id).values(password_hash=new_hash)
            )
    return _user(row)


async def change_password(
    db: Database, user_id: str, *, current: str, new: str, keep_session: str | None
) -> None:
    """Set a new password after checking the current one, and end every other session.

    ``keep_session`` is the id of the session that asked (it stays signed in).
    """
    check_password_policy(new)
    row = await db.fetch_one(select(users.c.password_hash).where(users.c.id == user_id))
    if row is None or not await _verify(row.password_hash, current):
        raise WrongPasswordError("The current password is not correct")
    new_hash = await hash_password(new)
    async with db.write() as conn:
        await conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(password_hash=new_hash, password_changed_at=utcnow())
        )
        others = delete(sessions).where(sessions.c.user_id == user_id)
        if keep_session is not None:
            others = others.where(sessions.c.id != keep_session)
        await conn.execute(others)


async def get_user(db: Database, user_id: str) -> User | None:
    """The user ``user_id``, or ``None``."""
    row = await db.fetch_one(select(users).where(users.c.id == user_id))
    return None if row is None else _user(row)


async def users_of_account(db: Database, account_id: str) -> list[User]:
    """The users of one account, oldest first."""
    rows = await db.fetch_all(
        select(users).where(users.c.account_id == account_id).order_by(users.c.created_at)
    )
    return [_user(row) for row in rows]


async def count_users(db: Database) -> int:
    """How many console users exist."""
    row = await db.fetch_one(select(func.count()).select_from(users))
    return int(row[0]) if row is not None else 0


def _user(row: Row[Any]) -> User:
    return User(
        id=row.id,
        email=row.email,
        account_id=row.account_id,
        role=row.role,
        created_at=row.created_at,
        disabled_at=row.disabled_at,
        invited=row.password_hash == NO_PASSWORD,
    )


async def emails_of(db: Database, user_ids: Iterable[str]) -> dict[str, str]:
    """The email of each of ``user_ids`` that is a user (for showing who did what)."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return {}
    rows = await db.fetch_all(select(users.c.id, users.c.email).where(users.c.id.in_(wanted)))
    return {row.id: row.email for row in rows}
