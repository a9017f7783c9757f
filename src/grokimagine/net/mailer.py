"""Outgoing email: one function that sends a message through the operator's SMTP server.

With no server configured (``GROKIMAGINE_SMTP_HOST`` unset) the message, links and all, is
written to the log and handed back undelivered, so that the page which asked for it can show it
to the operator, clearly marked, instead of a link silently going nowhere.

The standard library's ``smtplib`` speaks SMTP; it blocks, so it runs in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from grokimagine.settings import SmtpSettings

log = logging.getLogger(__name__)


class EmailError(Exception):
    """The SMTP server could not be reached or refused the message; the text says why."""


@dataclass(frozen=True)
class Email:
    """A message as it was sent, or, when ``delivered`` is false, only written to the log."""

    to: str
    subject: str
    text: str
    html: str | None
    delivered: bool


def build_message(settings: SmtpSettings, *, to: str, subject: str, text: str, html: str | None):
    """The MIME message: plain text, with an HTML alternative when ``html`` is given."""
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    domain = parseaddr(settings.sender)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def _tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    # Certificates and host names are always checked: a mail relay sees reset links.
    return ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)


def _deliver(settings: SmtpSettings, message: EmailMessage) -> None:
    host, port, timeout = settings.host or "", settings.resolved_port, settings.timeout
    try:
        if settings.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port, timeout=timeout, context=_tls_context(settings)
            )
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            if settings.security == "starttls":
                client.starttls(context=_tls_context(settings))
            if settings.user:
                password = settings.password.get_secret_value() if settings.password else ""
                client.login(settings.user, password)
            client.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise EmailError(f"could not send the email through {host}:{port}: {exc}") from exc


async def send_email(
    settings: SmtpSettings, *, to: str, subject: str, text: str, html: str | None = None
) -> Email:
    """Send one email; with no SMTP server set, log it and return it undelivered.

    Raises :class:`EmailError` when a configured server cannot take it.
    """
    if not settings.configured:
        log.warning(
            "no SMTP server set (GROKIMAGINE_SMTP_HOST): this email was not sent\n"
            "To: %s\nSubject: %s\n\n%s",
            to,
            subject,
            text,
            extra={"email_to": to, "email_subject": subject},
        )
        return Email(to=to, subject=subject, text=text, html=html, delivered=False)
    message = build_message(settings, to=to, subject=subject, text=text, html=html)
    await asyncio.to_thread(_deliver, settings, message)
    log.info("email sent", extra={"email_to": to, "email_subject": subject})
    return Email(to=to, subject=subject, text=text, html=html, delivered=True)
