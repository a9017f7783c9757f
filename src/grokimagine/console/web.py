"""What every console page shares: templates, the signed-in user, CSRF checks, errors."""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import jinja2
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from grokimagine.domain.accounts.sessions import SessionUser, csrf_matches, session_user
from grokimagine.services import Services

SESSION_COOKIE = "gi_session"
SECOND_FACTOR_COOKIE = "gi_second_factor"  # a sign-in whose password was right, code still due
FORM_COOKIE = "gi_form"  # the CSRF token of the forms shown before sign-in
_EXPIRED_FORM = (
    "This form has expired or did not come from this site. Reload the page and try again."
)
CSRF_HEADER = "x-csrf-token"
HERE = Path(__file__).parent


def _pretty_json(value: Any) -> str:
    # Readable in a <pre>: real characters rather than tojson's \u003c escapes (autoescape
    # still turns < into &lt; in the page).
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


# Autoescape on everything: a prompt holding <script> is shown as text on every page.
templates = Jinja2Templates(
    env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True
    )
)
templates.env.filters["pretty_json"] = _pretty_json


# ISO timestamps from the domain's views, as people read them.
def _when(value: object) -> Markup:
    if not isinstance(value, str) or not value:
        return Markup("—")
    shown = value.replace("T", " ").replace("Z", " UTC")
    return Markup('<time datetime="{}">{}</time>').format(value, shown)


templates.env.filters["when"] = _when


class SignInRequired(Exception):
    """No valid session: pages redirect to the sign-in page, JSON endpoints answer 401."""


class PageError(Exception):
    """A page that cannot be shown: 403 (forbidden, CSRF), 404 (not found, or not yours)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def services_of(request: Request) -> Services:
    """The process's shared services."""
    return request.app.state.services


async def current_user(request: Request) -> SessionUser:
    """The signed-in user of the request's session cookie; :class:`SignInRequired` if none."""
    user = await session_user(services_of(request).db, request.cookies.get(SESSION_COOKIE))
    if user is None:
        raise SignInRequired()
    return user


async def admin_user(request: Request) -> SessionUser:
    """The signed-in operator; a customer gets 404, so admin pages do not even show they exist."""
    user = await current_user(request)
    if not user.is_admin:
        raise PageError(404, "This page does not exist.")
    if services_of(request).settings.selfservice.require_operator_two_factor and not (
        user.two_factor
    ):
        raise PageError(
            403,
            "Operators must sign in with two factors here: turn on two-factor sign-in on the "
            "Two-factor sign-in page of the console first.",
        )
    return user


async def form_user(request: Request, form: FormData, *, admin: bool = False) -> SessionUser:
    """The user of a POSTed form, after checking its CSRF token (403 if missing or wrong)."""
    user = await (admin_user(request) if admin else current_user(request))
    token = form.get("csrf_token")
    if not csrf_matches(user, token if isinstance(token, str) else None):
        raise PageError(403, _EXPIRED_FORM)
    return user


async def fetch_user(request: Request) -> SessionUser:
    """The user of a same-origin ``fetch`` that changes something: CSRF token in a header."""
    user = await current_user(request)
    if not csrf_matches(user, request.headers.get(CSRF_HEADER)):
        raise PageError(403, "Missing or wrong CSRF token.")
    return user


def render(
    request: Request,
    template: str,
    user: SessionUser | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page from ``template`` with the user, their CSRF token and the current section."""
    context.setdefault("csrf_token", user.csrf_token if user else "")
    context.setdefault(
        "verify_email_required", services_of(request).settings.selfservice.verify_email
    )
    return templates.TemplateResponse(
        request, template, {"user": user, **context}, status_code=status_code
    )


def render_anonymous(
    request: Request, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A page for someone not signed in (sign-in, sign-up) whose form still carries a CSRF token:
    the same random value in the form and in a strict cookie (double submit), so that another
    site cannot sign a browser in to an account of its choosing."""
    token = request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(32)
    response = render(request, template, None, status_code=status_code, csrf_token=token, **context)
    response.set_cookie(
        FORM_COOKIE,
        token,
        max_age=3600,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def check_anonymous_form(request: Request, form: FormData) -> None:
    """Refuse (403) a sign-in or sign-up form whose token is not its cookie's."""
    cookie = request.cookies.get(FORM_COOKIE)
    token = form.get("csrf_token")
    # Compared as bytes: compare_digest refuses str holding anything but ASCII.
    if (
        not cookie
        or not isinstance(token, str)
        or not hmac.compare_digest(
            cookie.encode("utf-8", "replace"), token.encode("utf-8", "replace")
        )
    ):
        raise PageError(403, _EXPIRED_FORM)


def see_other(url: str) -> RedirectResponse:
    """Redirect after a POST (303), so a reload does not post again."""
    return RedirectResponse(url, status_code=303)


# A secret just made (a key's token, what minted codes derive from) goes from the POST that made
# it to the one GET that shows it in a cookie: the POST redirects, so a reload of the page makes
# nothing twice, and the GET drops the cookie, so a reload shows nothing twice. Strict, HTTP
# only, limited to the page's path, and short-lived should the redirect never be followed.
SHOWN_ONCE_SECONDS = 120


def carry_once(request: Request, response: Response, cookie: str, value: str, path: str) -> None:
    """Hand ``value`` to the next GET of ``path`` (see :func:`drop_carried`)."""
    response.set_cookie(
        cookie,
        value,
        max_age=SHOWN_ONCE_SECONDS,
        path=path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def drop_carried(request: Request, response: Response, cookie: str, path: str) -> None:
    """Drop the cookie :func:`carry_once` set, once its page has read it."""
    if cookie in request.cookies:
        response.delete_cookie(cookie, path=path)


class _Key(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def token_prefix(self) -> str: ...
    @property
    def revoked_at(self) -> datetime | None: ...


def shown_token(carried: str | None, keys: Iterable[_Key]) -> str | None:
    """The token of a carried ``key_id:token``, if it names one of ``keys``, still active, and
    fits its prefix (a stale or made-up cookie shows nothing)."""
    key_id, _, token = (carried or "").partition(":")
    for key in keys:
        if key.id == key_id and token.startswith(key.token_prefix) and key.revoked_at is None:
            return token
    return None


def sign_in_redirect(request: Request) -> Response:
    """To the sign-in page, coming back here afterwards."""
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return RedirectResponse(f"/console/sign-in?next={quote(target, safe='')}", status_code=303)


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a local console or admin path only (no open redirect)."""
    if (
        target
        and target.startswith(("/console", "/admin"))
        and not target.startswith(("//", "/\\"))
        and "\\" not in target
    ):
        return target
    return "/console"
