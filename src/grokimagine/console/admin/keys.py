"""Operator page for admin keys (the tokens of ``/admin/v1``): list, create (shown once),
revoke (asks first)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from grokimagine.console.confirm import ask_first, confirmed
from grokimagine.console.forms import check_address, read_form
from grokimagine.console.web import (
    admin_user,
    carry_once,
    drop_carried,
    form_user,
    render,
    see_other,
    services_of,
    shown_token,
)
from grokimagine.domain.accounts import admin_keys
from grokimagine.domain.accounts.sessions import SessionUser

router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(check_address)])
PAGE = "/admin/admin-keys"
# The token of an admin key just made, carried to the page (web.carry_once).
NEW_KEY_COOKIE = "gi_new_admin_key"


async def _page(
    request: Request,
    user: SessionUser,
    *,
    status_code: int = 200,
    carried: str | None = None,
    **extra: object,
) -> Response:
    keys = await admin_keys.list_admin_keys(services_of(request).db)
    return render(
        request,
        "admin/admin_keys.html",
        user,
        status_code=status_code,
        section="admin-keys",
        keys=list(reversed(keys)),
        new_token=shown_token(carried, keys),
        notice=extra.pop("notice", request.query_params.get("notice", "")),
        error=extra.pop("error", ""),
        **extra,
    )


@router.get("/admin-keys")
async def admin_keys_page(request: Request) -> Response:
    """Every admin key, newest first (a new one's token, once)."""
    response = await _page(
        request, await admin_user(request), carried=request.cookies.get(NEW_KEY_COOKIE)
    )
    drop_carried(request, response, NEW_KEY_COOKIE, PAGE)
    return response


@router.post("/admin-keys")
async def create_admin_key(request: Request) -> Response:
    """A new admin key, then the page, which shows its token once."""
    form = await read_form(request)
    user = await form_user(request, form, admin=True)
    name = form.get("name")
    new = await admin_keys.create_admin_key(
        services_of(request).db, user.actor(), name.strip() if isinstance(name, str) else ""
    )
    response = see_other(f"{PAGE}?notice=Admin+key+created.")
    carry_once(request, response, NEW_KEY_COOKIE, f"{new.key.id}:{new.token}", PAGE)
    return response


@router.post("/admin-keys/{key_id}/revoke")
async def revoke_admin_key(request: Request, key_id: str) -> Response:
    """Revoke an admin key (asks first)."""
    form = await read_form(request)
    user = await form_user(request, form, admin=True)
    if not confirmed(form):
        return ask_first(
            request,
            user,
            form,
            title=f"Revoke the admin key {key_id}?",
            consequence="Every /admin/v1 request made with it is refused from now on; scripts "
            "that use it stop working. This cannot be undone.",
            button="Revoke admin key",
            back=PAGE,
        )
    if not await admin_keys.revoke_admin_key(services_of(request).db, user.actor(), key_id):
        return await _page(request, user, status_code=404, error="No such active admin key.")
    return see_other(f"{PAGE}?notice=Admin+key+revoked.")
