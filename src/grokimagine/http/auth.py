"""Bearer-token authentication with a short cache, so polling clients cost no lookup each time."""

from __future__ import annotations

import time

from cachetools import TTLCache

from grokimagine.domain.accounts.accounts import Principal, authenticate
from grokimagine.storage.db import Database


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else ``None``."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None


class Authenticator:
    """Resolves tokens to principals. Only successes are cached; revocation shows within the TTL.

    The cache is keyed by the token itself: it lives only in this process's memory, next to the
    request that carried it, and hashing it first would cost more than the lookup saves.
    """

    def __init__(self, db: Database, cache_seconds: float) -> None:
        self._db = db
        self._cache: TTLCache[str, Principal] | None = (
            TTLCache(maxsize=100_000, ttl=cache_seconds, timer=time.monotonic)
            if cache_seconds > 0
            else None
        )

    async def principal_for(self, token: str) -> Principal | None:
        """The principal behind ``token``, or ``None``."""
        if self._cache is None:
            return await authenticate(self._db, token)
        principal = self._cache.get(token)
        if principal is None:
            principal = await authenticate(self._db, token)
            if principal is not None:
                self._cache[token] = principal
        return principal

    def forget_account(self, account_id: str) -> None:
        """Drop this process's cached principals of an account (after an operator changed it).

        Other processes see the change when their entries expire (``auth_cache_seconds``); the
        submission transaction re-reads the account, so a disabled account never spends.
        """
        if self._cache is None:
            return
        for token, principal in list(self._cache.items()):
            if principal.account_id == account_id:
                self._cache.pop(token, None)
