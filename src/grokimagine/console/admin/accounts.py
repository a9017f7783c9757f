"""The operator's pages under ``/admin`` (admin role only), over the admin domain functions that
the admin API (``/admin/v1``) uses too. Every change is recorded in the audit log under the
signed-in operator's user id."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from grokimagine.console.confirm import ask_first, confirmed
from grokimagine.console.forms import (
    check_address,
    form_choice,
    form_credits,
    form_text,
    query_choice,
    query_text,
    read_form,
)
from grokimagine.console.web import (
    PageError,
    admin_user,
    drop_carried,
    form_user,
    render,
    see_other,
    services_of,
    shown_token,
)
from grokimagine.domain.accounts import accounts, users
from grokimagine.domain.accounts.audit import audit_page
from grokimagine.domain.accounts.sessions import SessionUser
from grokimagine.domain.billing.credits import BalanceLimitError, BalanceTooLowError
from grokimagine.domain.billing.plans import UnknownPlanError, plan_catalog
from grokimagine.domain.billing.usage import ledger_page
from grokimagine.domain.cursors import InvalidCursorError
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.domain.operator import accounts as account_admin
from grokimagine.domain.operator import tasks as task_admin

router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(check_address)])

PAGE = 50
MAX_REASON = 200
STATES = {"active": False, "disabled": True}


def bad_cursor() -> PageError:
    return PageError(400, "That page link is not valid. Start from the first page.")


@router.get("")
async def accounts_page(request: Request) -> Response:
    """Accounts, newest first: search by id or name, filter by plan and state."""
    user = await admin_user(request)
    services = services_of(request)
    query = request.query_params
    state = query_choice(request, "state", STATES)
    plan = query_choice(request, "plan", plan_catalog(services.settings).names())
    search = query_text(request, "q")
    try:
        page = await account_admin.search_accounts(
            services.db,
            limit=PAGE,
            cursor=query.get("cursor") or None,
            query=search or None,
            plan=plan,
            disabled=STATES[state] if state else None,
        )
    except InvalidCursorError:
        raise bad_cursor() from None
    return render(
        request,
        "admin/accounts.html",
        user,
        section="admin-accounts",
        accounts=page.accounts,
        next_cursor=page.next_cursor,
        q=search,
        plan=plan or "",
        state=state or "",
        plans=plan_catalog(services.settings).names(),
    )


# The token of a key just made for the account, carried to its page (web.carry_once).
NEW_KEY_COOKIE = "gi_admin_new_key"


def account_path(account_id: str) -> str:
    """The account's page, where its new key's token is carried."""
    return f"/admin/accounts/{account_id}"


@router.get("/accounts/{account_id}")
async def account_page(request: Request, account_id: str) -> Response:
    """One account: its state, credits, users, keys (a new one's token, once), tasks, ledger
    and audit trail."""
    response = await render_account(
        request,
        await admin_user(request),
        account_id,
        carried_key=request.cookies.get(NEW_KEY_COOKIE),
    )
    drop_carried(request, response, NEW_KEY_COOKIE, account_path(account_id))
    return response


async def render_account(
    request: Request,
    user: SessionUser,
    account_id: str,
    *,
    status_code: int = 200,
    carried_key: str | None = None,
    **extra: Any,
) -> Response:
    """The account page, with ``extra`` context (an email not sent) and the token of a new key
    (``carried_key``, ``key_id:token``) if it is one of the account's."""
    services = services_of(request)
    try:
        account = await accounts.get_account(services.db, account_id)
    except accounts.AccountNotFoundError:
        raise PageError(404, "There is no such account.") from None
    recent = await task_admin.list_all_tasks(services.db, limit=10, account_id=account_id)
    audit = (await audit_page(services.db, limit=20, target_id=account_id)).entries
    keys = await accounts.list_keys(services.db, account_id)
    return render(
        request,
        "admin/account.html",
        user,
        section="admin-accounts",
        account=account,
        people=await users.users_of_account(services.db, account_id),
        keys=keys,
        new_token=shown_token(carried_key, keys),
        tasks=recent.records,
        ledger=(await ledger_page(services.db, account_id, limit=20, cursor=None)).entries,
        audit=audit,
        people_by_id=await users.emails_of(services.db, (entry["actor"] for entry in audit)),
        plans=plan_catalog(services.settings).names(),
        notice=extra.pop("notice", request.query_params.get("notice", "")),
        error=extra.pop("error", request.query_params.get("error", "")),
        status_code=status_code,
        **extra,
    )


def with_message(path: str, notice: str, error: str) -> Response:
    # The message comes back as text in the query and is shown escaped, like any input.
    query = urlencode(
        {key: value for key, value in (("notice", notice), ("error", error)) if value}
    )
    return see_other(path + (f"?{query}" if query else ""))


def _back(account_id: str, *, notice: str = "", error: str = "") -> Response:
    return with_message(account_path(account_id), notice, error)


@router.post("/accounts/{account_id}/plan")
async def change_plan(request: Request, account_id: str) -> Response:
    """Move the account to another plan (asks first)."""
    form = await read_form(request)
    user = await form_user(request, form, admin=True)
    services = services_of(request)
    plan = form_text(form, "plan", max_chars=40, required=True)
    plans = plan_catalog(services.settings)
    try:
        plans.get(plan)  # an unknown plan is named before anything is asked
        if not confirmed(form):
            account = await accounts.get_account(services.db, account_id)
            return ask_first(
                request,
                user,
                form,
                title=f"Move account {account_id} from the {account.plan} plan to {plan}?",
                consequence=f"From now on the {plan} plan's limits apply to it (requests per "
                "minute, active tasks, spicy), as do its monthly credits and how long its videos "
                "are kept. The change is audited under your name.",
                button=f"Move to {plan}",
                back=account_path(account_id),
                danger=False,
            )
        await account_admin.change_plan(services.db, user.actor(), account_id, plan, plans)
    except UnknownPlanError as exc:
        return _back(account_id, error=str(exc))
    except accounts.AccountNotFoundError:
        raise PageError(404, "There is no such account.") from None
    return _back(account_id, notice=f"Plan changed to {plan}.")


@router.post("/accounts/{account_id}/spicy")
async def set_spicy(request: Request, account_id: str) -> Response:
    """Allow or forbid spicy mode."""
    form = await read_form(request)
    user = await form_user(request, form, admin=True)
    allowed = form_choice(form, "allow", ("yes", "no")) == "yes"
    try:
        await account_admin.set_spicy(services_of(request).db, user.actor(), account_id, allowed)
    except accounts.AccountNotFoundError:
        raise PageError(404, "There is no such account.") from None
    return _back(account_id, notice="Spicy allowed." if allowed else "Spicy forbidden.")


@router.post("/accounts/{account_id}/state")
async def set_state(request: Request, account_id: str) -> Response:
    """Disable (keys refused, nothing spent) or enable the account."""
    form = await read_form(request)
    user = await form_user(request, form, admin=True)
    db = services_of(request).db
    disable = STATES[form_choice(form, "state", STATES)]
    if disable and not confirmed(form):
        return ask_first(
            request,
            user,
            form,
            title=f"Disable account {account_id}?",
            consequence="Its API keys will be refused (403 ACCOUNT_DISABLED) and it cannot "
            "start new videos until an operator enables it again. Queued tasks still run.",
            button="Disable account",
            back=f"/admin/accounts/{account_id}",
        )
    try:
        if disable:
            await account_admin.disable_account(db, user.actor(), account_id)
        else:
            await account_admin.enable_account(db, user.actor(), account_id)
    except accounts.AccountNotFoundError:
        raise PageError(404, "There is no such account.") from None
    return _back(account_id, notice="Account disabled." if disable else "Account enabled.")


@router.post("/accounts/{account_id}/credits")
async def move_credits(request: Request, account_id: str) -> Response:
    """Grant or deduct credits, with a reason (a ledger row and an audit entry)."""
    form = await read_form(request)
    user = await form_user(request, form, admin=True)
    db = services_of(request).db
    # Each field by the admin API's rules: a wrong value is a 400 naming it, never a default.
    amount = form_credits(form, "amount")
    deducting = form_choice(form, "direction", ("grant", "deduct")) == "deduct"
    reason = form_text(form, "reason", max_chars=MAX_REASON, required=True)
    if not confirmed(form):
        verb, where = ("Deduct", "from") if deducting else ("Grant", "to")
        return ask_first(
            request,
            user,
            form,
            title=f"{verb} {amount:,} credits {where} account {account_id}?",
            consequence=f"{verb} {amount:,} credits (reason: {reason}). "
            "A ledger row and an audit entry record it under your name.",
            button=f"{verb} {amount:,} credits",
            back=f"/admin/accounts/{account_id}",
            danger=deducting,
        )
    move = account_admin.deduct if deducting else account_admin.grant
    try:
        balance = await move(db, user.actor(), account_id, amount, reason)
    except BalanceTooLowError:
        return _back(account_id, error="The balance is too low for that deduction.")
    except BalanceLimitError:
        return _back(account_id, error="That grant would take the balance past its limit.")
    except InvalidRequestError as exc:
        return _back(account_id, error=str(exc))
    except accounts.AccountNotFoundError:
        raise PageError(404, "There is no such account.") from None
    verb = "Deducted" if deducting else "Granted"
    return _back(account_id, notice=f"{verb} {amount:,} credits. Balance: {balance:,}.")
