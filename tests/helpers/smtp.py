"""A real SMTP server on loopback (aiosmtpd) that keeps every message it receives."""

from __future__ import annotations

import email
import email.policy
import re
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

LINK = re.compile(r"https?://\S+")


@dataclass
class Inbox:
    """The messages a loopback server received, parsed, with who logged in to send them."""

    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.arrived:
            self.messages.append(parsed)  # type: ignore[arg-type]
            self.arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        """The first ``count`` messages, waiting for them to arrive."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"{len(self.messages)} emails arrived, {count} expected")
            return list(self.messages[:count])

    def last_to(
        self, address: str, subject: str | None = None, timeout: float = 30.0
    ) -> EmailMessage:
        """The latest message to ``address`` (with ``subject``, when given), waiting for one: an
        earlier message to the same address must not stand in for one still on its way."""

        def matching() -> list[EmailMessage]:
            return [
                m for m in self.messages if m["To"] == address and subject in (None, m["Subject"])
            ]

        with self.arrived:
            found = self.arrived.wait_for(matching, timeout)
        if not found:
            raise AssertionError(f"no email to {address} ({subject or 'any subject'}) arrived")
        return found[-1]


def text_of(message: EmailMessage) -> str:
    """The plain-text body of a message."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "the message has no text/plain part"
    return part.get_content()  # type: ignore[no-any-return]


def links_in(message: EmailMessage) -> list[str]:
    """The http(s) links of a message's plain-text body."""
    return LINK.findall(text_of(message))


class _LoopbackController(Controller):
    """aiosmtpd's threaded controller on a port the system picks (port 0)."""

    def _trigger_server(self) -> None:
        if self.port == 0 and self.server is not None:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass(frozen=True)
class SmtpServer:
    """A running loopback server: where it listens and what it received."""

    host: str
    port: int
    inbox: Inbox


@contextmanager
def smtp_server(
    *,
    tls_context: ssl.SSLContext | None = None,
    implicit_tls: bool = False,
    credentials: tuple[str, str] | None = None,
) -> Iterator[SmtpServer]:
    """Run an SMTP server on 127.0.0.1: plain, with STARTTLS (``tls_context``), or TLS from the
    first byte (``implicit_tls``); with ``credentials``, logging in is required."""
    inbox = Inbox()
    options: dict[str, Any] = {}
    if tls_context is not None and not implicit_tls:
        options.update(tls_context=tls_context, require_starttls=True)
    if credentials is not None:

        def authenticate(
            server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
        ) -> AuthResult:
            ok = (
                isinstance(data, LoginPassword)
                and (
                    data.login.decode(),
                    data.password.decode(),
                )
                == credentials
            )
            if ok:
                inbox.logins.append(data.login.decode())
            return AuthResult(success=ok)

        options.update(authenticator=authenticate, auth_required=True)
    controller = _LoopbackController(
        inbox,
        hostname="127.0.0.1",
        port=0,
        ssl_context=tls_context if implicit_tls else None,
        **options,
    )
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", controller.port, inbox)
    finally:
        controller.stop()
