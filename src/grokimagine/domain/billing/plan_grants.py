"""Monthly credit grants of plans: once per account and calendar month (UTC).

Workers run this as they check in; the ``monthly_grants`` primary key (account, month), written
in the grant's transaction, makes the grant happen once however many workers race for it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, insert, select
from sqlalchemy.exc import IntegrityError

from grokimagine.domain.billing.credits import BalanceLimitError, grant_credits
from grokimagine.domain.billing.plans import PlanCatalog
from grokimagine.domain.clock import utcnow
from grokimagine.storage.db import Database
from grokimagine.storage.schema import accounts, monthly_grants, subscriptions


def period_of(moment: datetime) -> str:
    """The month a grant belongs to: ``YYYY-MM``."""
    return moment.strftime("%Y-%m")


async def grant_monthly_credits(
    db: Database, plans: PlanCatalog, now: datetime | None = None
) -> int:
    """Grant each enabled account on a plan with monthly credits its grant for this month, if
    not yet made; returns how many grants this call made."""
    period = period_of(now or utcnow())
    made = 0
    for plan in plans:
        if plan.monthly_credits <= 0:
            continue
        due = await db.fetch_all(
            select(accounts.c.id)
            .outerjoin(
                monthly_grants,
                and_(
                    monthly_grants.c.account_id == accounts.c.id,
                    monthly_grants.c.period == period,
                ),
            )
            .where(
                accounts.c.plan == plan.name,
                accounts.c.disabled_at.is_(None),
                monthly_grants.c.account_id.is_(None),
                # A paid subscription's credits come with each paid invoice instead.
                accounts.c.id.not_in(
                    select(subscriptions.c.account_id).where(subscriptions.c.status == "active")
                ),
            )
        )
        for (account_id,) in due:
            try:
                async with db.write() as conn:
                    await conn.execute(
                        insert(monthly_grants).values(
                            account_id=account_id,
                            period=period,
                            credits=plan.monthly_credits,
                            created_at=utcnow(),
                        )
                    )
                    await grant_credits(
                        conn,
                        account_id,
                        plan.monthly_credits,
                        note=f"{plan.name} plan, {period}",
                        reason="monthly",
                    )
            except IntegrityError:
                continue  # another worker granted it first
            except BalanceLimitError:
                continue  # at the ceiling already: nothing more to add this month
            made += 1
    return made
