"""Confirmation before an operator's destructive or money-moving action, without JavaScript.

The action's form posts once: without ``confirm=yes`` the handler answers a page that names
what will happen and posts the same fields again with ``confirm=yes`` (or goes back).
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from grokimagine.console.web import render
from grokimagine.domain.accounts.sessions import SessionUser

CONFIRM_FIELD = "confirm"


def confirmed(form: FormData) -> bool:
    """Whether the operator already confirmed this submission."""
    return form.get(CONFIRM_FIELD) == "yes"


def ask_first(
    request: Request,
    user: SessionUser,
    form: FormData,
    *,
    title: str,
    consequence: str,
    button: str,
    back: str,
    danger: bool = True,
) -> Response:
    """The page that asks: ``title`` (e.g. "Deduct 50 credits from acct_…?"), what follows,
    a button that posts the same form again confirmed, and a way back."""
    fields = [
        (name, value)
        for name, value in form.multi_items()
        if isinstance(value, str) and name not in ("csrf_token", CONFIRM_FIELD)
    ]
    return render(
        request,
        "admin/confirm.html",
        user,
        section="",
        title=title,
        consequence=consequence,
        button=button,
        action=request.url.path,
        fields=fields,
        back=back,
        danger=danger,
    )
