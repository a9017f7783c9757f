"""What a customer does alone: ask for a password link, verify their email.

Both links are issued by :mod:`grokimagine.domain.accounts.tokens` (single use, expiring, only
their hash stored) and sent through :mod:`grokimagine.net.mailer`.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from sqlalchemy import select, update

from grokimagine.domain.accounts.link_emails import send_password_link
from grokimagine.domain.accounts.tokens import LinkTokenError, issue_link_token, spend_link_token
from grokimagine.domain.clock import iso_utc, utcnow
from grokimagine.net.mailer import EmailError, send_email
from grokimagine.settings import SmtpSettings
from grokimagine.storage.db import Database
from grokimagine.storage.schema import users

log = logging.getLogger(__name__)

VERIFY_EMAIL_PATH = "/console/verify-email"


class EmailNotVerifiedError(PermissionError):
    """The operator asks sign-ups to verify their email, and this one has not yet."""

    def __init__(self) -> None:
        super().__init__(
            "Verify your email first: open the link we emailed you (or send a new one from the "
            "overview page)."
        )


def check_email_verified(*, required: bool, verified: bool) -> None:
    """Refuse making keys or videos for an unverified sign-up when the operator requires it."""
    if required and not verified:
        raise EmailNotVerifiedError()


async def request_password_reset(
    db: Database, smtp: SmtpSettings, email: str, *, base_url: str
) -> bool:
    """Email a single-use password link to the user of ``email``, if there is an active one;
    whether a link went out (never shown to the asker: it would tell who has an account)."""
    row = await db.fetch_one(
        select(users.c.id, users.c.email).where(
            users.c.email == email.strip().lower(), users.c.disabled_at.is_(None)
        )
    )
    if row is None:
        return False
    try:
        await send_password_link(
            db,
            smtp,
            user_id=row.id,
            email=row.email,
            purpose="password_reset",
            base_url=base_url,
            created_by=row.id,
        )
    except EmailError:
        log.exception("the password link to a user could not be sent")
        return False
    return True


def verify_email_url(base_url: str, token: str) -> str:
    """The link that verifies an email."""
    return f"{base_url.rstrip('/')}{VERIFY_EMAIL_PATH}?{urlencode({'token': token})}"


async def send_email_verification(
    db: Database, smtp: SmtpSettings, *, user_id: str, email: str, base_url: str
) -> str:
    """Issue an ``email_verify`` link (earlier ones stop working) and email it; the URL.

    Raises :class:`~grokimagine.net.mailer.EmailError` when a configured server refuses it.
    """
    async with db.write() as conn:
        link = await issue_link_token(
            conn, user_id=user_id, purpose="email_verify", created_by=user_id
        )
    url = verify_email_url(base_url, link.token)
    await send_email(
        smtp,
        to=email,
        subject="Verify your email",
        text=(
            "Welcome to the video studio.\n\n"
            f"Open this link to verify your email (it works once, until "
            f"{iso_utc(link.expires_at)}):\n\n{url}\n\n"
            "If you did not sign up, ignore this email.\n"
        ),
    )
    return url


async def verify_email(db: Database, token: str | None) -> str:
    """Spend an ``email_verify`` link and mark the email verified; the user's id.

    Raises :class:`~grokimagine.domain.accounts.tokens.LinkTokenError`.
    """
    async with db.write() as conn:
        user_id, _ = await spend_link_token(conn, token, {"email_verify"})
        changed = await conn.execute(
            update(users)
            .where(users.c.id == user_id, users.c.disabled_at.is_(None))
            .values(email_verified_at=utcnow())
        )
        if changed.rowcount != 1:
            raise LinkTokenError()
    return user_id
