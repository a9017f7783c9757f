"""The operator's business settings page (``/admin/settings``): plans, the price table, sign-ups,
starter credits, the fetch allow-list and retention, saved as a new version after a
confirmation that lists what changes. The admin API edits the same versions."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from grokimagine.console.confirm import ask_first, confirmed
from grokimagine.console.forms import check_address, read_form
from grokimagine.console.web import admin_user, form_user, render, see_other, services_of
from grokimagine.domain.accounts import users
from grokimagine.domain.accounts.sessions import SessionUser
from grokimagine.domain.operator import business_settings
from grokimagine.domain.operator.business_settings import BusinessSettingsError, BusinessValues
from grokimagine.domain.tasks.retention import storage_by_account

router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(check_address)])

JSON_FIELDS = ("plans", "plan_limits", "price_table", "retention_days")


class SettingsForm(BaseModel):
    """The settings form as posted: JSON text in the textareas, one allow-list entry a line."""

    model_config = ConfigDict(extra="ignore")

    based_on: int = Field(0, ge=0)
    signup: str = "closed"
    starter_credits: str = "0"
    fetch_allowlist: str = ""
    plans: str = "{}"
    plan_limits: str = "{}"
    price_table: str = ""
    retention_days: str = "{}"
    note: str = Field("", max_length=200)

    def values(self) -> BusinessValues:
        """The values, checked; :class:`BusinessSettingsError` names the field at fault."""
        raw: dict[str, Any] = {
            "signup": self.signup,
            "starter_credits": self.starter_credits.strip() or "0",
            "fetch_allowlist": [line.strip() for line in self.fetch_allowlist.splitlines()],
        }
        for name in JSON_FIELDS:
            text = getattr(self, name).strip()
            if name == "price_table" and not text:
                raw[name] = None
                continue
            try:
                raw[name] = json.loads(text or "{}")
            except json.JSONDecodeError as exc:
                raise BusinessSettingsError(f"{name}: not valid JSON ({exc.msg})") from None
        raw["fetch_allowlist"] = [entry for entry in raw["fetch_allowlist"] if entry]
        return business_settings.parse_values(raw)


def _as_text(values: BusinessValues) -> dict[str, str]:
    dumped = values.model_dump(mode="json")
    shown = {name: json.dumps(dumped[name], indent=2) for name in JSON_FIELDS}
    if dumped["price_table"] is None:
        shown["price_table"] = ""
    shown["fetch_allowlist"] = "\n".join(dumped["fetch_allowlist"])
    shown["starter_credits"] = str(dumped["starter_credits"])
    shown["signup"] = dumped["signup"]
    return shown


async def _page(
    request: Request,
    user: SessionUser,
    *,
    status_code: int = 200,
    error: str = "",
    shown: dict[str, str] | None = None,
    based_on: int | None = None,
) -> Response:
    services = services_of(request)
    await business_settings.refresh_business_settings(services, force=True)
    versions = await business_settings.history(services.db, 20)
    current = versions[0]
    return render(
        request,
        "admin/settings.html",
        user,
        status_code=status_code,
        section="admin-settings",
        current=current,
        shown=shown or _as_text(current.values),
        based_on=current.version if based_on is None else based_on,
        versions=versions,
        people_by_id=await users.emails_of(services.db, (v.actor for v in versions)),
        notice=request.query_params.get("notice", ""),
        error=error,
    )


@router.get("/settings")
async def settings_page(request: Request) -> Response:
    """The settings in force, editable, and their history."""
    return await _page(request, await admin_user(request))


@router.post("/settings")
async def save_settings(request: Request) -> Response:
    """Check the values, ask first (naming what changes), then save the next version."""
    form = await read_form(request)
    user = await form_user(request, form, admin=True)
    posted = {name: value for name, value in form.items() if isinstance(value, str)}
    try:
        order = SettingsForm.model_validate(posted)
    except ValueError:
        return await _page(request, user, status_code=400, error="The form is not valid.")
    services = services_of(request)
    try:
        values = order.values()
        business_settings.apply_values(services.settings, values)  # named errors, before asking
        if not confirmed(form):
            current = await business_settings.current_version(services.db)
            old = current.values.model_dump(mode="json") if current else {}
            new = values.model_dump(mode="json")
            changed = [name for name in new if old.get(name) != new[name]]
            if not changed:
                return await _page(request, user, error="Nothing changed.", status_code=400)
            return ask_first(
                request,
                user,
                form,
                title=f"Save the business settings ({', '.join(changed)})?",
                consequence=f"Version {order.based_on + 1} takes effect now: {', '.join(changed)} "
                "change. A new price applies to tasks submitted from now on; tasks already "
                "charged keep their price.",
                button="Save settings",
                back="/admin/settings",
            )
        version = await business_settings.change_business_settings(
            services, user.actor(), values, based_on=order.based_on, note=order.note
        )
    except BusinessSettingsError as exc:
        shown = {name: value for name, value in posted.items() if name in SettingsForm.model_fields}
        return await _page(
            request, user, status_code=400, error=str(exc), shown=shown, based_on=order.based_on
        )
    return see_other(f"/admin/settings?notice=Saved+as+version+{version.version}.")


@router.get("/storage")
async def storage_page(request: Request) -> Response:
    """Bytes stored per account and what the next retention purge will free."""
    user = await admin_user(request)
    services = services_of(request)
    await business_settings.refresh_business_settings(services, force=True)
    lines = await storage_by_account(services.db, services.store, services.retention_days)
    return render(
        request,
        "admin/storage.html",
        user,
        section="admin-storage",
        lines=lines,
        total=sum(line.bytes for line in lines),
        next_purge=sum(line.next_purge_bytes for line in lines),
        retention=services.retention_days,
    )
