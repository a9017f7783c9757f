"""Single-use email links in the domain: hashed at rest, spent once under races, expiring."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from grokimagine.domain.accounts import accounts, sessions, tokens, users
from grokimagine.domain.accounts.tokens import LinkTokenError
from grokimagine.services import Services
from grokimagine.storage.schema import link_tokens
from grokimagine.storage.schema import sessions as sessions_table

PASSWORD = "an old password"


async def _user(services: Services) -> users.User:
    account = await accounts.create_account(services.db, plan="free")
    return await users.create_user(
        services.db, email="link@example.com", password=PASSWORD, account_id=account.id
    )


async def _issue(services: Services, user_id: str, purpose: str = "password_reset", **options):
    async with services.db.write() as conn:
        return await tokens.issue_link_token(conn, user_id=user_id, purpose=purpose, **options)


async def test_only_the_hash_of_the_token_is_stored(services: Services) -> None:
    user = await _user(services)
    link = await _issue(services, user.id, created_by="user_op")
    rows = await services.db.fetch_all(select(link_tokens))
    assert len(rows) == 1
    assert rows[0].id == tokens.token_id(link.token) != link.token
    assert link.token not in str(tuple(rows[0]))
    assert rows[0].created_by == "user_op"
    assert link.expires_at - rows[0].created_at == tokens.DEFAULT_LIFETIMES["password_reset"]


async def test_a_reset_link_sets_the_password_once_and_ends_every_session(
    services: Services,
) -> None:
    user = await _user(services)
    for _ in range(2):
        await sessions.start_session(
            services.db, user.id, address="1.2.3.4", lifetime=timedelta(hours=1)
        )
    link = await _issue(services, user.id)
    target = await tokens.find_link(services.db, link.token, tokens.PASSWORD_PURPOSES)
    assert target is not None and target.email == "link@example.com"

    assert await tokens.set_password_from_link(services.db, link.token, "a new password") == user.id

    assert await users.verify_credentials(services.db, user.email, "a new password")
    assert await users.verify_credentials(services.db, user.email, PASSWORD) is None
    left = await services.db.fetch_all(
        select(sessions_table).where(sessions_table.c.user_id == user.id)
    )
    assert left == []
    with pytest.raises(LinkTokenError):
        await tokens.set_password_from_link(services.db, link.token, "a third password")
    assert await tokens.find_link(services.db, link.token, tokens.PASSWORD_PURPOSES) is None


async def test_twenty_concurrent_clicks_spend_a_link_exactly_once(services: Services) -> None:
    user = await _user(services)
    link = await _issue(services, user.id)
    results = await asyncio.gather(
        *[
            tokens.set_password_from_link(services.db, link.token, f"new password {n:02d}")
            for n in range(20)
        ],
        return_exceptions=True,
    )
    winners = [n for n, result in enumerate(results) if result == user.id]
    assert len(winners) == 1
    assert all(isinstance(r, LinkTokenError) for n, r in enumerate(results) if n != winners[0])
    assert await users.verify_credentials(services.db, user.email, f"new password {winners[0]:02d}")


async def test_an_expired_link_is_refused(services: Services) -> None:
    user = await _user(services)
    link = await _issue(services, user.id, lifetime=timedelta(seconds=-1))
    assert await tokens.find_link(services.db, link.token, tokens.PASSWORD_PURPOSES) is None
    with pytest.raises(LinkTokenError):
        await tokens.set_password_from_link(services.db, link.token, "a new password")
    assert await users.verify_credentials(services.db, user.email, PASSWORD)


async def test_a_newer_link_replaces_the_older_one(services: Services) -> None:
    user = await _user(services)
    old = await _issue(services, user.id)
    new = await _issue(services, user.id)
    with pytest.raises(LinkTokenError):
        await tokens.set_password_from_link(services.db, old.token, "a new password")
    assert await tokens.set_password_from_link(services.db, new.token, "a new password")


async def test_a_link_of_another_purpose_does_not_set_a_password(services: Services) -> None:
    user = await _user(services)
    verify = await _issue(services, user.id, purpose="email_verify")
    with pytest.raises(LinkTokenError):
        await tokens.set_password_from_link(services.db, verify.token, "a new password")
    # Not spent by the refusal: the page that verifies emails still takes it.
    async with services.db.write() as conn:
        assert await tokens.spend_link_token(conn, verify.token, {"email_verify"}) == (
            user.id,
            "email_verify",
        )


async def test_a_weak_password_leaves_the_link_usable(services: Services) -> None:
    user = await _user(services)
    link = await _issue(services, user.id)
    with pytest.raises(users.UserError, match="at least 10"):
        await tokens.set_password_from_link(services.db, link.token, "short")
    assert await tokens.set_password_from_link(services.db, link.token, "long enough now")


@pytest.mark.parametrize("token", ["", None, "x" * 101, "not-a-token"])
async def test_garbage_tokens_are_refused(services: Services, token: str | None) -> None:
    assert await tokens.find_link(services.db, token, tokens.PASSWORD_PURPOSES) is None
    with pytest.raises(LinkTokenError):
        await tokens.set_password_from_link(services.db, token, "a new password")


async def test_an_unknown_purpose_is_a_programming_error(services: Services) -> None:
    user = await _user(services)
    with pytest.raises(ValueError, match="purpose"):
        await _issue(services, user.id, purpose="login")
