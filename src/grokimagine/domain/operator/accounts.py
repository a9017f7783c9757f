"""What operators do to accounts: find them, change their plan and spicy permission, disable
and enable them, grant and deduct credits. Every change is audited in its own transaction.

The admin API and the CLI call these same functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update

from grokimagine.domain.accounts.accounts import (
    Account,
    AccountNotFoundError,
    _account,
    revoke_key,
)
from grokimagine.domain.accounts.audit import Actor, record_action
from grokimagine.domain.billing.credits import (
    MAX_CREDITS_PER_CHANGE,
    deduct_credits,
    grant_credits,
)
from grokimagine.domain.billing.plans import PlanCatalog
from grokimagine.domain.clock import utcnow
from grokimagine.domain.cursors import InvalidCursorError, decode_cursor, encode_cursor
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.storage.db import Database, DbConnection
from grokimagine.storage.schema import accounts

MAX_REASON = 200


@dataclass(frozen=True)
class AccountPage:
    """Accounts, newest first, and the cursor of the next page."""

    accounts: list[Account]
    next_cursor: str | None


async def search_accounts(
    db: Database,
    *,
    limit: int = 50,
    cursor: str | None = None,
    query: str | None = None,
    plan: str | None = None,
    disabled: bool | None = None,
) -> AccountPage:
    """Accounts newest first; ``query`` matches the id exactly or the name in part.

    Raises :class:`~grokimagine.domain.cursors.InvalidCursorError` for a forged cursor.
    """
    statement = select(accounts)
    if query:
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        statement = statement.where(
            or_(accounts.c.id == query, accounts.c.name.ilike(pattern, escape="\\"))
        )
    if plan is not None:
        statement = statement.where(accounts.c.plan == plan)
    if disabled is not None:
        statement = statement.where(
            accounts.c.disabled_at.is_not(None) if disabled else accounts.c.disabled_at.is_(None)
        )
    if cursor is not None:
        created, account_id = decode_cursor(cursor, str, str)
        statement = statement.where(
            or_(
                accounts.c.created_at < _moment(created),
                (accounts.c.created_at == _moment(created)) & (accounts.c.id < account_id),
            )
        )
    rows = await db.fetch_all(
        statement.order_by(accounts.c.created_at.desc(), accounts.c.id.desc()).limit(limit + 1)
    )
    found = [_account(row) for row in rows[:limit]]
    last = found[-1] if len(rows) > limit else None
    next_cursor = encode_cursor(last.created_at.isoformat(), last.id) if last else None
    return AccountPage(found, next_cursor)


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidCursorError(text) from exc
    if moment.tzinfo is None:
        raise InvalidCursorError(text)
    return moment


async def _locked(conn: DbConnection, account_id: str) -> Account:
    # FOR UPDATE: the before-state in the audit entry is the one this change replaced.
    row = (
        await conn.execute(select(accounts).where(accounts.c.id == account_id).with_for_update())
    ).first()
    if row is None:
        raise AccountNotFoundError(account_id)
    return _account(row)


async def _change(
    db: Database, actor: Actor, account_id: str, action: str, values: dict[str, Any]
) -> Account:
    async with db.write() as conn:
        before = await _locked(conn, account_id)
        await conn.execute(update(accounts).where(accounts.c.id == account_id).values(**values))
        after = await _locked(conn, account_id)
        await record_action(
            conn,
            actor,
            action,
            "account",
            account_id,
            before=_changed(before.describe(), after.describe(), before=True),
            after=_changed(before.describe(), after.describe(), before=False),
        )
    return after


def _changed(old: dict[str, Any], new: dict[str, Any], *, before: bool) -> dict[str, Any]:
    keys = [key for key in old if old[key] != new[key]]
    return {key: (old if before else new)[key] for key in keys}


async def change_plan(
    db: Database, actor: Actor, account_id: str, plan: str, plans: PlanCatalog
) -> Account:
    """Move an account to ``plan``.

    Raises :class:`~grokimagine.domain.billing.plans.UnknownPlanError` for a plan nobody defined.
    """
    plans.get(plan)
    return await _change(db, actor, account_id, "account.plan", {"plan": plan})


async def set_spicy(db: Database, actor: Actor, account_id: str, allowed: bool) -> Account:
    """Allow or forbid spicy mode for an account (its plan must allow it too)."""
    return await _change(db, actor, account_id, "account.spicy", {"allow_spicy": allowed})


async def rename_account(db: Database, actor: Actor, account_id: str, name: str) -> Account:
    """Change an account's name."""
    return await _change(db, actor, account_id, "account.rename", {"name": name[:200]})


async def disable_account(db: Database, actor: Actor, account_id: str) -> Account:
    """Disable an account: its keys answer 403 ``ACCOUNT_DISABLED`` and it cannot spend.

    Its tasks already queued still run (they are paid for); an operator cancels them if not.
    """
    async with db.write() as conn:
        current = await _locked(conn, account_id)
    if current.disabled_at is not None:
        return current
    return await _change(db, actor, account_id, "account.disable", {"disabled_at": utcnow()})


async def enable_account(db: Database, actor: Actor, account_id: str) -> Account:
    """Enable a disabled account again."""
    async with db.write() as conn:
        current = await _locked(conn, account_id)
    if current.disabled_at is None:
        return current
    return await _change(db, actor, account_id, "account.enable", {"disabled_at": None})


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise InvalidRequestError("The reason parameter is required")
    if len(reason) > MAX_REASON:
        raise InvalidRequestError(
            f"The reason parameter is not valid: at most {MAX_REASON} characters"
        )
    return reason


async def grant(db: Database, actor: Actor, account_id: str, amount: int, reason: str) -> int:
    """Add ``amount`` credits with a reason; a ledger row carries the admin key. New balance."""
    reason = _reason(reason)
    if not 0 < amount <= MAX_CREDITS_PER_CHANGE:
        raise InvalidRequestError(
            f"The amount parameter is not valid: from 1 to {MAX_CREDITS_PER_CHANGE} credits"
        )
    async with db.write() as conn:
        before = await _locked(conn, account_id)
        balance = await grant_credits(
            conn, account_id, amount, note=reason, admin_key_id=actor.admin_key_id
        )
        await record_action(
            conn,
            actor,
            "credits.grant",
            "account",
            account_id,
            before={"balance": before.balance},
            after={"balance": balance, "amount": amount},
            note=reason,
        )
    return balance


async def deduct(db: Database, actor: Actor, account_id: str, amount: int, reason: str) -> int:
    """Take ``amount`` credits with a reason, never below zero (raises
    :class:`~grokimagine.domain.billing.credits.BalanceTooLowError`). New balance."""
    reason = _reason(reason)
    if not 0 < amount <= MAX_CREDITS_PER_CHANGE:
        raise InvalidRequestError(
            f"The amount parameter is not valid: from 1 to {MAX_CREDITS_PER_CHANGE} credits"
        )
    async with db.write() as conn:
        # No lock taken first: the conditional UPDATE alone decides, as for a task's charge.
        found = await conn.execute(select(accounts.c.id).where(accounts.c.id == account_id))
        if found.first() is None:
            raise AccountNotFoundError(account_id)
        balance = await deduct_credits(
            conn, account_id, amount, reason, admin_key_id=actor.admin_key_id
        )
        await record_action(
            conn,
            actor,
            "credits.deduct",
            "account",
            account_id,
            before={"balance": balance + amount},
            after={"balance": balance, "amount": amount},
            note=reason,
        )
    return balance


class KeyNotFoundError(LookupError):
    """The account has no active key of that id (unknown, another account's, or revoked)."""

    def __init__(self, account_id: str, key_id: str) -> None:
        super().__init__(f"no active key {key_id} on account {account_id}")
        self.account_id = account_id
        self.key_id = key_id


async def revoke_account_key(db: Database, actor: Actor, account_id: str, key_id: str) -> None:
    """Revoke the active key ``key_id`` of ``account_id`` (audited); raises
    :class:`KeyNotFoundError` if it has none of that id."""
    if not await revoke_key(db, key_id, actor=actor, account_id=account_id):
        raise KeyNotFoundError(account_id, key_id)
