"""The served application: the API's app with the console added (routes, static files, headers,
error pages). ``grokimagine serve`` runs :func:`create_app_from_env`."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from grokimagine.console.admin import accounts as admin_pages
from grokimagine.console.admin import business_settings as admin_settings
from grokimagine.console.admin import keys as admin_key_pages
from grokimagine.console.admin import money as admin_money
from grokimagine.console.admin import people as admin_people
from grokimagine.console.admin import reports as admin_reports
from grokimagine.console.admin import tasks as admin_tasks
from grokimagine.console.customer import auth_pages, link_pages, pages, playground, video_forms
from grokimagine.console.customer import billing as billing_pages
from grokimagine.console.customer import self_service as self_service_pages
from grokimagine.console.customer import webhooks as webhook_pages
from grokimagine.console.security import ADMIN_API_PREFIX, CONSOLE_PREFIXES, ConsoleHeaders
from grokimagine.console.web import HERE, PageError, SignInRequired, render, sign_in_redirect
from grokimagine.http import app as api
from grokimagine.http.app import BackgroundWorker
from grokimagine.http.envelope import error_response
from grokimagine.http.fields import FieldError
from grokimagine.services import Services
from grokimagine.settings import Settings

API_PREFIXES = ("/console/api/", "/admin/api/")


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIXES)


def _is_page(path: str) -> bool:
    return path.startswith(CONSOLE_PREFIXES) and not path.startswith(ADMIN_API_PREFIX)


def create_app(
    services: Services,
    *,
    worker: BackgroundWorker | None = None,
    webhooks: BackgroundWorker | None = None,
) -> FastAPI:
    """The API over ``services`` (see :func:`grokimagine.http.app.create_app`) with the console."""
    app = api.create_app(services, worker=worker, webhooks=webhooks)
    install_console(app, services.settings)
    return app


def create_app_from_env() -> FastAPI:
    """The app of one ``serve`` process, console included (uvicorn's factory)."""
    return api.create_app_from_env(create_app)


def install_console(app: FastAPI, settings: Settings) -> None:
    """Serve the console under ``/console`` and the operator pages under ``/admin``."""
    app.include_router(auth_pages.router)
    app.include_router(self_service_pages.router)
    app.include_router(webhook_pages.router)
    app.include_router(link_pages.router)
    app.include_router(pages.router)
    app.include_router(playground.router)
    app.include_router(video_forms.router)
    # Before admin_pages: /admin/accounts/new must not be read as an account id.
    app.include_router(admin_people.router)
    app.include_router(admin_key_pages.router)
    app.include_router(admin_settings.router)
    app.include_router(admin_pages.router)
    app.include_router(admin_tasks.router)
    app.include_router(admin_reports.router)
    app.include_router(billing_pages.router)
    app.include_router(admin_money.router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")

    @app.get("/", include_in_schema=False)
    async def home() -> Response:
        return Response(status_code=307, headers={"Location": "/console"})

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _: SignInRequired) -> Response:
        if _wants_json(request):
            return error_response(401, "UNAUTHORIZED", "Unauthorized: sign in to the console")
        return sign_in_redirect(request)

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> Response:
        if _wants_json(request):
            code = {403: "FORBIDDEN", 404: "NOT_FOUND"}.get(exc.status, "INVALID_REQUEST")
            return error_response(exc.status, code, exc.message)
        return render(
            request,
            "error.html",
            None,
            status_code=exc.status,
            status=exc.status,
            message=exc.message,
        )

    api_field_error = app.exception_handlers[FieldError]

    @app.exception_handler(FieldError)
    async def _field_error(request: Request, exc: FieldError) -> Response:
        # A page's refused field gets a page naming it; the API (and /console/api) keep JSON.
        if not _is_page(request.url.path):
            return await api_field_error(request, exc)
        if _wants_json(request):
            return error_response(400, "INVALID_REQUEST", f"Invalid request: {exc}")
        message = f"The {exc.field} field is not valid: {exc.why}."
        return render(request, "error.html", None, status_code=400, status=400, message=message)

    api_unexpected = app.exception_handlers[Exception]

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # Logged by the API's handler; a page gets a page rather than the API's JSON body.
        response = await api_unexpected(request, exc)
        path = request.url.path
        if not _is_page(path) or _wants_json(request):
            return response
        message = "Something went wrong on our side. Try again in a moment."
        return render(request, "error.html", None, status_code=500, status=500, message=message)

    api_http_error = app.exception_handlers[StarletteHTTPException]

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Unknown console pages get a page; the API (admin API included) keeps its JSON.
        path = request.url.path
        if (
            exc.status_code == 404
            and path.startswith(CONSOLE_PREFIXES)
            and not path.startswith(ADMIN_API_PREFIX)
            and not _wants_json(request)
        ):
            return render(
                request,
                "error.html",
                None,
                status_code=404,
                status=404,
                message="This page does not exist.",
            )
        return await api_http_error(request, exc)

    app.add_middleware(ConsoleHeaders, settings=settings)
