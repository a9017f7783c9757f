"""Operator pages for accounts and people: create an account, invite a user, make or unmake an
operator, send a password-reset link, disable a user, create and revoke an account's keys.

Emails that could not go out (no SMTP server set) are shown to the operator who asked, clearly
marked, with their link. Destructive and money-moving actions ask first (console/confirm.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from grokimagine.console.admin.accounts import NEW_KEY_COOKIE, account_path, render_account
from grokimagine.console.confirm import ask_first, confirmed
from grokimagine.console.forms import check_address, form_choice, read_form
from grokimagine.console.web import (
    PageError,
    admin_user,
    carry_once,
    form_user,
    render,
    see_other,
    services_of,
)
from grokimagine.domain.accounts import accounts, users
from grokimagine.domain.accounts.sessions import SessionUser
from grokimagine.domain.billing.plans import plan_catalog
from grokimagine.domain.operator import people
from grokimagine.net.mailer import EmailError

router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(check_address)])


class NewAccountForm(BaseModel):
    """The create-account form."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    name: str = Field("", max_length=200)
    plan: str = "free"
    credits: int = Field(0, ge=0, le=1_000_000_000)
    allow_spicy: bool = False
    invite_email: str = ""


class InviteForm(BaseModel):
    """The invite-a-user form."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    email: str = Field("", max_length=254)
    operator: bool = False


def _fields(form: FormData) -> dict[str, Any]:
    # Checkboxes post "on" (or nothing); pydantic reads "on"/"off" as booleans.
    return {name: value for name, value in form.items() if isinstance(value, str)}


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}"


def base_url_of(request: Request) -> str:
    """Where emailed links point: the public URL if set, else this request's host."""
    return services_of(request).settings.public_url or str(request.base_url)


def _email_outcome(sent_email: Any) -> dict[str, Any]:
    if sent_email.delivered:
        return {"notice": f"Email sent to {sent_email.to}."}
    # No SMTP server: the operator sees the message, to pass on by hand.
    return {"notice": "", "unsent_email": sent_email}


@router.get("/accounts/new")
async def new_account_form(request: Request) -> Response:
    """The form that creates an account."""
    user = await admin_user(request)
    plans = plan_catalog(services_of(request).settings).names()
    return render(
        request, "admin/new_account.html", user, section="admin-accounts", plans=plans, error=""
    )


@router.post("/accounts/new")
async def create_account(request: Request) -> Response:
    """Create the account (its opening grant in the ledger, audited), then optionally invite its
    first user."""
    form = await read_form(request)
    user = await form_user(request, form, admin=True)
    services = services_of(request)
    plans = plan_catalog(services.settings)
    try:
        order = NewAccountForm.model_validate(_fields(form))
    except ValidationError as exc:
        return render(
            request,
            "admin/new_account.html",
            user,
            status_code=400,
            section="admin-accounts",
            plans=plans.names(),
            error=_problem(exc),
        )
    if order.credits and not confirmed(form):
        return ask_first(
            request,
            user,
            form,
            title=f"Create an account with {order.credits:,} credits?",
            consequence=f"A new {order.plan} account{f' ({order.name})' if order.name else ''} "
            f"opens with a grant of {order.credits:,} credits, recorded under your name.",
            button="Create account",
            back="/admin/accounts/new",
            danger=False,
        )
    try:
        account = await accounts.create_account(
            services.db,
            plan=order.plan,
            credits_granted=order.credits,
            allow_spicy=order.allow_spicy,
            name=order.name,
            plans=plans,
            actor=user.actor(),
        )
    except ValueError as exc:
        return render(
            request,
            "admin/new_account.html",
            user,
            status_code=400,
            section="admin-accounts",
            plans=plans.names(),
            error=str(exc),
        )
    if not order.invite_email:
        return see_other(f"/admin/accounts/{account.id}?notice=Account+created.")
    return await _invite(request, user, account.id, InviteForm(email=order.invite_email))


async def _invite(
    request: Request, user: SessionUser, account_id: str, order: InviteForm
) -> Response:
    services = services_of(request)
    try:
        invitation = await people.invite_user(
            services.db,
            services.settings.smtp,
            user.actor(),
            account_id=account_id,
            email=order.email,
            admin=order.operator,
            base_url=base_url_of(request),
            inviter=user.email,
        )
    except users.UserError as exc:
        return await render_account(request, user, account_id, status_code=400, error=str(exc))
    except accounts.AccountNotFoundError:
        raise PageError(404, "There is no such account.") from None
    except EmailError as exc:
        return await render_account(
            request,
            user,
            account_id,
            status_code=502,
            error=f"The user was added but the invitation was not sent: {exc}. "
            "Use 'Send password link' to try again.",
        )
    return await render_account(request, user, account_id, **_email_outcome(invitation.sent.email))


@router.post("/accounts/{account_id}/invite")
async def invite(request: Request, account_id: str) -> Response:
    """Add a user to the account and email them a link where they choose their password."""
    form = await read_form(request)
    user = await form_user(request, form, admin=True)
    try:
        order = InviteForm.model_validate(_fields(form))
    except ValidationError as exc:
        return await render_account(request, user, account_id, status_code=400, error=_problem(exc))
    return await _invite(request, user, account_id, order)


async def _person_form(request: Request, user_id: str) -> tuple[FormData, SessionUser, users.User]:
    """The posted form, its operator (CSRF checked first) and the user it is about (404)."""
    form = await read_form(request)
    user = await form_user(request, form, admin=True)
    person = await users.get_user(services_of(request).db, user_id)
    if person is None:
        raise PageError(404, "There is no such user.")
    return form, user, person


async def _change_person(
    request: Request,
    form: FormData,
    user: SessionUser,
    person: users.User,
    change: Callable[[], Awaitable[object]],
    *,
    ask: bool,
    title: str,
    consequence: str,
    button: str,
    notice: str,
) -> Response:
    """Make ``change`` to ``person`` and go back to their account's page with ``notice``.
    Where ``ask`` (the change takes something from them), a page asks first: ``title``,
    ``consequence`` and ``button`` as ``ask_first`` takes them. A change that would lock the
    operator out is refused on the account's page instead."""
    back = f"/admin/accounts/{person.account_id}"
    if ask and not confirmed(form):
        return ask_first(
            request,
            user,
            form,
            title=title,
            consequence=consequence,
            button=button,
            back=back,
        )
    try:
        await change()
    except people.SelfLockoutError as exc:
        return await render_account(
            request, user, person.account_id, status_code=400, error=str(exc)
        )
    return see_other(f"{back}?notice={notice.replace(' ', '+')}")


@router.post("/users/{user_id}/reset")
async def send_reset(request: Request, user_id: str) -> Response:
    """Email the user a single-use link to choose a new password."""
    _, user, person = await _person_form(request, user_id)
    services = services_of(request)
    try:
        sent = await people.send_password_reset(
            services.db,
            services.settings.smtp,
            user.actor(),
            user_id,
            base_url=base_url_of(request),
        )
    except users.UserError as exc:
        return await render_account(
            request, user, person.account_id, status_code=400, error=str(exc)
        )
    except EmailError as exc:
        return await render_account(
            request, user, person.account_id, status_code=502, error=f"Not sent: {exc}"
        )
    return await render_account(request, user, person.account_id, **_email_outcome(sent.email))


@router.post("/users/{user_id}/operator")
async def set_operator(request: Request, user_id: str) -> Response:
    """Make the user an operator, or take the role away (asks first)."""
    form, user, person = await _person_form(request, user_id)
    make = form_choice(form, "operator", ("yes", "no")) == "yes"
    db = services_of(request).db
    return await _change_person(
        request,
        form,
        user,
        person,
        lambda: people.set_operator(db, user.actor(), user_id, make),
        ask=not make,
        title=f"Take the operator role from {person.email}?",
        consequence="They are signed out everywhere and lose every /admin page.",
        button="Remove operator role",
        notice=f"{person.email} is {'now' if make else 'no longer'} an operator.",
    )


@router.post("/users/{user_id}/state")
async def set_user_state(request: Request, user_id: str) -> Response:
    """Disable the user (asks first) or enable them again."""
    form, user, person = await _person_form(request, user_id)
    disable = form_choice(form, "state", ("disabled", "active")) == "disabled"
    db = services_of(request).db
    return await _change_person(
        request,
        form,
        user,
        person,
        lambda: people.set_user_disabled(db, user.actor(), user_id, disable),
        ask=disable,
        title=f"Disable the user {person.email}?",
        consequence="They are signed out everywhere, cannot sign in, and their emailed "
        "links stop working. The account and its API keys stay as they are.",
        button="Disable user",
        notice=f"User {'disabled' if disable else 'enabled'}.",
    )


@router.post("/accounts/{account_id}/keys")
async def create_key(request: Request, account_id: str) -> Response:
    """A new API key for the account, then the account's page, which shows its token once."""
    form = await read_form(request)
    user = await form_user(request, form, admin=True)
    name = form.get("name")
    live = form_choice(form, "kind", ("live", "test"), default="live") == "live"
    try:
        new_key = await accounts.create_key(
            services_of(request).db,
            account_id,
            live=live,
            name=name if isinstance(name, str) else "",
            actor=user.actor(),
        )
    except accounts.AccountNotFoundError:
        raise PageError(404, "There is no such account.") from None
    page = account_path(account_id)
    response = see_other(f"{page}?notice=Key+created.")
    carry_once(request, response, NEW_KEY_COOKIE, f"{new_key.key.id}:{new_key.token}", page)
    return response


@router.post("/accounts/{account_id}/keys/{key_id}/revoke")
async def revoke_key(request: Request, account_id: str, key_id: str) -> Response:
    """Revoke one of the account's keys (asks first)."""
    form = await read_form(request)
    user = await form_user(request, form, admin=True)
    if not confirmed(form):
        return ask_first(
            request,
            user,
            form,
            title=f"Revoke the key {key_id}?",
            consequence="Every request made with it is refused from now on. This cannot be "
            "undone: the customer needs a new key.",
            button="Revoke key",
            back=f"/admin/accounts/{account_id}",
        )
    revoked = await accounts.revoke_key(
        services_of(request).db, key_id, actor=user.actor(), account_id=account_id
    )
    request.app.state.authenticator.forget_account(account_id)
    if not revoked:
        return await render_account(
            request, user, account_id, status_code=404, error="No such active key."
        )
    return see_other(f"/admin/accounts/{account_id}?notice=Key+revoked.")
