"""API keys know when they were last used and may expire (issue 25): an expired key is refused
like an unknown one, also while this process's token cache still holds it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx
import pytest

from grokimagine.console.app import create_app
from grokimagine.domain import clock
from grokimagine.domain.accounts import accounts
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.http.edge import auth
from grokimagine.services import Services
from tests.helpers.console import make_user, sign_in


async def _key(services: Services, account_id: str) -> accounts.ApiKey:
    (key,) = [k for k in await accounts.list_keys(services.db, account_id) if k.name == "ci"]
    return key


async def _last_use(services: Services, account_id: str) -> datetime:
    """The key's last use, once the write beside the request has landed."""
    for _ in range(200):
        used = (await _key(services, account_id)).last_used_at
        if used is not None:
            return used
        await asyncio.sleep(0.05)
    raise AssertionError("the key's last use was never recorded")


async def test_a_key_records_its_last_use_at_most_once_a_minute(services: Services, client):
    account = await accounts.create_account(services.db, plan="free", credits_granted=10)
    made = await accounts.create_key(services.db, account.id, name="ci")
    assert (await _key(services, account.id)).last_used_at is None
    headers = {"Authorization": f"Bearer {made.token}"}
    assert (await client.get("/v1/account", headers=headers)).status_code == 200
    first = await _last_use(services, account.id)
    assert (await client.get("/v1/account", headers=headers)).status_code == 200
    await asyncio.sleep(0.2)  # a second write, if one were made, would have landed by now
    assert (await _key(services, account.id)).last_used_at == first  # no write per request


async def test_an_expired_key_is_refused_even_from_the_cache(
    services: Services, monkeypatch: pytest.MonkeyPatch
):
    account = await accounts.create_account(services.db, plan="free", credits_granted=10)
    made = await accounts.create_key(services.db, account.id, name="ci", expires_in_days=7)
    key = await _key(services, account.id)
    assert key.expires_at is not None
    assert timedelta(days=6, hours=23) < key.expires_at - key.created_at <= timedelta(days=7)
    authenticator = auth.Authenticator(services.db, cache_seconds=3600)
    assert await authenticator.principal_for(made.token) is not None  # now cached

    later = clock.utcnow() + timedelta(days=8)
    monkeypatch.setattr(auth, "utcnow", lambda: later)
    monkeypatch.setattr(accounts, "utcnow", lambda: later)
    assert await authenticator.principal_for(made.token) is None
    assert await accounts.authenticate(services.db, made.token) is None
    assert (await _key(services, account.id)).expired(later)


async def test_a_key_lifetime_is_one_day_to_ten_years(services: Services):
    account = await accounts.create_account(services.db, plan="free", credits_granted=10)
    for days in (0, -1, 3651):
        with pytest.raises(InvalidRequestError):
            await accounts.create_key(services.db, account.id, expires_in_days=days)


async def test_the_keys_page_makes_an_expiring_key_and_shows_its_use(services: Services, client):
    who = await make_user(services)
    transport = httpx.ASGITransport(app=create_app(services), client=("198.51.100.7", 4000))
    async with httpx.AsyncClient(transport=transport, base_url=str(client.base_url)) as http:
        csrf = await sign_in(http, who)
        made = await http.post(
            "/console/keys",
            data={"name": "ci", "kind": "live", "expires": "30", "csrf_token": csrf},
        )
        assert made.status_code == 303
        page = await http.get("/console/keys")
        token = page.text.split('id="new-key-token" class="mono" type="text" readonly value="')[1]
        token = token.split('"', 1)[0]
        assert "<th>Last used</th>" in page.text and "<th>Expires</th>" in page.text
        await http.get("/v1/account", headers={"Authorization": f"Bearer {token}"})
        await _last_use(services, who.account_id)
        key = await _key(services, who.account_id)
        assert key.expires_at is not None and key.last_used_at is not None
        later = await http.get("/console/keys")
    row = later.text.split(f'data-key-id="{key.id}"', 1)[1].split("</tr>", 1)[0]
    assert row.count("<time") == 3  # created, last used, expires
