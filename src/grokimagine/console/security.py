"""Response headers of every console and admin page: CSP, framing, caching, sniffing."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grokimagine.settings import Settings

CONSOLE_PREFIXES = ("/console", "/admin")
ADMIN_API_PREFIX = "/admin/v1"


def media_origins(settings: Settings) -> list[str]:
    """Origins that serve videos and posters besides this one: the public URL, the S3 store."""
    origins = []
    for url in (settings.public_url, settings.s3.public_endpoint_url or settings.s3.endpoint_url):
        if url:
            parts = urlsplit(url)
            origins.append(f"{parts.scheme}://{parts.netloc}")
    if settings.storage == "s3" and not (
        settings.s3.public_endpoint_url or settings.s3.endpoint_url
    ):
        origins.append("https://*.amazonaws.com")
    return origins


def checkout_origins(settings: Settings) -> list[str]:
    """Where "Buy credits" may send a form (Chrome checks form-action on its redirect too):
    Stripe's hosted Checkout, and the address of a Stripe stand-in when one is set."""
    if not settings.stripe.enabled:
        return []
    origins = ["https://checkout.stripe.com"]
    if settings.stripe.api_base:
        parts = urlsplit(settings.stripe.api_base)
        origins.append(f"{parts.scheme}://{parts.netloc}")
    return origins


def content_security_policy(settings: Settings) -> str:
    """Scripts and styles from this origin only (no inline script), no framing, no plugins."""
    media = " ".join(["'self'", "data:", "blob:", *media_origins(settings)])
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {media}",
            f"media-src {media}",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            " ".join(["form-action 'self'", *checkout_origins(settings)]),
            "frame-ancestors 'none'",
        ]
    )


class ConsoleHeaders:
    """Adds the security headers to responses under ``/console`` and ``/admin``.

    Pages carry account data and sometimes secrets (a new key, the webhook secret): none is
    cached. Static files keep their own caching.
    """

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        policy = content_security_policy(settings)
        self.headers = [
            (b"content-security-policy", policy.encode()),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
        ]
        self.no_store = [(b"cache-control", b"no-store")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(CONSOLE_PREFIXES) or path.startswith(ADMIN_API_PREFIX):
            await self.app(scope, receive, send)
            return
        extra = (
            self.headers if path.startswith("/console/static/") else self.headers + self.no_store
        )

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"cache-control" or extra is self.headers
                ]
                message = {**message, "headers": kept + extra}
            await send(message)

        await self.app(scope, receive, with_headers)
