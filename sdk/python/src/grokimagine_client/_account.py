"""``client.account``: the account behind the key, and its ledger (sync and async)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from grokimagine_client.types import Account, LedgerEntry

if TYPE_CHECKING:
    from grokimagine_client._async import AsyncGrokImagine
    from grokimagine_client._sync import GrokImagine


class AccountResource:
    """``client.account``: balance, plan and ledger."""

    def __init__(self, client: GrokImagine) -> None:
        self._client = client

    def retrieve(self) -> Account:
        """The account behind the key: plan, balance, rate limit, usage."""
        return Account.from_api(self._client.request("GET", "/v1/account"))

    def ledger(self, *, limit: int = 50) -> Iterator[LedgerEntry]:
        """Every change of balance, newest first, fetched page by page as iterated."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": limit}
            if cursor:
                params["cursor"] = cursor
            page = self._client.request("GET", "/v1/account/ledger", params=params)
            for entry in page.get("entries", []):
                yield LedgerEntry.from_api(entry)
            cursor = page.get("next_cursor")
            if not cursor:
                return


class AsyncAccountResource:
    """``client.account``: balance, plan and ledger."""

    def __init__(self, client: AsyncGrokImagine) -> None:
        self._client = client

    async def retrieve(self) -> Account:
        """The account behind the key: plan, balance, rate limit, usage."""
        return Account.from_api(await self._client.request("GET", "/v1/account"))

    async def ledger(self, *, limit: int = 50) -> AsyncIterator[LedgerEntry]:
        """Every change of balance, newest first, fetched page by page as iterated."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": limit}
            if cursor:
                params["cursor"] = cursor
            page = await self._client.request("GET", "/v1/account/ledger", params=params)
            for entry in page.get("entries", []):
                yield LedgerEntry.from_api(entry)
            cursor = page.get("next_cursor")
            if not cursor:
                return
