"""Bearer-token authentication with a short cache, so polling clients cost no lookup each time."""

from __future__ import annotations

import asyncio
import logging
import time

from cachetools import TTLCache

from grokimagine.domain.accounts.accounts import (
    LAST_USED_PRECISION,
    Principal,
    authenticate,
    touch_key,
)
from grokimagine.domain.clock import utcnow
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


log = logging.getLogger(__name__)
LAST_USE_SECONDS = LAST_USED_PRECISION.total_seconds()


def _expired(principal: Principal) -> bool:
    expires_at = principal.key_expires_at
    return expires_at is not None and expires_at <= utcnow()


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
        self._touching: set[asyncio.Task[None]] = set()
        self._last_noted: TTLCache[str, float] = TTLCache(
            maxsize=100_000, ttl=LAST_USE_SECONDS, timer=time.monotonic
        )

    async def principal_for(self, token: str) -> Principal | None:
        """The principal behind ``token``, or ``None`` (also once the key has expired)."""
        principal = self._cache.get(token) if self._cache is not None else None
        if principal is not None and _expired(principal):
            self._cache.pop(token, None)  # type: ignore[union-attr]
            return None
        if principal is None:
            principal = await authenticate(self._db, token)
            if principal is not None and self._cache is not None:
                self._cache[token] = principal
        if principal is not None:
            await self._note_use(principal.key_id)
        return principal

    async def _note_use(self, key_id: str) -> None:
        # The key's last use, written at most once a minute per key from this process (and the
        # UPDATE itself skips a key another process wrote within the minute).
        if key_id in self._last_noted:  # entries leave this cache after a minute
            return
        self._last_noted[key_id] = time.monotonic()
        # Written beside the request, never in its way: a request must not wait for a write
        # lock (SQLite) to record a timestamp.
        task = asyncio.create_task(self._touch(key_id))
        self._touching.add(task)
        task.add_done_callback(self._touching.discard)

    async def _touch(self, key_id: str) -> None:
        try:
            await touch_key(self._db, key_id)
        except Exception:  # a busy or closed database: the next minute's use writes it
            log.debug("could not record the last use of key %s", key_id, exc_info=True)

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
