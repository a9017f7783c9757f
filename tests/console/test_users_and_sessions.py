"""Console users and sessions in the domain, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from argon2 import PasswordHasher, Type
from sqlalchemy import select

from grokimagine.domain.accounts import accounts, sessions, users
from grokimagine.services import Services
from grokimagine.storage.schema import sessions as sessions_table
from grokimagine.storage.schema import users as users_table


async def test_a_user_is_stored_with_an_argon2_hash_never_the_password(services: Services):
    account = await accounts.create_account(services.db, plan="free")
    user = await users.create_user(
        services.db,
        email="  Ada@Example.COM ",
        password="correct horse battery",
        account_id=account.id,
    )
    assert user.email == "ada@example.com"
    row = await services.db.fetch_one(select(users_table).where(users_table.c.id == user.id))
    assert row.password_hash.startswith("$argon2id$")
    assert "correct horse battery" not in row.password_hash
    assert await users.verify_credentials(services.db, "ADA@example.com", "correct horse battery")
    assert await users.verify_credentials(services.db, "ada@example.com", "wrong password!") is None
    assert await users.verify_credentials(services.db, "nobody@example.com", "x" * 12) is None


def test_the_service_hashes_passwords_at_a_real_cost(quick_password_hashes: PasswordHasher):
    # The suite hashes at the smallest cost (tests/conftest.py); the service itself hashes with
    # argon2id at no less than OWASP's minimum (19 MiB, two passes).
    own = quick_password_hashes
    assert own.type is Type.ID
    assert own.memory_cost >= 19 * 1024 and own.time_cost >= 2
    assert own.hash("correct horse battery").startswith("$argon2id$")


async def test_without_an_account_a_user_gets_a_new_one_with_the_starter_grant(services: Services):
    user = await users.create_user(
        services.db, email="new@example.com", password="a long password", starter_credits=120
    )
    account = await accounts.get_account(services.db, user.account_id)
    assert account.balance == 120
    assert account.plan == "free"


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-email", "a long password", "valid email"),
        ("a@b.co", "short", "at least 10"),
        ("<script>@x.com", "a long password", "valid email"),
    ],
)
async def test_bad_emails_and_passwords_are_refused(services: Services, email, password, message):
    with pytest.raises(users.UserError, match=message):
        await users.create_user(services.db, email=email, password=password)
    assert await users.count_users(services.db) == 0


@pytest.mark.both_databases
async def test_one_email_one_user_even_when_two_sign_ups_race(services: Services):
    results = await asyncio.gather(
        *[
            users.create_user(services.db, email="race@example.com", password="a long password")
            for _ in range(4)
        ],
        return_exceptions=True,
    )
    made = [result for result in results if isinstance(result, users.User)]
    refused = [result for result in results if isinstance(result, users.EmailTakenError)]
    assert len(made) == 1 and len(refused) == 3
    assert await users.count_users(services.db) == 1
    # The refused sign-ups left no account behind (account and user commit together).
    assert len(await accounts.list_accounts(services.db)) == 1


@pytest.mark.both_databases
async def test_an_unknown_account_is_refused(services: Services):
    with pytest.raises(accounts.AccountNotFoundError):
        await users.create_user(
            services.db, email="x@example.com", password="a long password", account_id="acct_nope"
        )


@pytest.mark.both_databases
async def test_sessions_store_only_a_hash_and_end_on_sign_out(services: Services):
    user = await users.create_user(services.db, email="s@example.com", password="a long password")
    new = await sessions.start_session(
        services.db, user.id, address="192.0.2.1", lifetime=timedelta(hours=1)
    )
    rows = await services.db.fetch_all(select(sessions_table))
    assert [row.id for row in rows] == [sessions.session_id_of(new.token)]
    assert new.token not in {row.id for row in rows}
    found = await sessions.session_user(services.db, new.token)
    assert found is not None and found.user_id == user.id and found.account_id == user.account_id
    assert sessions.csrf_matches(found, found.csrf_token)
    assert not sessions.csrf_matches(found, None)
    assert not sessions.csrf_matches(found, found.csrf_token[:-1] + "x")
    await sessions.end_session(services.db, found.session_id)
    assert await sessions.session_user(services.db, new.token) is None


async def test_an_expired_session_signs_no_one_in(services: Services):
    user = await users.create_user(services.db, email="e@example.com", password="a long password")
    new = await sessions.start_session(
        services.db, user.id, address="", lifetime=timedelta(seconds=-1)
    )
    assert await sessions.session_user(services.db, new.token) is None
    assert await sessions.session_user(services.db, "forged") is None
    assert await sessions.session_user(services.db, None) is None


@pytest.mark.both_databases
async def test_a_password_change_ends_every_other_session(services: Services):
    user = await users.create_user(services.db, email="p@example.com", password="a long password")
    here, elsewhere = [
        await sessions.start_session(services.db, user.id, address="", lifetime=timedelta(hours=1))
        for _ in range(2)
    ]
    with pytest.raises(users.WrongPasswordError):
        await users.change_password(
            services.db,
            user.id,
            current="not it at all",
            new="another long one",
            keep_session=here.id,
        )
    assert await sessions.session_user(services.db, elsewhere.token) is not None
    await users.change_password(
        services.db,
        user.id,
        current="a long password",
        new="another long one",
        keep_session=here.id,
    )
    assert await sessions.session_user(services.db, here.token) is not None
    assert await sessions.session_user(services.db, elsewhere.token) is None
    assert await users.verify_credentials(services.db, "p@example.com", "another long one")
    assert await users.verify_credentials(services.db, "p@example.com", "a long password") is None
