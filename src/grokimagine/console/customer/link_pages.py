"""The page a single-use link opens: an invited person, or one who asked for a reset, chooses a
password there. Setting it spends the link, ends every session of the user, and signs them in."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from grokimagine.console.customer.auth_pages import set_session_cookie
from grokimagine.console.forms import check_address, read_form
from grokimagine.console.web import (
    check_anonymous_form,
    render_anonymous,
    see_other,
    services_of,
)
from grokimagine.domain.accounts import sessions, two_factor, users
from grokimagine.domain.accounts.tokens import (
    PASSWORD_PURPOSES,
    LinkTokenError,
    find_link,
    set_password_from_link,
)

router = APIRouter(
    prefix="/console", include_in_schema=False, dependencies=[Depends(check_address)]
)

_INVALID = str(LinkTokenError())


class SetPasswordForm(BaseModel):
    """The set-password form, as posted."""

    model_config = ConfigDict(extra="ignore")

    token: str = ""
    new_password: str = ""
    new_password_again: str = ""


def _page(request: Request, *, token: str, email: str, purpose: str, error: str, status: int):
    # The token is in this page's URL: the console's headers (console/security.py) keep it out of
    # caches (no-store) and out of other sites' Referer (same-origin).
    return render_anonymous(
        request,
        "set_password.html",
        status_code=status,
        token=token,
        email=email,
        purpose=purpose,
        error=error,
    )


@router.get("/set-password")
async def set_password_form(request: Request) -> Response:
    """The form, or why the link no longer works (it is not spent by looking at it)."""
    token = request.query_params.get("token", "")
    link = await find_link(services_of(request).db, token, PASSWORD_PURPOSES)
    if link is None:
        return _page(request, token="", email="", purpose="", error=_INVALID, status=410)
    return _page(request, token=token, email=link.email, purpose=link.purpose, error="", status=200)


@router.post("/set-password")
async def set_password(request: Request) -> Response:
    """Spend the link and set the password; then a fresh session, every other one ended."""
    raw = await read_form(request)
    check_anonymous_form(request, raw)
    try:
        form = SetPasswordForm.model_validate(
            {key: value for key, value in raw.items() if isinstance(value, str)}
        )
    except ValidationError:
        form = SetPasswordForm()
    services = services_of(request)
    link = await find_link(services.db, form.token, PASSWORD_PURPOSES)
    if link is None:
        return _page(request, token="", email="", purpose="", error=_INVALID, status=410)
    error = ""
    if form.new_password != form.new_password_again:
        error = "The two passwords are not the same."
    else:
        try:
            user_id = await set_password_from_link(services.db, form.token, form.new_password)
        except LinkTokenError as exc:
            return _page(request, token="", email="", purpose="", error=str(exc), status=410)
        except users.UserError as exc:
            error = str(exc)
    if error:
        return _page(
            request,
            token=form.token,
            email=link.email,
            purpose=link.purpose,
            error=error,
            status=400,
        )
    if await two_factor.is_enabled(services.db, user_id):
        # The link proves the email, not the second factor: sign in with both (issue 25).
        return see_other("/console/sign-in?reset=1")
    address = request.client.host if request.client else "unknown"
    new = await sessions.start_session(
        services.db,
        user_id,
        address=address,
        lifetime=timedelta(hours=services.settings.console.session_hours),
    )
    response = see_other("/console")
    set_session_cookie(request, response, new.token)
    return response
