"""The low-balance email (issue 25): one email when the balance falls below the customer's
threshold, none again until it is back above; several workers send it once; a refused email is
tried again later."""

from __future__ import annotations

import asyncio

import pytest

from grokimagine.domain.accounts import accounts, users
from grokimagine.domain.billing import credits, low_balance
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.services import Services
from grokimagine.settings import SmtpSettings
from tests.helpers.smtp import smtp_server, text_of


async def _account(services: Services) -> str:
    account = await accounts.create_account(services.db, plan="free", credits_granted=100)
    await users.create_user(
        services.db, email="ops@films.test", password="a long password", account_id=account.id
    )
    return account.id


async def _move(services: Services, account_id: str, amount: int) -> None:
    async with services.db.write() as conn:
        if amount > 0:
            await credits.grant_credits(conn, account_id, amount, "top up")
        else:
            await credits.deduct_credits(conn, account_id, -amount, "spent")


async def test_one_email_below_the_threshold_then_none_until_it_is_back_above(
    services: Services,
):
    account_id = await _account(services)
    await low_balance.set_threshold(services.db, account_id, 50)
    with smtp_server() as server:
        smtp = SmtpSettings(host=server.host, port=server.port, security="none")
        assert await low_balance.send_due_alerts(services.db, smtp) == 0  # 100 >= 50
        await _move(services, account_id, -60)
        # Several workers at their check-in: one email.
        sent = await asyncio.gather(
            *(low_balance.send_due_alerts(services.db, smtp) for _ in range(3))
        )
        assert sum(sent) == 1
        (message,) = server.inbox.wait_for(1)
        assert message["To"] == "ops@films.test"
        assert message["Subject"] == "Your balance is below 50 credits"
        assert "is 40 credits" in text_of(message)
        await _move(services, account_id, -10)
        assert await low_balance.send_due_alerts(services.db, smtp) == 0  # still below: quiet
        await _move(services, account_id, 100)  # 130: re-armed
        assert await low_balance.send_due_alerts(services.db, smtp) == 0
        await _move(services, account_id, -90)  # 40 again
        assert await low_balance.send_due_alerts(services.db, smtp) == 1
        assert len(server.inbox.wait_for(2)) == 2
    assert await low_balance.threshold_of(services.db, account_id) == 50


async def test_an_email_that_cannot_go_out_is_tried_again(services: Services):
    account_id = await _account(services)
    await low_balance.set_threshold(services.db, account_id, 500)
    with smtp_server() as server:
        port = server.port
    closed = SmtpSettings(host="127.0.0.1", port=port, security="none", timeout=5)
    assert await low_balance.send_due_alerts(services.db, closed) == 0  # refused: released
    with smtp_server() as server:
        smtp = SmtpSettings(host=server.host, port=server.port, security="none")
        assert await low_balance.send_due_alerts(services.db, smtp) == 1
        server.inbox.wait_for(1)


async def test_no_threshold_no_email_and_bad_thresholds_are_refused(services: Services):
    account_id = await _account(services)
    await _move(services, account_id, -99)
    with smtp_server() as server:
        smtp = SmtpSettings(host=server.host, port=server.port, security="none")
        assert await low_balance.send_due_alerts(services.db, smtp) == 0
    for bad in (0, -5):
        with pytest.raises(InvalidRequestError):
            await low_balance.set_threshold(services.db, account_id, bad)
