"""Console test helpers: users, signed-in clients and the CSRF token of their pages."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import httpx

from grokimagine.domain.accounts import accounts, users
from grokimagine.domain.operator.business_settings import load_business_settings
from grokimagine.services import Services

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@dataclass
class ConsoleUser:
    """A user and the password they sign in with."""

    email: str
    password: str
    account_id: str
    user_id: str


async def make_user(
    services: Services,
    *,
    admin: bool = False,
    credits: int = 400,
    allow_spicy: bool = False,
    account_id: str | None = None,
) -> ConsoleUser:
    """A console user in a new account (with ``credits``), or in ``account_id``."""
    if account_id is None:
        account = await accounts.create_account(
            services.db, plan="free", credits_granted=credits, allow_spicy=allow_spicy
        )
        account_id = account.id
    email = f"user-{secrets.token_hex(4)}@example.com"
    password = secrets.token_urlsafe(12)
    user = await users.create_user(
        services.db, email=email, password=password, account_id=account_id, admin=admin
    )
    return ConsoleUser(email, password, account_id, user.id)


FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


async def attempt_sign_in(
    http: httpx.AsyncClient, email: str, password: str, path: str = "/console/sign-in", **extra: str
) -> httpx.Response:
    """Post the sign-in (or sign-up) form as a browser does: its page first, for the token."""
    page = await http.get(path)
    token = FORM_TOKEN.search(page.text)
    assert token is not None, page.text
    data = {"email": email, "password": password, "csrf_token": token.group(1), **extra}
    return await http.post(path, data=data)


async def sign_in(http: httpx.AsyncClient, who: ConsoleUser) -> str:
    """Sign ``who`` in on ``http`` (its cookie jar keeps the session); the page's CSRF token."""
    answer = await attempt_sign_in(http, who.email, who.password)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/console"
    return await csrf_of(http)


async def csrf_of(http: httpx.AsyncClient, path: str = "/console/keys") -> str:
    """The CSRF token printed in a page of the signed-in user."""
    page = await http.get(path)
    assert page.status_code == 200, page.text
    match = CSRF_META.search(page.text)
    assert match is not None
    return match.group(1)


async def replace_settings(services: Services, **changes: object) -> None:
    """Change this process's settings as a test needs. The first request stores the business
    settings' version 1 beside itself and then applies it; it is awaited first, or it could land
    after the change and undo it (a loaded machine makes it late)."""
    if services.business_seeding is not None:
        await services.business_seeding
    await load_business_settings(services)
    services.settings = services.settings.replace(**changes)
