"""The low-balance email (issue 25): a customer sets a threshold; when the balance falls below
it, the account's users get one email, and the alert re-arms once the balance is back at or
above it.

Workers look for due alerts at each check-in. An alert is claimed by a conditional UPDATE
(``low_balance_alerted_at IS NULL``), so with several workers exactly one sends it; if the email
cannot go out, the claim is released and a later check-in tries again.
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update

from grokimagine.domain.clock import utcnow
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.net.mailer import EmailError, send_email
from grokimagine.settings import SmtpSettings
from grokimagine.storage.db import Database
from grokimagine.storage.schema import accounts, users

log = logging.getLogger(__name__)

MAX_THRESHOLD = 10**12


async def set_threshold(db: Database, account_id: str, threshold: int | None) -> None:
    """Email below ``threshold`` credits (``None``: never); the alert is armed afresh."""
    if threshold is not None and not 1 <= threshold <= MAX_THRESHOLD:
        raise InvalidRequestError("the threshold is a whole number of credits, at least 1")
    async with db.write() as conn:
        await conn.execute(
            update(accounts)
            .where(accounts.c.id == account_id)
            .values(low_balance_threshold=threshold, low_balance_alerted_at=None)
        )


async def threshold_of(db: Database, account_id: str) -> int | None:
    """The account's threshold, if it set one."""
    row = await db.fetch_one(
        select(accounts.c.low_balance_threshold).where(accounts.c.id == account_id)
    )
    return None if row is None else row.low_balance_threshold


async def send_due_alerts(db: Database, smtp: SmtpSettings) -> int:
    """Re-arm the alerts of balances back at or above their threshold, then email each account
    newly below its threshold; returns how many accounts were emailed."""
    threshold = accounts.c.low_balance_threshold
    alerted = accounts.c.low_balance_alerted_at
    async with db.write() as conn:
        await conn.execute(
            update(accounts)
            .where(alerted.is_not(None), threshold.is_(None) | (accounts.c.balance >= threshold))
            .values(low_balance_alerted_at=None)
        )
    due = await db.fetch_all(
        select(accounts.c.id).where(
            threshold.is_not(None), alerted.is_(None), accounts.c.balance < threshold
        )
    )
    sent = 0
    for row in due:
        if await _alert(db, smtp, row.id):
            sent += 1
    return sent


async def _alert(db: Database, smtp: SmtpSettings, account_id: str) -> bool:
    threshold = accounts.c.low_balance_threshold
    async with db.write() as conn:
        claimed = await conn.execute(
            update(accounts)
            .where(
                accounts.c.id == account_id,
                accounts.c.low_balance_alerted_at.is_(None),
                threshold.is_not(None),
                accounts.c.balance < threshold,
            )
            .values(low_balance_alerted_at=utcnow())
            .returning(accounts.c.balance, threshold, accounts.c.name)
        )
        row = claimed.first()
    if row is None:  # another worker took it, or the balance moved
        return False
    people = await db.fetch_all(
        select(users.c.email).where(users.c.account_id == account_id, users.c.disabled_at.is_(None))
    )
    try:
        for person in people:
            await send_email(
                smtp,
                to=person.email,
                subject=f"Your balance is below {row.low_balance_threshold:,} credits",
                text=(
                    f"The balance of your video studio account is {row.balance:,} credits, below "
                    f"the {row.low_balance_threshold:,} you asked to hear about.\n\n"
                    "New videos are refused once it cannot pay for them. Add credits, or change "
                    "this alert, on the Billing page of the console.\n"
                ),
            )
    except EmailError:
        log.exception("the low-balance email of account %s could not be sent", account_id)
        async with db.write() as conn:
            await conn.execute(
                update(accounts)
                .where(accounts.c.id == account_id)
                .values(low_balance_alerted_at=None)
            )
        return False
    return True
