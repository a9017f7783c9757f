"""Signing in and out, signing up (when open), changing the password."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from urllib.parse import quote

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from grokimagine.console.forms import check_address, read_form
from grokimagine.console.web import (
    SECOND_FACTOR_COOKIE,
    SESSION_COOKIE,
    check_anonymous_form,
    current_user,
    form_user,
    render,
    render_anonymous,
    safe_next,
    see_other,
    services_of,
)
from grokimagine.domain.accounts import self_service, sessions, two_factor, users
from grokimagine.domain.accounts.sessions import session_user
from grokimagine.http.v1.generate import limiter_of
from grokimagine.net.mailer import EmailError

router = APIRouter(
    prefix="/console", include_in_schema=False, dependencies=[Depends(check_address)]
)


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


async def _over_limit(request: Request, *, email: str | None) -> bool:
    """Count a sign-in attempt against its address and its email; whether either is used up."""
    settings = services_of(request).settings
    limiter = limiter_of(request)
    by_address = await limiter.hit(
        settings.console.signin_limit, "console-sign-in", "address", _address(request)
    )
    if not by_address.allowed:
        return True
    if email:
        by_email = await limiter.hit(
            settings.console.signin_email_limit, "console-sign-in", "email", email.strip().lower()
        )
        return not by_email.allowed
    return False


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    """Give the browser the session's cookie."""
    settings = services_of(request).settings
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.console.session_hours * 3600),
        path="/",
        httponly=True,
        samesite="lax",
        # Behind HTTPS (uvicorn reads X-Forwarded-Proto from trusted proxies) the cookie never
        # travels in clear; on plain http://127.0.0.1 it must, or no one could sign in.
        secure=request.url.scheme == "https",
    )


def _sign_in_page(request: Request, *, error: str = "", email: str = "", status: int = 200):
    return render_anonymous(
        request,
        "sign_in.html",
        status_code=status,
        error=error,
        email=email,
        next=safe_next(request.query_params.get("next")),
        signup_open=services_of(request).settings.console.signup == "open",
        reset=request.query_params.get("reset") == "1",
    )


@router.get("/sign-in")
async def sign_in_form(request: Request) -> Response:
    """The sign-in form (or the console, for someone already signed in)."""
    if await session_user(services_of(request).db, request.cookies.get(SESSION_COOKIE)):
        return see_other(safe_next(request.query_params.get("next")))
    return _sign_in_page(request)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    """Check the email and password; on success, start a session and go on."""
    form = await read_form(request)
    check_anonymous_form(request, form)
    email, password = _text(form.get("email")), _text(form.get("password"))
    if await _over_limit(request, email=email):
        return _sign_in_page(
            request,
            error="Too many sign-in attempts. Wait a minute and try again.",
            email=email,
            status=429,
        )
    services = services_of(request)
    user = await users.verify_credentials(services.db, email, password)
    if user is None:
        return _sign_in_page(
            request, error="The email or password is not correct.", email=email, status=401
        )
    next_page = safe_next(_text(form.get("next")))
    if await two_factor.is_enabled(services.db, user.id):
        # The password was right; the code of the person's app is due before any page opens.
        half = await sessions.start_session(
            services.db,
            user.id,
            address=_address(request),
            lifetime=timedelta(hours=services.settings.console.session_hours),
            second_factor_due=True,
        )
        response = see_other(f"/console/sign-in/code?next={quote(next_page, safe='')}")
        response.set_cookie(
            SECOND_FACTOR_COOKIE,
            half.token,
            max_age=int(sessions.SECOND_FACTOR_WINDOW.total_seconds()),
            path="/console/sign-in",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response
    new = await sessions.start_session(
        services.db,
        user.id,
        address=_address(request),
        lifetime=timedelta(hours=services.settings.console.session_hours),
    )
    response = see_other(next_page)
    set_session_cookie(request, response, new.token)
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    """End this session and forget the cookie."""
    form = await read_form(request)
    user = await form_user(request, form)
    await sessions.end_session(services_of(request).db, user.session_id)
    response = see_other("/console/sign-in")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/sign-up")
async def sign_up_form(request: Request) -> Response:
    """The sign-up form, when the operator opened sign-ups."""
    if services_of(request).settings.console.signup != "open":
        return render(request, "closed.html", None, status_code=404)
    return render_anonymous(request, "sign_up.html", error="", email="")


@router.post("/sign-up")
async def sign_up(request: Request) -> Response:
    """Create an account on the free plan with the starter grant, and its first user."""
    services = services_of(request)
    settings = services.settings
    if settings.console.signup != "open":
        return render(request, "closed.html", None, status_code=404)
    form = await read_form(request)
    check_anonymous_form(request, form)
    email, password = _text(form.get("email")), _text(form.get("password"))
    if await _over_limit(request, email=None):
        return render_anonymous(
            request,
            "sign_up.html",
            status_code=429,
            error="Too many attempts from this address. Wait a minute and try again.",
            email=email,
        )
    verify = settings.selfservice.verify_email
    try:
        user = await users.create_user(
            services.db,
            email=email,
            password=password,
            starter_credits=settings.console.starter_credits,
            email_verified=not verify,
        )
    except users.UserError as exc:
        return render_anonymous(
            request, "sign_up.html", status_code=400, error=str(exc), email=email
        )
    if verify:
        # If the email cannot go out now, the overview page offers to send it again.
        with contextlib.suppress(EmailError):
            await self_service.send_email_verification(
                services.db,
                settings.smtp,
                user_id=user.id,
                email=user.email,
                base_url=settings.public_url or str(request.base_url),
            )
    new = await sessions.start_session(
        services.db,
        user.id,
        address=_address(request),
        lifetime=timedelta(hours=settings.console.session_hours),
    )
    response = see_other("/console")
    set_session_cookie(request, response, new.token)
    return response


@router.get("/password")
async def password_form(request: Request) -> Response:
    """The change-password form."""
    user = await current_user(request)
    done = request.query_params.get("changed") == "1"
    return render(request, "password.html", user, section="password", error="", done=done)


@router.post("/password")
async def change_password(request: Request) -> Response:
    """Set a new password; every other session of this user ends."""
    form = await read_form(request)
    user = await form_user(request, form)
    new, again = _text(form.get("new_password")), _text(form.get("new_password_again"))
    error = "" if new == again else "The two new passwords are not the same."
    if not error:
        try:
            await users.change_password(
                services_of(request).db,
                user.user_id,
                current=_text(form.get("current_password")),
                new=new,
                keep_session=user.session_id,
            )
        except users.UserError as exc:
            error = str(exc)
    if not error:
        return see_other("/console/password?changed=1")
    return render(
        request, "password.html", user, status_code=400, section="password", error=error, done=False
    )
