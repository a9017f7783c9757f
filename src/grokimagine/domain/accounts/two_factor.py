"""Two-factor sign-in: TOTP codes (RFC 6238, pyotp) and single-use recovery codes.

Turning it on is two steps: a secret is stored pending, and the first right code from the
person's app confirms it (then ten recovery codes are shown once). A TOTP code is accepted once:
the time step of the last accepted code is stored, and only a later step passes (a conditional
UPDATE, so two sign-ins racing with one code let one in). Recovery codes are stored as SHA-256
(random, high-entropy, like API keys) and spent by a conditional UPDATE.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp
from sqlalchemy import delete, insert, select, update

from grokimagine.domain.clock import utcnow
from grokimagine.storage.db import Database
from grokimagine.storage.schema import recovery_codes, users

ISSUER = "grokimagine"
RECOVERY_CODES = 10
# One step either side: a phone's clock a little off, or a code typed as it rolls over.
VALID_WINDOW = 1


class TwoFactorError(ValueError):
    """A code is wrong, used already, or two-factor sign-in is not in the state asked for."""


@dataclass(frozen=True)
class Enrolment:
    """A pending secret: shown as text and as an ``otpauth://`` URI for the person's app."""

    secret: str
    uri: str


def _code_hash(code: str) -> str:
    return hashlib.sha256(_normalized(code).encode()).hexdigest()


def _normalized(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def new_recovery_code() -> str:
    """A code like ``k3f9x-2mq7d``: 50 random bits, easy to type."""
    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
    raw = "".join(secrets.choice(alphabet) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code ``code`` is (within the window), or ``None``."""
    digits = _normalized(code)
    if not (digits.isdigit() and len(digits) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), digits):
            return step
    return None


async def is_enabled(db: Database, user_id: str) -> bool:
    """Whether the user signs in with a second factor."""
    row = await db.fetch_one(select(users.c.totp_enabled_at).where(users.c.id == user_id))
    return row is not None and row.totp_enabled_at is not None


async def start_enrolment(db: Database, user_id: str, email: str) -> Enrolment:
    """Store a new pending secret (replacing an unconfirmed one); refused if already on."""
    secret = pyotp.random_base32()
    async with db.write() as conn:
        changed = await conn.execute(
            update(users)
            .where(users.c.id == user_id, users.c.totp_enabled_at.is_(None))
            .values(totp_secret=secret, totp_last_step=None)
        )
    if changed.rowcount != 1:
        raise TwoFactorError("Two-factor sign-in is already on")
    uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)
    return Enrolment(secret=secret, uri=uri)


async def pending_enrolment(db: Database, user_id: str, email: str) -> Enrolment | None:
    """The secret waiting for its first code, if any."""
    row = await db.fetch_one(
        select(users.c.totp_secret, users.c.totp_enabled_at).where(users.c.id == user_id)
    )
    if row is None or row.totp_secret is None or row.totp_enabled_at is not None:
        return None
    uri = pyotp.TOTP(row.totp_secret).provisioning_uri(name=email, issuer_name=ISSUER)
    return Enrolment(secret=row.totp_secret, uri=uri)


async def confirm_enrolment(db: Database, user_id: str, code: str) -> list[str]:
    """Turn two-factor sign-in on with the first code of the pending secret; the recovery
    codes, shown this once. :class:`TwoFactorError` for a wrong code or no pending secret."""
    now = utcnow()
    codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
    async with db.write() as conn:
        row = (
            await conn.execute(
                select(users.c.totp_secret, users.c.totp_enabled_at).where(users.c.id == user_id)
            )
        ).first()
        if row is None or row.totp_secret is None or row.totp_enabled_at is not None:
            raise TwoFactorError("Start again: there is no pending two-factor setup")
        step = matching_step(row.totp_secret, code, now)
        if step is None:
            raise TwoFactorError("That code is not right. Type the 6 digits your app shows now.")
        changed = await conn.execute(
            update(users)
            .where(users.c.id == user_id, users.c.totp_enabled_at.is_(None))
            .values(totp_enabled_at=now, totp_last_step=step)
        )
        if changed.rowcount != 1:
            raise TwoFactorError("Two-factor sign-in is already on")
        await conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
        await conn.execute(
            insert(recovery_codes),
            [{"code_hash": _code_hash(c), "user_id": user_id, "created_at": now} for c in codes],
        )
    return codes


async def check_second_factor(db: Database, user_id: str, code: str) -> bool:
    """Whether ``code`` is a current TOTP code not used before, or an unused recovery code;
    either is spent by this call."""
    now = utcnow()
    row = await db.fetch_one(
        select(users.c.totp_secret, users.c.totp_enabled_at).where(users.c.id == user_id)
    )
    if row is None or row.totp_secret is None or row.totp_enabled_at is None:
        return False
    step = matching_step(row.totp_secret, code, now)
    async with db.write() as conn:
        if step is not None:
            last = users.c.totp_last_step
            spent = await conn.execute(
                update(users)
                .where(users.c.id == user_id, (last.is_(None)) | (last < step))
                .values(totp_last_step=step)
            )
            return spent.rowcount == 1
        spent = await conn.execute(
            update(recovery_codes)
            .where(
                recovery_codes.c.user_id == user_id,
                recovery_codes.c.code_hash == _code_hash(code),
                recovery_codes.c.used_at.is_(None),
            )
            .values(used_at=now)
        )
        return spent.rowcount == 1


async def recovery_codes_left(db: Database, user_id: str) -> int:
    """How many recovery codes the user has not used."""
    rows = await db.fetch_all(
        select(recovery_codes.c.code_hash).where(
            recovery_codes.c.user_id == user_id, recovery_codes.c.used_at.is_(None)
        )
    )
    return len(rows)


async def turn_off(db: Database, user_id: str, code: str) -> None:
    """Turn two-factor sign-in off, given a current code or a recovery code."""
    if not await check_second_factor(db, user_id, code):
        raise TwoFactorError("That code is not right")
    async with db.write() as conn:
        await conn.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(totp_secret=None, totp_enabled_at=None, totp_last_step=None)
        )
        await conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
