"""Per-minute request limits with the ``limits`` library: in memory, or in Redis when shared."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter


@dataclass(frozen=True)
class Window:
    """The state of one caller's window after a request."""

    allowed: bool
    limit: int
    remaining: int
    reset_at: int  # Unix epoch seconds

    def headers(self) -> dict[str, str]:
        """The ``X-RateLimit-*`` headers (and ``Retry-After`` once the limit is reached)."""
        values = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }
        if not self.allowed:
            values["Retry-After"] = str(max(1, self.reset_at - math.floor(time.time())))
        return values


def storage_for(redis_url: str | None, key_prefix: str = "grokimagine") -> Storage:
    """Redis storage (exact across processes) when a URL is given, else process memory."""
    if not redis_url:
        return MemoryStorage()
    scheme, _, rest = redis_url.partition("://")
    if scheme not in ("redis", "rediss"):
        raise ValueError("GROKIMAGINE_REDIS_URL must start with redis:// or rediss://")
    return RedisStorage(f"async+{scheme}://{rest}", implementation="redispy", key_prefix=key_prefix)


class RateLimiter:
    """Fixed one-minute windows: a Redis INCR per request, so N processes share one count."""

    def __init__(self, storage: Storage) -> None:
        self._strategy = FixedWindowRateLimiter(storage)
        self._items: dict[int, RateLimitItem] = {}

    def _item(self, per_minute: int) -> RateLimitItem:
        item = self._items.get(per_minute)
        if item is None:
            item = self._items[per_minute] = RateLimitItemPerMinute(per_minute)
        return item

    async def hit(self, per_minute: int, *identity: str) -> Window:
        """Count one request against ``identity``'s window and report the window."""
        item = self._item(per_minute)
        # The fixed-window strategy's hit and window stats, in one less storage call (a Redis
        # round trip saved on every request): the count the increment returns is the one its
        # stats would read back, and the window's key is built once instead of three times.
        storage = self._strategy.storage
        key = item.key_for(*identity)
        count = await storage.incr(key, item.get_expiry())
        reset_time = await storage.get_expiry(key)
        return Window(
            count <= item.amount, per_minute, max(0, item.amount - count), math.ceil(reset_time)
        )

    async def peek(self, per_minute: int, *identity: str) -> Window:
        """Report ``identity``'s window without counting a request."""
        item = self._item(per_minute)
        stats = await self._strategy.get_window_stats(item, *identity)
        return Window(stats.remaining > 0, per_minute, stats.remaining, math.ceil(stats.reset_time))

    async def check(self) -> bool:
        """Whether the limits' storage answers (Redis is reachable); memory always does."""
        return bool(await self._strategy.storage.check())
