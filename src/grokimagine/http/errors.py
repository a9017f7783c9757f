"""API errors and the handlers that turn every failure into the reference page's error body."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match

from grokimagine.domain.accounts.accounts import AccountNotFoundError
from grokimagine.domain.accounts.self_service import EmailNotVerifiedError
from grokimagine.domain.billing.credits import (
    MAX_BALANCE,
    BalanceLimitError,
    BalanceTooLowError,
    InsufficientCreditsError,
)
from grokimagine.domain.billing.plans import UnknownPlanError
from grokimagine.domain.cursors import InvalidCursorError
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.domain.media.images import ImageRejected, ImageTooLargeError
from grokimagine.domain.media.video_sources import VideoRejected
from grokimagine.domain.operator.accounts import KeyNotFoundError
from grokimagine.domain.operator.business_settings import (
    BusinessSettingsError,
    StaleVersionError,
)
from grokimagine.domain.operator.tasks import TaskNotRefundableError
from grokimagine.domain.purchases.checkout import PaymentProviderError, PaymentsNotConfiguredError
from grokimagine.domain.purchases.credit_amounts import AmountsNotOnSaleError
from grokimagine.domain.purchases.credit_packs import PackNotFoundError
from grokimagine.domain.purchases.plan_prices import PlanPriceNotFoundError
from grokimagine.domain.purchases.redemption_codes import CodeNotRedeemableError
from grokimagine.domain.purchases.stripe_events import (
    PaymentNotYetKnownError,
    WebhookSignatureError,
)
from grokimagine.domain.purchases.subscription_events import StripeUnreachableError
from grokimagine.domain.purchases.subscriptions import (
    SubscriptionExistsError,
    SubscriptionNotFoundError,
)
from grokimagine.domain.submission.models import ModelNotFoundError
from grokimagine.domain.submission.video_operations import OperationNotSupportedError
from grokimagine.domain.tasks.control import TaskNotCancelableError
from grokimagine.domain.tasks.idempotency import IdempotencyConflictError
from grokimagine.domain.tasks.records import (
    AccountDisabledError,
    ModeNotAllowedError,
    TaskNotFoundError,
    TooManyActiveTasksError,
)
from grokimagine.domain.tasks.videos import VideoAssetMissingError
from grokimagine.http.envelope import error_response
from grokimagine.http.fields import FieldError
from grokimagine.storage.db import DatabaseBusyError

log = logging.getLogger("grokimagine.http")

_DEFAULT_CODES = {
    400: "INVALID_REQUEST",
    401: "UNAUTHORIZED",
    402: "INSUFFICIENT_CREDITS",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_BUSY",
}


class ApiError(Exception):
    """An expected failure: an HTTP status, a machine code and a sentence for people."""

    def __init__(
        self,
        status: int,
        message: str,
        error: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error or _DEFAULT_CODES.get(status, "ERROR")
        self.message = message
        self.headers = headers


def invalid_request(detail: str) -> ApiError:
    """A 400 ``INVALID_REQUEST`` whose message starts the way the reference page's does."""
    return ApiError(400, f"Invalid request: {detail}", "INVALID_REQUEST")


def describe_validation_errors(errors: list[Any]) -> str:
    """One sentence naming the first offending field, e.g. ``The prompt parameter is required``."""
    if not errors:
        return "the request is not valid"
    first = errors[0]
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query")]
    kind = first.get("type", "")
    if not location:
        if kind == "json_invalid":
            return "the body is not valid JSON"
        return "the body must be a JSON object"
    name = location[0] + "".join(f"[{part}]" for part in location[1:])
    if kind == "missing":
        return f"The {name} parameter is required"
    message = str(first.get("msg", "is not valid"))
    message = message.removeprefix("Value error, ")
    return f"The {name} parameter is not valid: {message[:1].lower()}{message[1:]}"


@dataclass(frozen=True)
class Refusal:
    """How a domain error is answered: its status, its code and the sentence for people."""

    status: int
    error: str
    message: Callable[[Any], str]
    headers: Callable[[Any], dict[str, str]] | None = None


# Every domain error a route may let through, and its answer. Routes do not catch these.
DOMAIN_ERRORS: dict[type[Exception], Refusal] = {
    InvalidRequestError: Refusal(400, "INVALID_REQUEST", lambda exc: f"Invalid request: {exc}"),
    InvalidCursorError: Refusal(
        400, "INVALID_REQUEST", lambda _: "Invalid request: The cursor parameter is not valid"
    ),
    ImageRejected: Refusal(400, "INVALID_REQUEST", lambda exc: f"Invalid request: {exc.message}"),
    VideoRejected: Refusal(400, "INVALID_REQUEST", lambda exc: f"Invalid request: {exc.message}"),
    OperationNotSupportedError: Refusal(
        400, "OPERATION_NOT_SUPPORTED", lambda exc: f"Invalid request: {exc.message}"
    ),
    ImageTooLargeError: Refusal(
        413, "PAYLOAD_TOO_LARGE", lambda exc: f"Payload too large: {exc.message}"
    ),
    InsufficientCreditsError: Refusal(
        402,
        "INSUFFICIENT_CREDITS",
        lambda _: "Insufficient credits: the balance is below the price",
    ),
    ModeNotAllowedError: Refusal(
        403,
        "MODE_NOT_ALLOWED",
        lambda exc: f"Mode not allowed: {exc.mode} is not enabled for this account",
    ),
    AccountDisabledError: Refusal(
        403,
        "ACCOUNT_DISABLED",
        lambda _: "Account disabled: this account's keys are refused; contact the operator",
    ),
    TooManyActiveTasksError: Refusal(
        429,
        "TOO_MANY_ACTIVE_TASKS",
        lambda exc: (
            f"Too many active tasks: the plan allows {exc.limit} pending or running at once"
        ),
        lambda exc: {"Retry-After": str(exc.retry_after)},
    ),
    AccountNotFoundError: Refusal(
        404, "ACCOUNT_NOT_FOUND", lambda exc: f"Account not found: {exc.args[0]}"
    ),
    UnknownPlanError: Refusal(
        400,
        "INVALID_REQUEST",
        lambda exc: f"Invalid request: The plan parameter is not valid: {exc}",
    ),
    BalanceTooLowError: Refusal(
        409, "BALANCE_TOO_LOW", lambda exc: f"Balance too low: it is {exc.balance} credits"
    ),
    BalanceLimitError: Refusal(
        409,
        "BALANCE_LIMIT",
        lambda exc: (
            f"Balance limit: it is {exc.balance} credits; a balance holds at most {MAX_BALANCE}"
        ),
    ),
    KeyNotFoundError: Refusal(
        404,
        "KEY_NOT_FOUND",
        lambda exc: f"Key not found: no active key {exc.key_id} on account {exc.account_id}",
    ),
    TaskNotRefundableError: Refusal(
        409, "TASK_NOT_REFUNDABLE", lambda exc: f"Task not refundable: {exc.why}"
    ),
    TaskNotFoundError: Refusal(404, "TASK_NOT_FOUND", lambda _: "Task not found"),
    ModelNotFoundError: Refusal(
        404, "MODEL_NOT_FOUND", lambda exc: f"Model not found: {exc.model}"
    ),
    VideoAssetMissingError: Refusal(
        404, "ASSET_NOT_FOUND", lambda exc: f"Not found: {exc.message}"
    ),
    TaskNotCancelableError: Refusal(
        409,
        "TASK_NOT_CANCELABLE",
        lambda exc: f"Task not cancelable: it is already {exc.status}",
    ),
    BusinessSettingsError: Refusal(400, "INVALID_REQUEST", lambda exc: f"Invalid request: {exc}"),
    StaleVersionError: Refusal(
        409, "SETTINGS_CHANGED", lambda exc: f"Settings changed meanwhile: {exc}"
    ),
    # Money in (docs/payments.md).
    CodeNotRedeemableError: Refusal(
        400, "CODE_NOT_REDEEMABLE", lambda exc: f"Code not redeemable: {exc.why}"
    ),
    PackNotFoundError: Refusal(404, "PACK_NOT_FOUND", lambda _: "Credit pack not found"),
    PaymentsNotConfiguredError: Refusal(
        404, "PAYMENTS_NOT_CONFIGURED", lambda _: "Not found: payments are not configured here"
    ),
    PaymentProviderError: Refusal(
        502, "PAYMENT_PROVIDER_ERROR", lambda exc: f"Payment provider error: {exc}"
    ),
    WebhookSignatureError: Refusal(
        400, "INVALID_SIGNATURE", lambda _: "Invalid request: the Stripe signature does not verify"
    ),
    # Any answer but 2xx makes Stripe deliver the event again later, which is what we want.
    PaymentNotYetKnownError: Refusal(
        409, "PAYMENT_NOT_READY", lambda exc: f"Payment not ready: {exc}; deliver again later"
    ),
    StripeUnreachableError: Refusal(
        503, "PAYMENT_PROVIDER_UNAVAILABLE", lambda exc: f"Payment provider unavailable: {exc}"
    ),
    AmountsNotOnSaleError: Refusal(
        404, "AMOUNTS_NOT_ON_SALE", lambda _: "Not found: credits are not sold by the amount"
    ),
    PlanPriceNotFoundError: Refusal(
        404, "PLAN_PRICE_NOT_FOUND", lambda exc: f"Plan has no monthly price: {exc}"
    ),
    SubscriptionExistsError: Refusal(
        409,
        "SUBSCRIPTION_EXISTS",
        lambda _: "Conflict: the account already has a subscription; cancel it first",
    ),
    SubscriptionNotFoundError: Refusal(
        404, "SUBSCRIPTION_NOT_FOUND", lambda _: "Not found: the account has no subscription"
    ),
    IdempotencyConflictError: Refusal(
        409,
        "IDEMPOTENCY_CONFLICT",
        lambda _: (
            "Idempotency conflict: this Idempotency-Key was used with a different request body"
        ),
    ),
    # Issue 25: an open sign-up that the operator asks to verify, before it has.
    EmailNotVerifiedError: Refusal(403, "EMAIL_NOT_VERIFIED", str),
}


def refusal_for(exc: Exception) -> Refusal:
    """The table's answer to ``exc``: its most specific class's (KeyError if none)."""
    for kind in type(exc).__mro__:
        if kind in DOMAIN_ERRORS:
            return DOMAIN_ERRORS[kind]
    raise KeyError(type(exc).__name__)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str:
    """Every method some route of this path takes (a path may have several routes)."""
    # Asking the router, method by method, works through included routers too.
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]
    return ", ".join(allowed)


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception to the error body; nothing internal leaks."""

    async def _domain_error(_: Request, exc: Exception) -> Response:
        refusal = refusal_for(exc)  # registered for the table's classes only
        headers = refusal.headers(exc) if refusal.headers else None
        return error_response(refusal.status, refusal.error, refusal.message(exc), headers)

    for kind in DOMAIN_ERRORS:
        app.add_exception_handler(kind, _domain_error)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> Response:
        return error_response(exc.status, exc.error, exc.message, exc.headers)

    @app.exception_handler(FieldError)
    async def _field_error(_: Request, exc: FieldError) -> Response:
        return error_response(400, "INVALID_REQUEST", f"Invalid request: {exc}")

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_: Request, exc: RequestValidationError) -> Response:
        detail = describe_validation_errors(list(exc.errors()))
        return error_response(400, "INVALID_REQUEST", f"Invalid request: {detail}")

    @app.exception_handler(ValidationError)
    async def _validation(_: Request, exc: ValidationError) -> Response:
        detail = describe_validation_errors(list(exc.errors()))
        return error_response(400, "INVALID_REQUEST", f"Invalid request: {detail}")

    @app.exception_handler(DatabaseBusyError)
    async def _busy(_: Request, exc: DatabaseBusyError) -> Response:
        return error_response(
            503,
            "SERVICE_BUSY",
            "Service busy: the database is locked by another process; retry shortly",
            {"Retry-After": "1"},
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        status = exc.status_code
        messages = {
            404: "Not found: no such route",
            405: "Method not allowed on this route",
        }
        message = messages.get(status, str(exc.detail))
        headers = exc.headers
        if status == 405:
            # Starlette names only the first matching route's methods.
            headers = {**(headers or {}), "Allow": _allowed_methods(request)}
        return error_response(status, _DEFAULT_CODES.get(status, "ERROR"), message, headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(
            500, "INTERNAL_ERROR", "Internal error: the request could not be completed"
        )
