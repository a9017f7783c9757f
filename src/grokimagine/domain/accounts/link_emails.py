"""Emails that carry a single-use link: an invitation, a password reset.

The link is issued in its own transaction, then the email is sent (or, with no SMTP server,
logged and handed back for the operator's page to show).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from grokimagine.domain.accounts.tokens import Purpose, issue_link_token
from grokimagine.domain.clock import iso_utc
from grokimagine.net.mailer import Email, send_email
from grokimagine.settings import SmtpSettings
from grokimagine.storage.db import Database

SET_PASSWORD_PATH = "/console/set-password"


@dataclass(frozen=True)
class SentLink:
    """A link emailed to a user (``email.delivered`` false: only logged, shown to the
    operator), and when it stops working."""

    email: Email
    url: str
    expires_at: datetime


def set_password_url(base_url: str, token: str) -> str:
    """The page where a link's token sets a password."""
    return f"{base_url.rstrip('/')}{SET_PASSWORD_PATH}?{urlencode({'token': token})}"


def _wording(purpose: str, url: str, expires_at: datetime, inviter: str) -> tuple[str, str]:
    until = iso_utc(expires_at)
    if purpose == "invite":
        return (
            "You are invited to the video studio",
            f"{inviter or 'An operator'} invited you to the video studio.\n\n"
            f"Choose your password here (the link works once, until {until}):\n\n{url}\n\n"
            "If you did not expect this, ignore this email.\n",
        )
    return (
        "Reset your password",
        "Someone asked to reset the password of your video studio account.\n\n"
        f"Choose a new password here (the link works once, until {until}):\n\n{url}\n\n"
        "Setting it signs you out everywhere. If you did not ask, ignore this email: your "
        "password stays as it is.\n",
    )


async def email_link(
    smtp: SmtpSettings,
    *,
    to: str,
    purpose: str,
    token: str,
    expires_at: datetime,
    base_url: str,
    inviter: str = "",
) -> SentLink:
    """Email a link issued by :func:`~grokimagine.domain.accounts.tokens.issue_link_token`.

    Raises :class:`~grokimagine.net.mailer.EmailError` when a configured server refuses it.
    """
    url = set_password_url(base_url, token)
    subject, text = _wording(purpose, url, expires_at, inviter)
    sent = await send_email(smtp, to=to, subject=subject, text=text)
    return SentLink(email=sent, url=url, expires_at=expires_at)


async def send_password_link(
    db: Database,
    smtp: SmtpSettings,
    *,
    user_id: str,
    email: str,
    purpose: Purpose,
    base_url: str,
    created_by: str = "",
    inviter: str = "",
    lifetime: timedelta | None = None,
) -> SentLink:
    """Issue an ``invite`` or ``password_reset`` link for a user and email it to ``email``.

    Raises :class:`~grokimagine.net.mailer.EmailError` when a configured server refuses it
    (the link was issued, and a newer one replaces it).
    """
    async with db.write() as conn:
        link = await issue_link_token(
            conn, user_id=user_id, purpose=purpose, created_by=created_by, lifetime=lifetime
        )
    return await email_link(
        smtp,
        to=email,
        purpose=purpose,
        token=link.token,
        expires_at=link.expires_at,
        base_url=base_url,
        inviter=inviter,
    )
