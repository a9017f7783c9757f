"""Redemption codes on SQLite and PostgreSQL: minted once, redeemed once, never twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from grokimagine.domain.accounts.audit import CLI, audit_page
from grokimagine.domain.billing.credits import ledger_sum
from grokimagine.domain.billing.usage import account_balance, ledger_entries
from grokimagine.domain.clock import utcnow
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.domain.purchases.redemption_codes import (
    CodeNotRedeemableError,
    list_batches,
    mint_codes,
    recall_batch,
    redeem_code,
)
from grokimagine.storage.schema import redemption_codes
from tests.helpers.customers import make_customer


async def _sums_match(services, account_id: str) -> None:
    async with services.db.read() as conn:
        assert await ledger_sum(conn, account_id) == await account_balance(services.db, account_id)


async def test_concurrent_redemptions_of_a_single_use_code_grant_once(services):
    batch = await mint_codes(services.db, CLI, count=1, credits=500)
    people = [await make_customer(services, credits=0) for _ in range(5)]

    results = await asyncio.gather(
        *(redeem_code(services.db, p.account_id, batch.codes[0]) for p in people),
        return_exceptions=True,
    )

    granted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, CodeNotRedeemableError)]
    assert len(granted) == 1 and len(refused) == 4
    assert granted[0].credits == 500
    balances = [await account_balance(services.db, p.account_id) for p in people]
    assert sorted(balances) == [0, 0, 0, 0, 500]
    for person in people:
        await _sums_match(services, person.account_id)


async def test_a_multi_use_code_grants_each_account_once_up_to_its_uses(services):
    batch = await mint_codes(services.db, CLI, count=2, credits=40, max_uses=3, note="launch")
    people = [await make_customer(services, credits=0) for _ in range(4)]
    code = batch.codes[0]

    first = await redeem_code(services.db, people[0].account_id, code.lower().replace("-", "- "))
    with pytest.raises(CodeNotRedeemableError, match="already redeemed"):
        await redeem_code(services.db, people[0].account_id, code)
    await redeem_code(services.db, people[1].account_id, code)
    await redeem_code(services.db, people[2].account_id, code)
    with pytest.raises(CodeNotRedeemableError, match="used up"):
        await redeem_code(services.db, people[3].account_id, code)

    assert first.credits == 40 and first.balance == 40
    rows = [e for e in await ledger_entries(services.db, people[0].account_id)]
    assert [(e["reason"], e["delta"]) for e in rows] == [("redeem", 40)]
    assert batch.batch in rows[0]["note"] and code not in rows[0]["note"]
    [listed] = await list_batches(services.db)
    assert (listed["codes"], listed["uses"], listed["max_uses"]) == (2, 3, 6)
    assert listed["note"] == "launch"
    audit = await audit_page(services.db, limit=5, action="codes.mint")
    assert audit.entries[0]["target_id"] == batch.batch
    assert code not in str(audit.entries[0])  # only hashes are kept


async def test_unknown_expired_and_malformed_codes_are_refused(services):
    person = await make_customer(services, credits=0)
    soon = await mint_codes(
        services.db, CLI, count=1, credits=10, expires_at=utcnow() + timedelta(hours=1)
    )
    for code, why in (
        ("GI-AAAAA-BBBBB-CCCCC-DDDDD", "no such code"),
        ("hello", "not a redemption code"),
        ("", "not a redemption code"),
    ):
        with pytest.raises(CodeNotRedeemableError, match=why):
            await redeem_code(services.db, person.account_id, code)
    with pytest.raises(InvalidRequestError):
        await mint_codes(services.db, CLI, count=1, credits=10, expires_at=utcnow())
    with pytest.raises(InvalidRequestError):
        await mint_codes(services.db, CLI, count=0, credits=10)
    async with services.db.write() as conn:  # an hour later, as far as the code knows
        await conn.execute(
            update(redemption_codes)
            .where(redemption_codes.c.batch == soon.batch)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    with pytest.raises(CodeNotRedeemableError, match="expired"):
        await redeem_code(services.db, person.account_id, soon.codes[0])
    assert await account_balance(services.db, person.account_id) == 0


async def test_only_the_batchs_own_seed_recalls_its_codes(services):
    batch = await mint_codes(services.db, CLI, count=3, credits=25, max_uses=2)
    other = await mint_codes(services.db, CLI, count=3, credits=25)

    recalled = await recall_batch(services.db, batch.batch, batch.seed)

    assert recalled == batch
    assert len(set(batch.codes)) == 3
    assert await recall_batch(services.db, batch.batch, other.seed) is None
    assert await recall_batch(services.db, other.batch, batch.seed) is None
    assert await recall_batch(services.db, "batch_unknown", batch.seed) is None
    for forged in ("", "not base64!", "é", batch.seed[:-4]):
        assert await recall_batch(services.db, batch.batch, forged) is None
