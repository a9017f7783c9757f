"""The webhooks page: the account's endpoints (URL, event types, own secret) with a test event,
the per-request signing secret, and the delivery log with resend (issue 25)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from grokimagine.console.forms import check_address, read_form
from grokimagine.console.web import PageError, current_user, form_user, render, see_other
from grokimagine.console.web import services_of as services_of_request
from grokimagine.domain.billing.usage import account_details, rotate_webhook_secret
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.domain.submission.generate import check_callback_url
from grokimagine.domain.tasks import webhook_endpoints
from grokimagine.domain.tasks.webhook_deliveries import deliveries_of_account

router = APIRouter(
    prefix="/console", include_in_schema=False, dependencies=[Depends(check_address)]
)

NOTICES = {
    "rotated": "A new signing secret is in force. Update your receivers.",
    "added": "Endpoint added. Send it a test event to check your receiver.",
    "tested": "Test event queued: it appears in the deliveries below once sent.",
    "resent": "Delivery queued again.",
    "deleted": "Endpoint deleted.",
}
_NO_ENDPOINT = "There is no such endpoint in your account."


def _wake_sender(request: Request) -> None:
    # The in-process delivery loop, if this process runs one, looks at once (else it polls).
    sender = getattr(request.app.state, "webhook_sender", None)
    if sender is not None and hasattr(sender, "wake"):
        sender.wake()


@router.get("/webhooks")
async def webhooks(request: Request) -> Response:
    """Endpoints, the per-request secret (hidden until revealed), the latest deliveries."""
    user = await current_user(request)
    services = services_of_request(request)
    details = await account_details(services.db, user.account_id)
    notice = request.query_params.get("done", "")
    return render(
        request,
        "webhooks.html",
        user,
        section="webhooks",
        secret=details["webhook_secret"],
        endpoints=await webhook_endpoints.list_endpoints(services.db, user.account_id),
        event_types=webhook_endpoints.EVENT_TYPES,
        deliveries=await deliveries_of_account(services.db, user.account_id),
        notice=NOTICES.get(notice, ""),
        error=request.query_params.get("error", "")[:300],
    )


@router.post("/webhooks/rotate")
async def rotate_secret(request: Request) -> Response:
    """Replace the per-request signing secret."""
    form = await read_form(request)
    user = await form_user(request, form)
    await rotate_webhook_secret(services_of_request(request).db, user.account_id)
    return see_other("/console/webhooks?done=rotated")


@router.post("/webhooks/endpoints")
async def add_endpoint(request: Request) -> Response:
    """Register an endpoint (its URL must pass the same checks as a callback_url)."""
    form = await read_form(request)
    user = await form_user(request, form)
    services = services_of_request(request)
    url = form.get("url")
    url = url.strip() if isinstance(url, str) else ""
    events = [event for event in form.getlist("events") if isinstance(event, str)]
    try:
        if not url:
            raise InvalidRequestError("Give the endpoint's URL.")
        await check_callback_url(services, url)
        await webhook_endpoints.add_endpoint(services.db, user.account_id, url, events)
    except InvalidRequestError as exc:
        return see_other_with_error(str(exc))
    return see_other("/console/webhooks?done=added")


def see_other_with_error(message: str) -> Response:
    """Back to the page with the refusal shown (Post/Redirect/Get)."""
    return see_other("/console/webhooks?" + urlencode({"error": message}))


async def _change_and_return(
    request: Request,
    change: Callable[[str], Awaitable[object]],
    *,
    missing: str,
    done: str,
    queues_delivery: bool = False,
) -> Response:
    """Make ``change`` to the signed-in user's account (given its id) and go back to the page
    saying ``done``; 404 ``missing`` where what the change names is not the account's. A change
    that ``queues_delivery`` wakes the sender."""
    form = await read_form(request)
    user = await form_user(request, form)
    try:
        await change(user.account_id)
    except webhook_endpoints.EndpointNotFoundError:
        raise PageError(404, missing) from None
    if queues_delivery:
        _wake_sender(request)
    return see_other(f"/console/webhooks?done={done}")


@router.post("/webhooks/endpoints/{endpoint_id}/test")
async def test_endpoint(request: Request, endpoint_id: str) -> Response:
    """Queue a ``webhook.test`` event to the endpoint."""
    db = services_of_request(request).db
    return await _change_and_return(
        request,
        lambda account_id: webhook_endpoints.send_test_event(db, account_id, endpoint_id),
        missing=_NO_ENDPOINT,
        done="tested",
        queues_delivery=True,
    )


@router.post("/webhooks/endpoints/{endpoint_id}/delete")
async def delete_endpoint(request: Request, endpoint_id: str) -> Response:
    """Stop sending to the endpoint."""
    db = services_of_request(request).db
    return await _change_and_return(
        request,
        lambda account_id: webhook_endpoints.delete_endpoint(db, account_id, endpoint_id),
        missing=_NO_ENDPOINT,
        done="deleted",
    )


@router.post("/webhooks/deliveries/{delivery_id}/resend")
async def resend(request: Request, delivery_id: str) -> Response:
    """Send a finished delivery again."""
    db = services_of_request(request).db
    return await _change_and_return(
        request,
        lambda account_id: webhook_endpoints.resend_delivery(db, account_id, delivery_id),
        missing="There is no such delivery in your account.",
        done="resent",
        queues_delivery=True,
    )
