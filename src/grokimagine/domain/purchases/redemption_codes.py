"""Redemption codes: operators mint batches (credits, expiry, uses); customers redeem them.

A code is shown once, when minted; only its SHA-256 is kept. A batch's codes derive from a random
secret that is never stored either (HMAC-SHA256 of the batch and each code's number): the console
carries it across the redirect after its POST, so the page after it shows the codes, once,
without a reload minting more (:func:`recall_batch`). Redeeming is one transaction: a
conditional UPDATE takes a use (``uses < max_uses``), the ``redemptions`` primary key lets an
account redeem a code once, and the ledger grant commits with both, so concurrent redemptions of
a single-use code grant exactly once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from grokimagine.domain.accounts.audit import Actor, record_action
from grokimagine.domain.billing.credits import grant_credits
from grokimagine.domain.clock import iso_utc, utcnow
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.storage.db import Database
from grokimagine.storage.schema import accounts, redemption_codes, redemptions

CODE_PREFIX = "GI"
MAX_BATCH = 1000
MAX_USES = 1_000_000
MAX_CODE_CREDITS = 10**8
_ALREADY = "this account has already redeemed this code"


class CodeNotRedeemableError(Exception):
    """The code is unknown, expired, revoked, used up, or already redeemed by this account."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


@dataclass(frozen=True)
class MintedBatch:
    """A batch just minted: its id and its codes, in clear text this once."""

    batch: str
    credits: int
    max_uses: int
    expires_at: datetime | None
    codes: list[str]
    seed: str  # what the codes derive from, to show them once more (recall_batch)


@dataclass(frozen=True)
class Redeemed:
    """What a redemption granted and the balance after it."""

    credits: int
    balance: int


def normalize_code(text: str) -> str:
    """The canonical form people may type loosely: upper case, no spaces, dashes kept."""
    return "".join(text.split()).upper()


def hash_code(code: str) -> str:
    """The stored form of a code."""
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


def _codes(seed: bytes, batch: str, count: int) -> list[str]:
    codes = []
    for number in range(count):
        mac = hmac.new(seed, f"{batch}:{number}".encode(), hashlib.sha256).digest()
        # 100 bits in base32, whose alphabet has no 0, 1 or 8 to misread.
        raw = base64.b32encode(mac[:15]).decode()[:20]
        codes.append(CODE_PREFIX + "-" + "-".join(raw[i : i + 5] for i in range(0, 20, 5)))
    return codes


def check_mint(
    *, count: int, credits: int, max_uses: int, expires_at: datetime | None = None
) -> None:
    """:class:`InvalidRequestError` naming what is wrong with a batch of these terms (a page
    checks before it asks the operator to confirm)."""
    if not 1 <= count <= MAX_BATCH:
        raise InvalidRequestError(f"count must be between 1 and {MAX_BATCH}")
    if not 1 <= credits <= MAX_CODE_CREDITS:
        raise InvalidRequestError(f"credits must be between 1 and {MAX_CODE_CREDITS}")
    if not 1 <= max_uses <= MAX_USES:
        raise InvalidRequestError(f"uses must be between 1 and {MAX_USES}")
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidRequestError("the expiry must be in the future")


async def mint_codes(
    db: Database,
    actor: Actor,
    *,
    count: int,
    credits: int,
    max_uses: int = 1,
    expires_at: datetime | None = None,
    note: str = "",
) -> MintedBatch:
    """Mint ``count`` codes worth ``credits`` each, usable ``max_uses`` times; audited (the
    audit entry names the batch, never the codes)."""
    check_mint(count=count, credits=credits, max_uses=max_uses, expires_at=expires_at)
    now = utcnow()
    batch = "batch_" + secrets.token_urlsafe(9)
    seed = secrets.token_bytes(32)
    codes = _codes(seed, batch, count)
    async with db.write() as conn:
        await conn.execute(
            insert(redemption_codes),
            [
                {
                    "id": "code_" + secrets.token_urlsafe(12),
                    "code_hash": hash_code(code),
                    "code_prefix": code[:8],
                    "batch": batch,
                    "credits": credits,
                    "max_uses": max_uses,
                    "uses": 0,
                    "expires_at": expires_at,
                    "note": note[:200],
                    "created_by": actor.id,
                    "created_at": now,
                }
                for code in codes
            ],
        )
        await record_action(
            conn,
            actor,
            "codes.mint",
            "batch",
            batch,
            after={
                "count": count,
                "credits": credits,
                "max_uses": max_uses,
                "expires_at": iso_utc(expires_at),
            },
            note=note,
        )
    return MintedBatch(batch, credits, max_uses, expires_at, codes, seed.hex())


async def recall_batch(db: Database, batch: str, seed: str) -> MintedBatch | None:
    """The batch ``seed`` (a :class:`MintedBatch`'s) made, its codes in clear text again; ``None``
    unless every code it derives is one of the batch's stored hashes (a stale or forged seed)."""
    try:
        secret = bytes.fromhex(seed)
    except ValueError:
        return None
    rows = await db.fetch_all(
        select(
            redemption_codes.c.code_hash,
            redemption_codes.c.credits,
            redemption_codes.c.max_uses,
            redemption_codes.c.expires_at,
        ).where(redemption_codes.c.batch == batch)
    )
    codes = _codes(secret, batch, len(rows))
    if not rows or {hash_code(code) for code in codes} != {row.code_hash for row in rows}:
        return None
    first = rows[0]
    return MintedBatch(
        batch, int(first.credits), int(first.max_uses), first.expires_at, codes, seed
    )


async def redeem_code(db: Database, account_id: str, code: str) -> Redeemed:
    """Grant the code's credits to the account, once; :class:`CodeNotRedeemableError` if not."""
    normalized = normalize_code(code)
    if not normalized.startswith(CODE_PREFIX + "-") or len(normalized) > 64:
        raise CodeNotRedeemableError("this is not a redemption code")
    row = await db.fetch_one(
        select(redemption_codes).where(redemption_codes.c.code_hash == hash_code(normalized))
    )
    if row is None:
        raise CodeNotRedeemableError("no such code")
    now = utcnow()
    if row.revoked_at is not None:
        raise CodeNotRedeemableError("this code was revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise CodeNotRedeemableError("this code has expired")
    mine = await db.fetch_one(
        select(redemptions.c.code_id).where(
            redemptions.c.code_id == row.id, redemptions.c.account_id == account_id
        )
    )
    if mine is not None:
        raise CodeNotRedeemableError(_ALREADY)
    disabled = await db.fetch_one(select(accounts.c.disabled_at).where(accounts.c.id == account_id))
    if disabled is None or disabled.disabled_at is not None:
        raise CodeNotRedeemableError("this account is disabled")
    try:
        async with db.write() as conn:
            taken = await conn.execute(
                update(redemption_codes)
                .where(
                    redemption_codes.c.id == row.id,
                    redemption_codes.c.uses < redemption_codes.c.max_uses,
                    redemption_codes.c.revoked_at.is_(None),
                )
                .values(uses=redemption_codes.c.uses + 1)
            )
            if taken.rowcount != 1:
                raise CodeNotRedeemableError("this code has been used up")
            await conn.execute(
                insert(redemptions).values(code_id=row.id, account_id=account_id, created_at=now)
            )
            balance = await grant_credits(
                conn,
                account_id,
                int(row.credits),
                note=f"code {row.code_prefix}… ({row.batch})",
                reason="redeem",
            )
    except IntegrityError:
        raise CodeNotRedeemableError(_ALREADY) from None
    return Redeemed(int(row.credits), balance)


async def list_batches(db: Database, *, limit: int = 100) -> list[dict[str, Any]]:
    """Minted batches, newest first: codes, uses taken, credits, expiry."""
    rows = await db.fetch_all(
        select(
            redemption_codes.c.batch,
            func.count().label("codes"),
            func.sum(redemption_codes.c.uses).label("uses"),
            func.sum(redemption_codes.c.max_uses).label("max_uses"),
            func.max(redemption_codes.c.credits).label("credits"),
            func.max(redemption_codes.c.expires_at).label("expires_at"),
            func.max(redemption_codes.c.note).label("note"),
            func.min(redemption_codes.c.created_at).label("created_at"),
        )
        .group_by(redemption_codes.c.batch)
        .order_by(func.min(redemption_codes.c.created_at).desc())
        .limit(limit)
    )
    return [
        {
            "batch": row.batch,
            "codes": int(row.codes),
            "uses": int(row.uses or 0),
            "max_uses": int(row.max_uses or 0),
            "credits": int(row.credits),
            "expires_at": iso_utc(_aware(row.expires_at)),
            "note": row.note or "",
            "created_at": iso_utc(_aware(row.created_at)),
        }
        for row in rows
    ]


def _aware(value: Any) -> datetime | None:
    # Aggregates skip the column type's conversion: SQLite hands back text or naive times.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
