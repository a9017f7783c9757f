"""Two-factor sign-in in the domain: setup confirmed by a first code, each TOTP code and each
recovery code accepted once (also when two sign-ins race with one code)."""

from __future__ import annotations

import asyncio

import pyotp
import pytest

from grokimagine.domain.accounts import two_factor, users
from grokimagine.domain.clock import utcnow
from grokimagine.services import Services


async def _user(services: Services) -> users.User:
    return await users.create_user(
        services.db, email="totp@example.com", password="a long enough password"
    )


async def test_setup_needs_a_right_first_code_then_gives_ten_recovery_codes(services: Services):
    user = await _user(services)
    enrolment = await two_factor.start_enrolment(services.db, user.id, user.email)
    assert enrolment.uri.startswith("otpauth://totp/grokimagine:totp%40example.com?secret=")
    assert not await two_factor.is_enabled(services.db, user.id)
    with pytest.raises(two_factor.TwoFactorError, match="not right"):
        await two_factor.confirm_enrolment(services.db, user.id, "000000")
    code = pyotp.TOTP(enrolment.secret).now()
    codes = await two_factor.confirm_enrolment(services.db, user.id, code)
    assert len(codes) == len(set(codes)) == two_factor.RECOVERY_CODES
    assert await two_factor.is_enabled(services.db, user.id)
    assert await two_factor.recovery_codes_left(services.db, user.id) == 10
    # The code that confirmed the setup does not also sign in.
    assert not await two_factor.check_second_factor(services.db, user.id, code)
    with pytest.raises(two_factor.TwoFactorError, match="already on"):
        await two_factor.start_enrolment(services.db, user.id, user.email)


async def _enabled(services: Services) -> tuple[users.User, str, list[str]]:
    user = await _user(services)
    enrolment = await two_factor.start_enrolment(services.db, user.id, user.email)
    totp = pyotp.TOTP(enrolment.secret)
    # Confirmed with the previous step's code, so the current one is still unused.
    previous = totp.at(utcnow().timestamp() - 30)
    codes = await two_factor.confirm_enrolment(services.db, user.id, previous)
    return user, enrolment.secret, codes


async def test_a_totp_code_and_a_recovery_code_each_work_once(services: Services):
    user, secret, codes = await _enabled(services)
    now = pyotp.TOTP(secret).now()
    assert await two_factor.check_second_factor(services.db, user.id, now)
    assert not await two_factor.check_second_factor(services.db, user.id, now)  # replayed
    assert not await two_factor.check_second_factor(services.db, user.id, "123456")
    spoken = codes[3].upper().replace("-", " ")  # typed in capitals with a space: still it
    assert await two_factor.check_second_factor(services.db, user.id, spoken)
    assert not await two_factor.check_second_factor(services.db, user.id, codes[3])
    assert await two_factor.recovery_codes_left(services.db, user.id) == 9


async def test_two_sign_ins_racing_with_one_code_let_one_in(services: Services):
    user, secret, codes = await _enabled(services)
    now = pyotp.TOTP(secret).now()
    results = await asyncio.gather(
        *(two_factor.check_second_factor(services.db, user.id, now) for _ in range(5))
    )
    assert sorted(results) == [False] * 4 + [True]
    recovered = await asyncio.gather(
        *(two_factor.check_second_factor(services.db, user.id, codes[0]) for _ in range(5))
    )
    assert sorted(recovered) == [False] * 4 + [True]


async def test_turning_it_off_needs_a_code(services: Services):
    user, _secret, codes = await _enabled(services)
    with pytest.raises(two_factor.TwoFactorError):
        await two_factor.turn_off(services.db, user.id, "999999")
    await two_factor.turn_off(services.db, user.id, codes[0])
    assert not await two_factor.is_enabled(services.db, user.id)
    assert await two_factor.recovery_codes_left(services.db, user.id) == 0
    assert not await two_factor.check_second_factor(services.db, user.id, codes[1])
