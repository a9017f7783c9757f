"""Credits: an append-only ledger whose sum is the balance, cached on the account row.

Every function here runs inside a caller's write transaction, so that a charge or refund and the
task change that causes it commit together or not at all.
"""

from __future__ import annotations

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from grokimagine.domain.clock import utcnow
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.ops.metrics import CREDITS
from grokimagine.storage.schema import accounts, ledger

# The most one grant or deduction moves, on every surface (admin API, /admin form, CLI).
MAX_CREDITS_PER_CHANGE = 10**12
# The most a grant may raise a balance to: far inside the BIGINT column (9.2e18) on both
# databases, so refunds on top of it never overflow and the ledger's SUM stays an integer.
MAX_BALANCE = 10**15


class InsufficientCreditsError(Exception):
    """The balance is below the price."""


class BalanceLimitError(Exception):
    """A grant would take the balance past :data:`MAX_BALANCE`."""

    def __init__(self, balance: int) -> None:
        super().__init__(f"the balance is {balance}")
        self.balance = balance


class BalanceTooLowError(Exception):
    """A deduction would take the balance below zero."""

    def __init__(self, balance: int) -> None:
        super().__init__(f"the balance is {balance}")
        self.balance = balance


async def grant_credits(
    conn: AsyncConnection,
    account_id: str,
    amount: int,
    note: str = "",
    *,
    admin_key_id: str | None = None,
    reason: str = "grant",
) -> int:
    """Add ``amount`` credits (1 to :data:`MAX_CREDITS_PER_CHANGE`) to an account; the new
    balance. Raises :class:`BalanceLimitError` past :data:`MAX_BALANCE`."""
    _check_change(amount)
    # Conditional, like a deduction: racing grants cannot pass the ceiling together.
    result = await conn.execute(
        update(accounts)
        .where(accounts.c.id == account_id, accounts.c.balance <= MAX_BALANCE - amount)
        .values(balance=accounts.c.balance + amount)
        .returning(accounts.c.balance)
    )
    balance = result.scalar_one_or_none()
    if balance is None:
        raise BalanceLimitError(await _balance_of(conn, account_id))
    await _write_row(conn, account_id, amount, reason, None, note, admin_key_id)
    return int(balance)


async def deduct_credits(
    conn: AsyncConnection,
    account_id: str,
    amount: int,
    note: str,
    *,
    admin_key_id: str | None = None,
) -> int:
    """Take ``amount`` credits (positive) from an account, never below zero; the new balance.

    Raises :class:`BalanceTooLowError` (with the balance) when the balance is below ``amount``;
    the conditional UPDATE is what holds under racing deductions and submissions, as in
    :func:`reserve_credits`.
    """
    _check_change(amount)
    result = await conn.execute(
        update(accounts)
        .where(accounts.c.id == account_id, accounts.c.balance >= amount)
        .values(balance=accounts.c.balance - amount)
        .returning(accounts.c.balance)
    )
    balance = result.scalar_one_or_none()
    if balance is None:
        raise BalanceTooLowError(await _balance_of(conn, account_id))
    await _write_row(conn, account_id, -amount, "deduct", None, note, admin_key_id)
    return int(balance)


def _check_change(amount: int) -> None:
    """Refuse a grant or a deduction of no credits, or of more than one change may move."""
    if not 0 < amount <= MAX_CREDITS_PER_CHANGE:
        raise InvalidRequestError(
            f"The amount parameter is not valid: from 1 to {MAX_CREDITS_PER_CHANGE} credits"
        )


async def _balance_of(conn: AsyncConnection, account_id: str) -> int:
    """The balance a conditional change found (when it changed nothing); ``LookupError`` when
    there is no such account."""
    found = await conn.execute(select(accounts.c.balance).where(accounts.c.id == account_id))
    current = found.scalar_one_or_none()
    if current is None:
        raise LookupError(f"no account {account_id}")
    return int(current)


# Built once: every submission runs these (building a statement costs more than running it).
_RESERVE = (
    update(accounts)
    .where(accounts.c.id == bindparam("account"), accounts.c.balance >= bindparam("amount"))
    .values(balance=accounts.c.balance - bindparam("amount"))
    .returning(accounts.c.balance)
)
_INSERT_LEDGER = insert(ledger)


async def reserve_credits(conn: AsyncConnection, account_id: str, amount: int, task_id: str) -> int:
    """Take ``amount`` credits for a task, or raise :class:`InsufficientCreditsError`.

    The conditional UPDATE is what keeps the balance from going below zero: of two transactions
    racing for the last credits, the second sees the first's decrement (PostgreSQL re-checks the
    WHERE clause on the updated row; SQLite runs writers one at a time).
    """
    result = await conn.execute(_RESERVE, {"account": account_id, "amount": amount})
    balance = result.scalar_one_or_none()
    if balance is None:
        raise InsufficientCreditsError(account_id)
    await conn.execute(
        _INSERT_LEDGER,
        {
            "account_id": account_id,
            "delta": -amount,
            "reason": "reserve",
            "task_id": task_id,
            "note": "",
            "created_at": utcnow(),
        },
    )
    # Counted here, inside the transaction: off only if the task's insert then fails.
    CREDITS.labels("reserved").inc(amount)
    return int(balance)


async def refund_credits(
    conn: AsyncConnection, account_id: str, amount: int, task_id: str, note: str = ""
) -> int:
    """Give back ``amount`` credits reserved for a task; returns the new balance.

    Callers refund only after a compare-and-set on the task's status succeeded, which is what
    makes a refund happen at most once per task.
    """
    balance = await _post(conn, account_id, amount, "refund", task_id, note[:200])
    CREDITS.labels("refunded").inc(amount)
    return balance


async def take_back_credits(conn: AsyncConnection, account_id: str, amount: int, note: str) -> int:
    """Take ``amount`` credits back (a refund or a lost dispute of a payment); the new balance.

    Unlike a deduction this may take the balance below zero: the credits were spent already, and
    a negative balance blocks new tasks (every reservation needs ``balance >= price``) until it
    is settled. Nothing else is touched.
    """
    if amount <= 0:
        raise ValueError("a take-back must be positive")
    return await _post(conn, account_id, -amount, "takeback", None, note[:200])


async def ledger_sum(conn: AsyncConnection, account_id: str) -> int:
    """The sum of an account's ledger (equals its balance)."""
    total = await conn.execute(
        select(func.coalesce(func.sum(ledger.c.delta), 0)).where(ledger.c.account_id == account_id)
    )
    return int(total.scalar_one())


async def _post(
    conn: AsyncConnection,
    account_id: str,
    amount: int,
    reason: str,
    task_id: str | None,
    note: str,
    admin_key_id: str | None = None,
) -> int:
    result = await conn.execute(
        update(accounts)
        .where(accounts.c.id == account_id)
        .values(balance=accounts.c.balance + amount)
        .returning(accounts.c.balance)
    )
    balance = result.scalar_one_or_none()
    if balance is None:
        raise LookupError(f"no account {account_id}")
    await _write_row(conn, account_id, amount, reason, task_id, note, admin_key_id)
    return int(balance)


async def _write_row(
    conn: AsyncConnection,
    account_id: str,
    amount: int,
    reason: str,
    task_id: str | None,
    note: str,
    admin_key_id: str | None,
) -> None:
    await conn.execute(
        insert(ledger).values(
            account_id=account_id,
            delta=amount,
            reason=reason,
            task_id=task_id,
            note=note,
            admin_key_id=admin_key_id,
            created_at=utcnow(),
        )
    )
