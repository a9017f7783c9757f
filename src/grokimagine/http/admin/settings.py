"""Admin API, business settings: the version in force, its history, and a new version."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from grokimagine.domain.operator import business_settings
from grokimagine.domain.operator.business_settings import BusinessValues
from grokimagine.http.admin.accounts import services_of
from grokimagine.http.admin.auth import AdminActor
from grokimagine.http.admin.schemas import ADMIN_ERRORS
from grokimagine.http.envelope import success
from grokimagine.http.v1.schemas import Envelope, Error

router = APIRouter(prefix="/admin/v1", tags=["admin"], responses=ADMIN_ERRORS)


class SettingsVersion(BaseModel):
    """One version of the business settings."""

    version: int
    settings: dict[str, Any]
    actor: str = Field(description="Who saved it: a user id, an admin key id, env or cli.")
    note: str
    created_at: str


class SettingsHistory(BaseModel):
    """Versions, newest first."""

    versions: list[SettingsVersion]


class SettingsChange(BaseModel):
    """A new version: every value (as ``GET`` gives them), and the version it is based on."""

    model_config = ConfigDict(extra="forbid")

    settings: BusinessValues
    based_on: int = Field(ge=0, description="The version in force when you read it.")
    note: str = Field("", max_length=200)


@router.get(
    "/settings", summary="Business settings in force", response_model=Envelope[SettingsVersion]
)
async def get_settings(request: Request, actor: AdminActor) -> Response:
    """Plans, the price table, sign-ups, starter credits, the fetch allow-list, retention."""
    services = services_of(request)
    await business_settings.refresh_business_settings(services, force=True)
    found = await business_settings.current_version(services.db)
    assert found is not None  # the refresh seeds version 1
    return success(found.describe())


@router.get(
    "/settings/versions",
    summary="Business settings history",
    response_model=Envelope[SettingsHistory],
)
async def settings_history(
    request: Request, actor: AdminActor, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> Response:
    """Every version, newest first: who, when, and the values."""
    versions = await business_settings.history(services_of(request).db, limit)
    return success({"versions": [version.describe() for version in versions]})


@router.put(
    "/settings",
    summary="Change the business settings",
    response_model=Envelope[SettingsVersion],
    responses={409: {"model": Error, "description": "SETTINGS_CHANGED: based on an old version"}},
)
async def put_settings(request: Request, actor: AdminActor, body: SettingsChange) -> Response:
    """Validate the values as start-up does, store them as the next version (audited), apply
    them. A new price table prices only tasks submitted after it."""
    services = services_of(request)
    await business_settings.refresh_business_settings(services, force=True)
    version = await business_settings.change_business_settings(
        services, actor, body.settings, based_on=body.based_on, note=body.note
    )
    return success(version.describe())
