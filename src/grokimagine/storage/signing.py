"""Signed, expiring URLs: an HMAC over the path and the expiry, carried in the query string."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import tempfile
import time
from pathlib import Path


class UrlSigner:
    """Signs and checks ``expires`` + ``signature`` query parameters for a storage key."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the signing secret must be at least 16 bytes")
        self._secret = secret

    def signature(self, key: str, expires: int) -> str:
        """The hex HMAC-SHA256 of ``key`` and ``expires``."""
        message = f"{key}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def sign_query(self, key: str, ttl_seconds: int, now: float | None = None) -> str:
        """``expires=...&signature=...`` valid for ``ttl_seconds`` from now."""
        expires = int(now if now is not None else time.time()) + ttl_seconds
        return f"expires={expires}&signature={self.signature(key, expires)}"

    def verify(self, key: str, expires: int, signature: str) -> bool:
        """Whether the signature is valid for ``key`` and the expiry has not passed.

        ``expires`` and ``signature`` come parsed (http/params.py): an int, and ASCII text.
        """
        if expires < time.time() or not signature.isascii():
            return False
        return hmac.compare_digest(self.signature(key, expires), signature)


def load_or_create_secret(path: Path) -> bytes:
    """The secret kept in ``path``, created (readable by the owner only) on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
            handle.write(secrets.token_hex(32).encode())
        os.chmod(handle.name, 0o600)
        # link() fails if the name exists: of two processes starting at once, one secret wins
        # and both read it, never a half-written file.
        with contextlib.suppress(FileExistsError):
            os.link(handle.name, path)
        os.unlink(handle.name)
    return path.read_bytes().strip()
