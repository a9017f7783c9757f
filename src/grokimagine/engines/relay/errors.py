"""Error codes of the relay engines, and how a provider's HTTP error becomes one of them.

Every failure of a relay ends as an :class:`EngineError` whose ``code`` the task shows. The
``fallback`` flag says whether another engine may serve the task: yes when the provider is down,
busy or refused the request for a reason of its own; no when the content was refused (any
engine would refuse it) or when a job may still be running (and billing) at the provider.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from grokimagine.engines.base import EngineError

CONTENT_REJECTED = "CONTENT_REJECTED"
PROVIDER_FAILED = "PROVIDER_FAILED"
PROVIDER_TIMEOUT = "PROVIDER_TIMEOUT"
PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"
PROVIDER_RATE_LIMITED = "PROVIDER_RATE_LIMITED"
PROVIDER_BUSY = "PROVIDER_BUSY"
PROVIDER_AUTH_FAILED = "PROVIDER_AUTH_FAILED"
PROVIDER_REJECTED = "PROVIDER_REJECTED"
PROVIDER_BAD_RESPONSE = "PROVIDER_BAD_RESPONSE"
PROVIDER_RESULT_EXPIRED = "PROVIDER_RESULT_EXPIRED"

# Whether another engine may be tried after each code (see docs/relay.md).
FALLBACK_BY_CODE: dict[str, bool] = {
    CONTENT_REJECTED: False,
    PROVIDER_FAILED: True,
    PROVIDER_TIMEOUT: False,
    PROVIDER_UNAVAILABLE: True,
    PROVIDER_RATE_LIMITED: True,
    PROVIDER_BUSY: True,
    PROVIDER_AUTH_FAILED: True,
    PROVIDER_REJECTED: True,
    PROVIDER_BAD_RESPONSE: True,
    PROVIDER_RESULT_EXPIRED: True,
}

# Neither provider documents a moderation error code for 4xx answers or failed jobs, so refusals
# are recognised by these words in the provider's code or message.
_MODERATION_WORDS = re.compile(r"moderat|content[ _-]?polic|safety|unsafe|nsfw", re.IGNORECASE)
_API_KEY_WORDS = re.compile(r"api[ _-]?key", re.IGNORECASE)


def relay_error(code: str, message: str, *, cost_usd: float | None = None) -> EngineError:
    """An :class:`EngineError` with the fallback flag that belongs to ``code``."""
    return EngineError(message, code, fallback=FALLBACK_BY_CODE[code], cost_usd=cost_usd)


class ProviderJobGone(EngineError):
    """The provider no longer has the job (expired, or unknown): nothing more will come of it.

    A fresh run fails with PROVIDER_FAILED; a resumed run starts a new job instead.
    """

    def __init__(self, message: str):
        super().__init__(message, PROVIDER_FAILED, fallback=FALLBACK_BY_CODE[PROVIDER_FAILED])


class ProviderUnavailable(Exception):
    """A network error or a 5xx answer: worth retrying, and a sign that the provider is down."""


class ProviderRateLimited(Exception):
    """A 429 answer; ``retry_after`` is the provider's Retry-After in seconds, when given."""

    def __init__(self, message: str, retry_after: float | None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class ProviderErrorBody:
    """The code and message a provider put in an error body (either documented shape)."""

    code: str
    message: str


def parse_error_body(response: httpx.Response) -> ProviderErrorBody:
    """Read ``{"error": {"code", "message"}}`` (OpenAI, xAI, vLLM), ``{"code", "error"}`` (xAI)
    or FastAPI's ``{"detail": "..." | [{"loc", "msg"}]}`` (SGLang Diffusion)."""
    try:
        body = response.json()
    except ValueError:
        return ProviderErrorBody("", response.text[:300])
    if not isinstance(body, dict):
        return ProviderErrorBody("", str(body)[:300])
    error = body.get("error")
    if isinstance(error, dict):
        return ProviderErrorBody(str(error.get("code") or ""), str(error.get("message") or ""))
    if isinstance(error, str):
        return ProviderErrorBody(str(body.get("code") or ""), error)
    detail = body.get("detail")
    if isinstance(detail, str):
        return ProviderErrorBody("", detail)
    if isinstance(detail, list):
        parts = [
            f"{'.'.join(str(p) for p in item.get('loc', ()))}: {item.get('msg', '')}"
            for item in detail
            if isinstance(item, dict)
        ]
        return ProviderErrorBody("", "; ".join(parts)[:300])
    return ProviderErrorBody(str(body.get("code") or ""), str(body.get("message") or ""))


def is_moderation(code: str | None, message: str | None) -> bool:
    """Whether a provider's error code or message says the content was refused."""
    return bool(_MODERATION_WORDS.search(f"{code or ''} {message or ''}"))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header given in seconds; None when absent or a date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def raise_for_provider_status(provider: str, response: httpx.Response) -> None:
    """Raise the right error for a non-2xx answer; return quietly on success."""
    status = response.status_code
    if status < 400:
        return
    body = parse_error_body(response)
    detail = f"{provider} answered {status}: {body.message or body.code or 'no message'}"
    if status == 429:
        raise ProviderRateLimited(detail, parse_retry_after(response.headers.get("retry-after")))
    if status >= 500 or status == 408:
        raise ProviderUnavailable(detail)
    if is_moderation(body.code, body.message):
        raise relay_error(CONTENT_REJECTED, detail)
    # xAI answers an incorrect key with 400 and says so in the message.
    if status in (401, 403) or (status == 400 and _API_KEY_WORDS.search(body.message)):
        raise relay_error(PROVIDER_AUTH_FAILED, detail)
    raise relay_error(PROVIDER_REJECTED, detail)
