"""Admin keys: the operators' tokens for ``/admin/v1``, hashed like API keys.

An admin token starts with ``gi_admin_``, which API key lookups refuse on sight; admin lookups
read only the ``admin_keys`` table. So neither kind is ever accepted in the other's place.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update

from grokimagine.domain import ids
from grokimagine.domain.accounts.audit import Actor, record_action
from grokimagine.domain.clock import iso_utc, utcnow
from grokimagine.storage.db import Database
from grokimagine.storage.schema import admin_keys

ADMIN_PREFIX = "gi_admin_"


@dataclass(frozen=True)
class AdminKey:
    """An admin key as listings show it: never the token."""

    id: str
    name: str
    token_prefix: str
    created_at: datetime
    revoked_at: datetime | None

    def describe(self) -> dict[str, object]:
        """The key as JSON."""
        return {
            "id": self.id,
            "name": self.name,
            "token_prefix": self.token_prefix,
            "created_at": iso_utc(self.created_at),
            "revoked_at": iso_utc(self.revoked_at),
        }


@dataclass(frozen=True)
class NewAdminKey:
    """A freshly made admin key; ``token`` is shown once and never stored."""

    key: AdminKey
    token: str


def looks_like_admin_token(token: str) -> bool:
    """Whether ``token`` has the shape of an admin token."""
    return token.startswith(ADMIN_PREFIX) and 20 <= len(token) <= 100


async def create_admin_key(db: Database, actor: Actor, name: str = "") -> NewAdminKey:
    """Make an admin key (the CLI does, or another admin key); audited."""
    token = ADMIN_PREFIX + secrets.token_urlsafe(32)
    key = AdminKey(
        id="adk_" + secrets.token_urlsafe(12),
        name=name[:200],
        token_prefix=token[:13],
        created_at=utcnow(),
        revoked_at=None,
    )
    async with db.write() as conn:
        await conn.execute(
            insert(admin_keys).values(
                id=key.id,
                name=key.name,
                token_hash=ids.hash_token(token),
                token_prefix=key.token_prefix,
                created_at=key.created_at,
            )
        )
        await record_action(
            conn, actor, "admin_key.create", "admin_key", key.id, after={"name": key.name}
        )
    return NewAdminKey(key, token)


async def revoke_admin_key(db: Database, actor: Actor, key_id: str) -> bool:
    """Revoke an admin key; whether an active one was found. Audited when it was."""
    async with db.write() as conn:
        result = await conn.execute(
            update(admin_keys)
            .where(admin_keys.c.id == key_id, admin_keys.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        if result.rowcount != 1:
            return False
        await record_action(
            conn,
            actor,
            "admin_key.revoke",
            "admin_key",
            key_id,
            before={"revoked": False},
            after={"revoked": True},
        )
    return True


async def list_admin_keys(db: Database) -> list[AdminKey]:
    """Every admin key, oldest first."""
    rows = await db.fetch_all(select(admin_keys).order_by(admin_keys.c.created_at))
    return [AdminKey(r.id, r.name, r.token_prefix, r.created_at, r.revoked_at) for r in rows]


_ADMIN_AUTH = select(admin_keys.c.id).where(
    admin_keys.c.token_hash == bindparam("token_hash"), admin_keys.c.revoked_at.is_(None)
)


async def authenticate_admin(db: Database, token: str) -> Actor | None:
    """The actor behind an admin token, or ``None`` (unknown, revoked, or not an admin token)."""
    if not looks_like_admin_token(token):
        return None
    row = await db.fetch_one(_ADMIN_AUTH, {"token_hash": ids.hash_token(token)})
    return None if row is None else Actor(row.id)
