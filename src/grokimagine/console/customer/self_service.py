"""Pages a customer helps themselves with (issue 25): forgot password, email verification, the
second step of a two-factor sign-in, and the security page that turns two-factor on and off."""

from __future__ import annotations

import json
from datetime import timedelta

from fastapi import APIRouter, Depends
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from grokimagine.console.customer.auth_pages import set_session_cookie
from grokimagine.console.forms import check_address, form_typed_credits, read_form
from grokimagine.console.web import (
    SECOND_FACTOR_COOKIE,
    carry_once,
    check_anonymous_form,
    current_user,
    drop_carried,
    form_user,
    render,
    render_anonymous,
    safe_next,
    see_other,
    services_of,
)
from grokimagine.domain.accounts import self_service, sessions, two_factor
from grokimagine.domain.accounts.tokens import LinkTokenError
from grokimagine.domain.billing import low_balance
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.http.fields import MAX_DIGITS
from grokimagine.http.v1.generate import limiter_of
from grokimagine.net.mailer import EmailError

router = APIRouter(
    prefix="/console", include_in_schema=False, dependencies=[Depends(check_address)]
)

CODES_COOKIE = "gi_recovery_codes"  # recovery codes, carried once to the page that shows them


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _base_url(request: Request) -> str:
    return services_of(request).settings.public_url or str(request.base_url)


async def _over_limit(request: Request, *keys: str) -> bool:
    limit = services_of(request).settings.selfservice.forgot_password_limit
    limiter = limiter_of(request)
    for key in keys:
        if not (await limiter.hit(limit, "console-self-service", key)).allowed:
            return True
    return False


# --- Forgot password ----------------------------------------------------------------------


@router.get("/forgot-password")
async def forgot_password_form(request: Request) -> Response:
    """Ask for a link to choose a new password."""
    sent = request.query_params.get("sent") == "1"
    return render_anonymous(request, "forgot_password.html", sent=sent, error="")


@router.post("/forgot-password")
async def forgot_password(request: Request) -> Response:
    """Email a single-use link if the address is a user's; the same answer either way."""
    form = await read_form(request)
    check_anonymous_form(request, form)
    email = _text(form.get("email")).strip().lower()[:254]
    if await _over_limit(request, "address:" + _address(request), "email:" + email):
        return render_anonymous(
            request,
            "forgot_password.html",
            status_code=429,
            sent=False,
            error="Too many requests. Wait a minute and try again.",
        )
    services = services_of(request)
    # Sent after the answer, so that its time does not tell who has an account.
    send = BackgroundTask(
        self_service.request_password_reset,
        services.db,
        services.settings.smtp,
        email,
        base_url=_base_url(request),
    )
    response = see_other("/console/forgot-password?sent=1")
    response.background = send
    return response


# --- Email verification -------------------------------------------------------------------


@router.get("/verify-email")
async def verify_email(request: Request) -> Response:
    """Open the emailed link: the email is verified (the link works once)."""
    try:
        await self_service.verify_email(services_of(request).db, request.query_params.get("token"))
    except LinkTokenError as exc:
        return render(
            request, "verify_email.html", None, status_code=410, verified=False, error=str(exc)
        )
    return render(request, "verify_email.html", None, verified=True, error="")


@router.post("/verify-email/resend")
async def resend_verification(request: Request) -> Response:
    """Send the signed-in user a new verification link."""
    form = await read_form(request)
    user = await form_user(request, form)
    if await _over_limit(request, "user:" + user.user_id):
        return see_other("/console?verification=limited")
    try:
        await self_service.send_email_verification(
            services_of(request).db,
            services_of(request).settings.smtp,
            user_id=user.user_id,
            email=user.email,
            base_url=_base_url(request),
        )
    except EmailError:
        return see_other("/console?verification=failed")
    return see_other("/console?verification=sent")


# --- The second step of a two-factor sign-in ------------------------------------------------


@router.get("/sign-in/code")
async def second_factor_form(request: Request) -> Response:
    """Ask for the code of the person's app (or a recovery code)."""
    token = request.cookies.get(SECOND_FACTOR_COOKIE)
    if await sessions.second_factor_user(services_of(request).db, token) is None:
        return see_other("/console/sign-in")
    return render_anonymous(
        request, "sign_in_code.html", error="", next=safe_next(request.query_params.get("next"))
    )


@router.post("/sign-in/code")
async def second_factor(request: Request) -> Response:
    """Check the code; a right one turns the half-done sign-in into a session."""
    form = await read_form(request)
    check_anonymous_form(request, form)
    services = services_of(request)
    token = request.cookies.get(SECOND_FACTOR_COOKIE) or ""
    user_id = await sessions.second_factor_user(services.db, token)
    if user_id is None:
        return see_other("/console/sign-in")
    next_page = safe_next(_text(form.get("next")))
    limit = services.settings.console.signin_email_limit
    attempt = await limiter_of(request).hit(limit, "console-second-factor", user_id)
    if not attempt.allowed:
        return render_anonymous(
            request,
            "sign_in_code.html",
            status_code=429,
            error="Too many codes tried. Wait a minute and try again.",
            next=next_page,
        )
    if not await two_factor.check_second_factor(services.db, user_id, _text(form.get("code"))):
        return render_anonymous(
            request,
            "sign_in_code.html",
            status_code=401,
            error="That code is not right (each code works once).",
            next=next_page,
        )
    new = await sessions.finish_second_factor(
        services.db,
        token,
        address=_address(request),
        lifetime=timedelta(hours=services.settings.console.session_hours),
    )
    if new is None:
        return see_other("/console/sign-in")
    response = see_other(next_page)
    set_session_cookie(request, response, new.token)
    response.delete_cookie(SECOND_FACTOR_COOKIE, path="/console/sign-in")
    return response


# --- Security: two-factor on and off --------------------------------------------------------

ERRORS = {
    "code": "That code is not right. Type the 6 digits your app shows now.",
    "state": "Start the setup again.",
}


@router.get("/security")
async def security_page(request: Request) -> Response:
    """Two-factor sign-in: its state, the pending setup, the recovery codes just made."""
    user = await current_user(request)
    db = services_of(request).db
    shown = request.cookies.get(CODES_COOKIE)
    codes: list[str] = []
    if shown and user.two_factor:
        try:
            codes = [str(code) for code in json.loads(shown)][: two_factor.RECOVERY_CODES]
        except ValueError:
            codes = []
    response = render(
        request,
        "security.html",
        user,
        section="security",
        enrolment=None
        if user.two_factor
        else await two_factor.pending_enrolment(db, user.user_id, user.email),
        codes=codes,
        codes_left=await two_factor.recovery_codes_left(db, user.user_id),
        notice=request.query_params.get("done", ""),
        error=ERRORS.get(request.query_params.get("error", ""), ""),
    )
    drop_carried(request, response, CODES_COOKIE, "/console/security")
    return response


@router.post("/security/two-factor/start")
async def start_two_factor(request: Request) -> Response:
    """Make a secret for the person's app (pending until its first code)."""
    form = await read_form(request)
    user = await form_user(request, form)
    try:
        await two_factor.start_enrolment(services_of(request).db, user.user_id, user.email)
    except two_factor.TwoFactorError:
        return see_other("/console/security?error=state")
    return see_other("/console/security")


@router.post("/security/two-factor/confirm")
async def confirm_two_factor(request: Request) -> Response:
    """The first code turns it on; the recovery codes are shown once, after the redirect."""
    form = await read_form(request)
    user = await form_user(request, form)
    try:
        codes = await two_factor.confirm_enrolment(
            services_of(request).db, user.user_id, _text(form.get("code"))
        )
    except two_factor.TwoFactorError:
        return see_other("/console/security?error=code")
    response = see_other("/console/security?done=on")
    carry_once(
        request,
        response,
        CODES_COOKIE,
        json.dumps(codes, separators=(",", ":")),
        "/console/security",
    )
    return response


@router.post("/security/two-factor/off")
async def turn_off_two_factor(request: Request) -> Response:
    """Turn it off with a current code or a recovery code."""
    form = await read_form(request)
    user = await form_user(request, form)
    try:
        await two_factor.turn_off(services_of(request).db, user.user_id, _text(form.get("code")))
    except two_factor.TwoFactorError:
        return see_other("/console/security?error=code")
    return see_other("/console/security?done=off")


# --- The low-balance email ------------------------------------------------------------------


@router.post("/billing/alert")
async def set_low_balance_alert(request: Request) -> Response:
    """Email the account's users when the balance falls below the amount (empty: never)."""
    form = await read_form(request)
    user = await form_user(request, form)
    never = not _text(form.get("threshold")).strip().replace(",", "")
    # Past MAX_DIGITS a number is over any threshold: refused unread, as the domain would.
    threshold = None if never else form_typed_credits(form, "threshold", max_digits=MAX_DIGITS)
    if not never and threshold is None:
        return see_other("/console/billing?alert=invalid")
    try:
        await low_balance.set_threshold(services_of(request).db, user.account_id, threshold)
    except InvalidRequestError:
        return see_other("/console/billing?alert=invalid")
    return see_other("/console/billing?alert=saved")
