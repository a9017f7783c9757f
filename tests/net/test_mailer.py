"""Outgoing email through a real SMTP server on loopback (aiosmtpd), and to the log without one."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import pytest
import trustme

from grokimagine.net.mailer import EmailError, send_email
from grokimagine.settings import Settings, SmtpSettings
from tests.helpers.smtp import links_in, smtp_server, text_of

LINK = "http://127.0.0.1:8000/console/reset?token=abc"


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_tls(certificate_authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("127.0.0.1").configure_cert(context)
    return context


@pytest.fixture
def ca_file(certificate_authority: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    certificate_authority.cert_pem.write_to_path(str(path))
    return path


def test_settings_read_the_documented_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "HOST": "mail.example.com",
        "PORT": "2525",
        "SECURITY": "tls",
        "USER": "studio",
        "PASSWORD": "s3cret",
        "SENDER": "Studio <no-reply@example.com>",
    }.items():
        monkeypatch.setenv(f"GROKIMAGINE_SMTP_{name}", value)
    smtp = Settings().smtp
    assert (smtp.host, smtp.port, smtp.security, smtp.user) == (
        "mail.example.com",
        2525,
        "tls",
        "studio",
    )
    assert smtp.password is not None and smtp.password.get_secret_value() == "s3cret"
    assert smtp.sender == "Studio <no-reply@example.com>"


def test_default_ports_follow_the_security() -> None:
    assert SmtpSettings(security="starttls").resolved_port == 587
    assert SmtpSettings(security="tls").resolved_port == 465
    assert SmtpSettings(security="none").resolved_port == 25
    assert SmtpSettings(security="none", port=2525).resolved_port == 2525


def test_a_bad_security_names_its_variable() -> None:
    with pytest.raises(ValueError, match="GROKIMAGINE_SMTP_SECURITY"):
        SmtpSettings(security="ssl")  # type: ignore[arg-type]


async def test_plain_smtp_delivers_text_and_html() -> None:
    with smtp_server() as server:
        settings = SmtpSettings(
            host=server.host, port=server.port, security="none", sender="Studio <a@studio.test>"
        )
        sent = await send_email(
            settings,
            to="ana@example.com",
            subject="You are invited",
            text=f"Set your password: {LINK}\n",
            html=f'<p><a href="{LINK}">Set your password</a></p>',
        )
        [message] = server.inbox.wait_for(1)
    assert sent.delivered
    assert message["To"] == "ana@example.com"
    assert message["From"] == "Studio <a@studio.test>"
    assert message["Subject"] == "You are invited"
    assert message["Message-ID"].endswith("@studio.test>")
    assert links_in(message) == [LINK]
    html = message.get_body(preferencelist=("html",))
    assert html is not None and LINK in html.get_content()


async def test_starttls_with_login(server_tls: ssl.SSLContext, ca_file: Path) -> None:
    with smtp_server(tls_context=server_tls, credentials=("studio", "pw-123")) as server:
        settings = SmtpSettings(
            host=server.host,
            port=server.port,
            security="starttls",
            user="studio",
            password="pw-123",
            ca_file=ca_file,
        )
        await send_email(settings, to="bo@example.com", subject="Reset", text=LINK)
        [message] = server.inbox.wait_for(1)
    assert server.inbox.logins == ["studio"]
    assert text_of(message).strip() == LINK


async def test_implicit_tls(server_tls: ssl.SSLContext, ca_file: Path) -> None:
    with smtp_server(tls_context=server_tls, implicit_tls=True) as server:
        settings = SmtpSettings(host=server.host, port=server.port, security="tls", ca_file=ca_file)
        await send_email(settings, to="cy@example.com", subject="Hello", text="hi")
        [message] = server.inbox.wait_for(1)
    assert message["To"] == "cy@example.com"


async def test_an_untrusted_certificate_is_refused(server_tls: ssl.SSLContext) -> None:
    # The system's CAs do not know the test CA: the reset link must not go to an impostor.
    with smtp_server(tls_context=server_tls) as server:
        settings = SmtpSettings(host=server.host, port=server.port, security="starttls")
        with pytest.raises(EmailError, match="could not send"):
            await send_email(settings, to="dd@example.com", subject="Reset", text=LINK)
        assert server.inbox.messages == []


async def test_a_wrong_password_is_an_email_error(
    server_tls: ssl.SSLContext, ca_file: Path
) -> None:
    with smtp_server(tls_context=server_tls, credentials=("studio", "right")) as server:
        settings = SmtpSettings(
            host=server.host,
            port=server.port,
            user="studio",
            password="wrong",
            ca_file=ca_file,
            timeout=3,  # smtplib tries LOGIN after PLAIN fails; aiosmtpd leaves that hanging
        )
        with pytest.raises(EmailError):
            await send_email(settings, to="ee@example.com", subject="Reset", text=LINK)
        assert server.inbox.messages == []


async def test_an_unreachable_server_is_an_email_error() -> None:
    with smtp_server() as server:
        port = server.port
    settings = SmtpSettings(host="127.0.0.1", port=port, security="none", timeout=5)
    with pytest.raises(EmailError, match=f"127.0.0.1:{port}"):
        await send_email(settings, to="ff@example.com", subject="x", text="y")


async def test_without_smtp_the_email_goes_to_the_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="grokimagine.net.mailer"):
        sent = await send_email(
            SmtpSettings(), to="gg@example.com", subject="Reset your password", text=LINK
        )
    assert not sent.delivered
    assert (sent.to, sent.subject, sent.text) == ("gg@example.com", "Reset your password", LINK)
    [record] = caplog.records
    assert LINK in record.getMessage() and "gg@example.com" in record.getMessage()
    assert "not sent" in record.getMessage()
