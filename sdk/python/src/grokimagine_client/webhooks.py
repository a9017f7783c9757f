"""Checking webhook deliveries (Standard Webhooks signatures) before trusting them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from grokimagine_client.errors import GrokImagineError

DEFAULT_TOLERANCE_SECONDS = 300


class WebhookVerificationError(GrokImagineError):
    """The delivery's signature or timestamp is wrong: do not trust its body."""


def verify(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> dict[str, Any]:
    """The delivery's JSON payload, once its signature (keyed with the account's
    ``webhook_secret``) and timestamp check out; else :class:`WebhookVerificationError`."""
    lowered = {name.lower(): value for name, value in headers.items()}
    message_id = lowered.get("webhook-id")
    timestamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (message_id and timestamp and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or signature")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookVerificationError("the webhook-timestamp is not a number") from None
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance:
        raise WebhookVerificationError("the webhook-timestamp is too old or in the future")
    raw = body.encode() if isinstance(body, str) else body
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = b"%s.%s.%s" % (message_id.encode(), timestamp.encode(), raw)
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for candidate in signatures.split():
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return json.loads(raw)
    raise WebhookVerificationError("no signature matches the secret")


class Webhooks:
    """``client.webhooks``: verification needs no request, so sync and async share it."""

    def verify(
        self,
        body: bytes | str,
        headers: Mapping[str, str],
        secret: str,
        *,
        tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    ) -> dict[str, Any]:
        """See :func:`grokimagine_client.webhooks.verify`."""
        return verify(body, headers, secret, tolerance=tolerance)
