"""Identifiers and secrets: unguessable ids, API tokens and their hashes."""

from __future__ import annotations

import base64
import hashlib
import secrets

LIVE_PREFIX = "gi_live_"
TEST_PREFIX = "gi_test_"


def new_task_id() -> str:
    """``task_`` and 24 random URL-safe characters (144 bits)."""
    return "task_" + secrets.token_urlsafe(18)


def new_account_id() -> str:
    """An account id such as ``acct_3kTq...``."""
    return "acct_" + secrets.token_urlsafe(12)


def new_key_id() -> str:
    """A key id (not the secret): ``key_...``."""
    return "key_" + secrets.token_urlsafe(12)


def new_webhook_secret() -> str:
    """A webhook signing secret in the Standard Webhooks form: ``whsec_`` + base64 of 24 bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def new_delivery_id() -> str:
    """A webhook message id (the ``webhook-id`` header): ``msg_...``."""
    return "msg_" + secrets.token_urlsafe(18)


def new_token(live: bool = True) -> str:
    """A fresh API token; its prefix tells live keys from test keys."""
    return (LIVE_PREFIX if live else TEST_PREFIX) + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The stored form of a token. Tokens carry 256 random bits, so a plain SHA-256 suffices."""
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(token: str) -> bool:
    """Whether ``token`` has the shape of one of ours (cheap check before any lookup)."""
    return token.startswith((LIVE_PREFIX, TEST_PREFIX)) and 20 <= len(token) <= 100
