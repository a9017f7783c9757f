"""Accounts and their API keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, func, insert, select, update

from grokimagine.domain import ids
from grokimagine.domain.accounts.audit import Actor, record_action
from grokimagine.domain.billing import credits
from grokimagine.domain.billing.credits import MAX_CREDITS_PER_CHANGE
from grokimagine.domain.billing.plans import PLANS, PlanCatalog, UnknownPlanError
from grokimagine.domain.clock import iso_utc, utcnow
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.storage.db import Database, DbConnection
from grokimagine.storage.schema import accounts, api_keys


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account behind a valid token, and that token's key."""

    account_id: str
    key_id: str
    plan: str
    allow_spicy: bool
    live: bool
    disabled: bool = False
    key_expires_at: datetime | None = None  # after this the key works no more (issue 25)


@dataclass(frozen=True)
class Account:
    """An account as operators see it."""

    id: str
    name: str
    plan: str
    balance: int
    allow_spicy: bool
    created_at: datetime
    disabled_at: datetime | None = None

    def describe(self) -> dict[str, Any]:
        """The account as JSON (admin API, audit log)."""
        return {
            "id": self.id,
            "name": self.name,
            "plan": self.plan,
            "balance": self.balance,
            "allow_spicy": self.allow_spicy,
            "disabled": self.disabled_at is not None,
            "disabled_at": iso_utc(self.disabled_at),
            "created_at": iso_utc(self.created_at),
        }


@dataclass(frozen=True)
class ApiKey:
    """A key as operators see it: never the token itself."""

    id: str
    account_id: str
    token_prefix: str
    kind: str
    created_at: datetime
    revoked_at: datetime | None
    name: str = ""
    last_used_at: datetime | None = None
    expires_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        """Whether the key's expiry has passed."""
        return self.expires_at is not None and self.expires_at <= now

    def describe(self) -> dict[str, Any]:
        """The key as JSON: never its token."""
        return {
            "id": self.id,
            "account_id": self.account_id,
            "token_prefix": self.token_prefix,
            "kind": self.kind,
            "created_at": iso_utc(self.created_at),
            "revoked_at": iso_utc(self.revoked_at),
        }


@dataclass(frozen=True)
class NewKey:
    """A freshly created key; ``token`` is shown once and never stored."""

    key: ApiKey
    token: str


MAX_KEY_NAME = 100
MAX_KEY_DAYS = 3650


class AccountNotFoundError(LookupError):
    """No account has that id."""


async def create_account(
    db: Database,
    *,
    plan: str,
    credits_granted: int = 0,
    allow_spicy: bool = False,
    name: str = "",
    plans: PlanCatalog | None = None,
    actor: Actor | None = None,
) -> Account:
    """Create an account on ``plan`` (one of ``plans``, the defaults if not given) with an
    opening grant of credits; with an ``actor``, the creation is in the audit log."""
    async with db.write() as conn:
        account_id = await open_account(
            conn,
            plan=plan,
            credits_granted=credits_granted,
            allow_spicy=allow_spicy,
            name=name,
            plans=plans,
            actor=actor,
        )
    return await get_account(db, account_id)


async def open_account(
    conn: DbConnection,
    *,
    plan: str,
    credits_granted: int = 0,
    allow_spicy: bool = False,
    name: str = "",
    plans: PlanCatalog | None = None,
    actor: Actor | None = None,
) -> str:
    """Insert an account (its opening grant, its audit entry) inside the caller's transaction,
    so that what is made with it (a console user at sign-up) commits with it; its id."""
    catalog = plans or PlanCatalog(PLANS)
    if plan not in catalog:
        raise UnknownPlanError(f"unknown plan {plan!r}; plans: {', '.join(catalog.names())}")
    if not 0 <= credits_granted <= MAX_CREDITS_PER_CHANGE:
        raise InvalidRequestError(
            f"The credits parameter is not valid: from 0 to {MAX_CREDITS_PER_CHANGE}"
        )
    account = Account(
        id=ids.new_account_id(),
        name=name,
        plan=plan,
        balance=0,
        allow_spicy=allow_spicy,
        created_at=utcnow(),
    )
    await conn.execute(
        insert(accounts).values(
            id=account.id,
            name=name,
            plan=plan,
            balance=0,
            allow_spicy=allow_spicy,
            webhook_secret=ids.new_webhook_secret(),
            created_at=account.created_at,
        )
    )
    if credits_granted:
        await credits.grant_credits(
            conn,
            account.id,
            credits_granted,
            note="opening grant",
            admin_key_id=actor.admin_key_id if actor else None,
        )
    if actor is not None:
        after = {**account.describe(), "balance": credits_granted}
        await record_action(conn, actor, "account.create", "account", account.id, after=after)
    return account.id


async def get_account(db: Database, account_id: str) -> Account:
    """The account ``account_id``; raises :class:`AccountNotFoundError`."""
    async with db.read() as conn:
        row = (await conn.execute(select(accounts).where(accounts.c.id == account_id))).first()
    if row is None:
        raise AccountNotFoundError(account_id)
    return _account(row)


async def list_accounts(db: Database) -> list[Account]:
    """Every account, oldest first."""
    async with db.read() as conn:
        rows = (await conn.execute(select(accounts).order_by(accounts.c.created_at))).all()
    return [_account(row) for row in rows]


async def count_accounts(db: Database) -> int:
    """How many accounts exist."""
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(accounts))).scalar_one())


async def create_key(
    db: Database,
    account_id: str,
    *,
    live: bool = True,
    name: str = "",
    actor: Actor | None = None,
    expires_in_days: int | None = None,
) -> NewKey:
    """Add a key (optionally named, optionally expiring) to an account and return its token,
    which is not kept; audited with an ``actor``."""
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_KEY_DAYS:
        raise InvalidRequestError(f"a key expires within 1 to {MAX_KEY_DAYS} days")
    token = ids.new_token(live=live)
    now = utcnow()
    key = ApiKey(
        id=ids.new_key_id(),
        account_id=account_id,
        token_prefix=token[:12],
        kind="live" if live else "test",
        created_at=now,
        revoked_at=None,
        name=name.strip()[:MAX_KEY_NAME],
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    async with db.write() as conn:
        found = await conn.execute(select(accounts.c.id).where(accounts.c.id == account_id))
        if found.first() is None:
            raise AccountNotFoundError(account_id)
        await conn.execute(
            insert(api_keys).values(
                id=key.id,
                account_id=account_id,
                token_hash=ids.hash_token(token),
                token_prefix=key.token_prefix,
                kind=key.kind,
                name=key.name,
                created_at=key.created_at,
                expires_at=key.expires_at,
            )
        )
        if actor is not None:
            await record_action(
                conn,
                actor,
                "key.create",
                "key",
                key.id,
                after={"account_id": account_id, "kind": key.kind, "prefix": key.token_prefix},
            )
    return NewKey(key=key, token=token)


async def revoke_key(
    db: Database, key_id: str, *, actor: Actor | None = None, account_id: str | None = None
) -> bool:
    """Revoke a key (of ``account_id`` only, if given); whether an active key was found.
    Audited with an ``actor``."""
    condition = [api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)]
    if account_id is not None:
        condition.append(api_keys.c.account_id == account_id)
    async with db.write() as conn:
        result = await conn.execute(update(api_keys).where(*condition).values(revoked_at=utcnow()))
        revoked = result.rowcount == 1
        if revoked and actor is not None:
            await record_action(
                conn,
                actor,
                "key.revoke",
                "key",
                key_id,
                before={"revoked": False},
                after={"revoked": True},
            )
    return revoked


async def list_keys(db: Database, account_id: str | None = None) -> list[ApiKey]:
    """Keys, of one account or of all, oldest first."""
    query = select(api_keys).order_by(api_keys.c.created_at)
    if account_id is not None:
        query = query.where(api_keys.c.account_id == account_id)
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    return [
        ApiKey(
            id=r.id,
            account_id=r.account_id,
            token_prefix=r.token_prefix,
            kind=r.kind,
            created_at=r.created_at,
            revoked_at=r.revoked_at,
            name=r.name,
            last_used_at=r.last_used_at,
            expires_at=r.expires_at,
        )
        for r in rows
    ]


_AUTH_QUERY = (
    select(
        api_keys.c.id,
        api_keys.c.kind,
        accounts.c.id.label("account_id"),
        accounts.c.plan,
        accounts.c.allow_spicy,
        accounts.c.disabled_at,
        api_keys.c.expires_at,
    )
    .join(accounts, accounts.c.id == api_keys.c.account_id)
    .where(api_keys.c.token_hash == bindparam("token_hash"), api_keys.c.revoked_at.is_(None))
)


async def authenticate(db: Database, token: str) -> Principal | None:
    """The principal for a token, or ``None`` for an unknown, malformed or revoked one."""
    if not ids.looks_like_token(token):
        return None
    row = await db.lookup(_AUTH_QUERY, {"token_hash": ids.hash_token(token)})
    if row is None:
        return None
    expires_at = row["expires_at"]
    if expires_at is not None and expires_at <= utcnow():
        return None
    return Principal(
        account_id=row["account_id"],
        key_id=row["id"],
        plan=row["plan"],
        allow_spicy=row["allow_spicy"],
        live=row["kind"] == "live",
        disabled=row["disabled_at"] is not None,
        key_expires_at=expires_at,
    )


# A key's last use is written at most this often: a polling client costs no write per request.
LAST_USED_PRECISION = timedelta(minutes=1)


async def touch_key(db: Database, key_id: str) -> None:
    """Record that ``key_id`` was used now, unless that was recorded within the last minute
    (by this process or another)."""
    now = utcnow()
    last = api_keys.c.last_used_at
    async with db.write() as conn:
        await conn.execute(
            update(api_keys)
            .where(
                api_keys.c.id == key_id,
                (last.is_(None)) | (last < now - LAST_USED_PRECISION),
            )
            .values(last_used_at=now)
        )


def _account(row: Row[Any]) -> Account:
    return Account(
        id=row.id,
        name=row.name,
        plan=row.plan,
        balance=row.balance,
        allow_spicy=row.allow_spicy,
        created_at=row.created_at,
        disabled_at=row.disabled_at,
    )
