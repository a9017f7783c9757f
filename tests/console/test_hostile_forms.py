"""Every console and /admin form, and the sign-in form, against hostile values (issue 21): a
value the API's rules refuse gets a 400 page naming the field, never a 500, the same on SQLite
and PostgreSQL, and nothing is stored; a value they accept does what the form says."""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from string import Formatter
from urllib.parse import quote

import httpx
import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from grokimagine import console
from grokimagine.console.forms import check_address
from grokimagine.domain.accounts import accounts, admin_keys, users
from grokimagine.domain.accounts.audit import audit_page
from grokimagine.domain.billing.credits import MAX_CREDITS_PER_CHANGE
from grokimagine.domain.billing.usage import ledger_page
from grokimagine.domain.operator.reports import MAX_REPORT_DAYS
from grokimagine.http.params import MAX_ID_CHARS
from grokimagine.services import Services
from tests.helpers.console import ConsoleUser, attempt_sign_in, make_user, sign_in
from tests.helpers.hostile import FIRST, LAST, day_text, mixed_text, number_text, storable, whole_in

PROPERTY = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
choice_text = st.sampled_from(["grant", "deduct", "yes", "no", "active", "disabled", "GRANT", ""])


@dataclass
class Operator:
    http: httpx.AsyncClient
    csrf: str
    customer: ConsoleUser


@pytest.fixture
async def operator(services: Services, browser_like) -> Operator:
    """A signed-in operator, and a customer's account to act on."""
    admin = await make_user(services, admin=True)
    http = browser_like()
    return Operator(http, await sign_in(http, admin), await make_user(services))


def refused_naming(response: httpx.Response, *fields: str) -> None:
    """A 400 page (not JSON, not a 500) naming one of ``fields``."""
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert any(f"The {field} field is not valid" in response.text for field in fields), (
        fields,
        response.text[-600:],
    )


async def money(services: Services, account_id: str) -> tuple[int, int]:
    """(balance, ledger rows) of the account."""
    account = await accounts.get_account(services.db, account_id)
    rows = await ledger_page(services.db, account_id, limit=200, cursor=None)
    return account.balance, len(rows.entries)


@PROPERTY
@given(amount=number_text, direction=choice_text, reason=mixed_text)
async def test_the_credit_form_takes_only_what_the_admin_api_takes(
    services: Services, operator: Operator, amount: str, direction: str, reason: str
) -> None:
    account_id = operator.customer.account_id
    before = await money(services, account_id)
    response = await operator.http.post(
        f"/admin/accounts/{account_id}/credits",
        data={
            "csrf_token": operator.csrf,
            "amount": amount,
            "direction": direction,
            "reason": reason,
            # Past the confirm step (issue 24): what the second submit of the confirm page sends.
            "confirm": "yes",
        },
    )
    problems = [
        name
        for name, fine in (
            (
                "amount",
                storable(amount, multiline=True) and whole_in(amount, 1, MAX_CREDITS_PER_CHANGE),
            ),
            ("direction", direction in ("grant", "deduct")),
            ("reason", storable(reason) and 0 < len(reason.strip()) <= 200),
        )
        if not fine
    ]
    after = await money(services, account_id)
    if problems:
        refused_naming(response, *problems)
        assert after == before  # nothing stored
        return
    assert response.status_code == 303, response.text
    balance, rows = before
    number = int(amount.strip())
    if direction == "grant":
        assert after == (balance + number, rows + 1)
    elif number <= balance:
        assert after == (balance - number, rows + 1)
    else:
        assert after == before and "error=" in response.headers["location"]


@PROPERTY
@given(
    form=st.sampled_from(["plan", "spicy", "state"]),
    value=st.one_of(choice_text, st.sampled_from(["free", "pro", "gold"]), mixed_text),
)
async def test_account_forms_refuse_unknown_values_rather_than_defaulting(
    services: Services, operator: Operator, form: str, value: str
) -> None:
    account_id = operator.customer.account_id
    before = await accounts.get_account(services.db, account_id)
    field = {"plan": "plan", "spicy": "allow", "state": "state"}[form]
    response = await operator.http.post(
        f"/admin/accounts/{account_id}/{form}",
        # confirm=yes: the second submit of the confirm page that disabling asks for (issue 24).
        data={"csrf_token": operator.csrf, field: value, "confirm": "yes"},
    )
    after = await accounts.get_account(services.db, account_id)
    accepted = {
        "plan": storable(value) and 0 < len(value.strip()) <= 40,
        "spicy": value in ("yes", "no"),
        "state": value in ("active", "disabled"),
    }[form]
    if not accepted:
        refused_naming(response, field)
        assert after == before
        return
    assert response.status_code == 303, response.text
    if form == "plan" and value.strip() not in ("free", "pro", "enterprise"):
        assert "error=" in response.headers["location"] and after.plan == before.plan
    elif form == "spicy":
        assert after.allow_spicy is (value == "yes")
    elif form == "state":
        assert (after.disabled_at is not None) is (value == "disabled")


FILTER_PAGES = {
    "/admin": ("q", "plan", "state"),
    "/admin/tasks": ("account", "status", "engine"),
    "/admin/audit": ("target", "actor", "action"),
    "/console/history": ("status", "mode"),
}


@PROPERTY
@given(page=st.sampled_from(sorted(FILTER_PAGES)), which=st.integers(0, 2), value=mixed_text)
async def test_filters_of_every_listing_page_are_answered_without_a_500(
    operator: Operator, page: str, which: int, value: str
) -> None:
    names = FILTER_PAGES[page]
    name = names[which % len(names)]
    response = await operator.http.get(page, params={name: value})
    assert response.status_code in (200, 400), response.text
    if not storable(value):
        refused_naming(response, name)


def _day_or_problem(text: str) -> date | str | None:
    """What the usage page must make of ``text``: a day, None (absent), or "bad"."""
    value = text.strip()
    if not text:
        return None
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        return "bad"
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return "bad"
    return day if FIRST <= day <= LAST else "bad"


@PROPERTY
@given(since=day_text, until=day_text)
async def test_the_usage_page_refuses_days_outside_the_documented_range(
    operator: Operator, since: str, until: str
) -> None:
    response = await operator.http.get("/admin/usage", params={"since": since, "until": until})
    last = _day_or_problem(until)
    first = _day_or_problem(since)
    if last == "bad":
        refused_naming(response, "until")
        return
    if first == "bad":
        refused_naming(response, "since")
        return
    last = last or datetime.now(UTC).date()
    first = first or last - timedelta(days=29)
    if first <= last and (last - first).days < MAX_REPORT_DAYS:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 400, response.text


@PROPERTY
@given(segment=mixed_text)
@example(segment=".")
@example(segment="..")
async def test_any_path_id_is_a_400_or_404_page_never_a_500(
    operator: Operator, segment: str
) -> None:
    quoted = quote(segment, safe="") or "x"
    if quoted in (".", ".."):  # a client resolves these away; encoded, they reach the route
        quoted = quoted.replace(".", "%2E")
    for page in ("/admin/accounts/", "/admin/tasks/", "/console/tasks/"):
        response = await operator.http.get(page + quoted)
        # 307: a "/" in the segment makes a path that ends in "/" (redirected without it).
        assert response.status_code in (307, 400, 404), (page, segment, response.text)
        if response.status_code == 400:
            refused_naming(response, "account_id", "task_id")


async def test_a_nul_or_control_character_in_a_path_id_is_a_400_page_naming_it(
    operator: Operator,
) -> None:
    for page, field in (
        ("/admin/accounts/acct_%00", "account_id"),
        ("/admin/tasks/task_%01x", "task_id"),
        ("/console/tasks/task_%7F", "task_id"),
        ("/admin/accounts/%C3%A9", "account_id"),
    ):
        refused_naming(await operator.http.get(page), field)


# The routes of the routers that checked no address until issue 21's review (people, admin keys,
# webhooks), each with the path ids it takes.
PATH_ID_FORMS = (
    "/admin/accounts/{account_id}/invite",
    "/admin/accounts/{account_id}/keys",
    "/admin/accounts/{account_id}/keys/{key_id}/revoke",
    "/admin/users/{user_id}/reset",
    "/admin/users/{user_id}/operator",
    "/admin/users/{user_id}/state",
    "/admin/admin-keys/{key_id}/revoke",
    "/console/webhooks/endpoints/{endpoint_id}/test",
    "/console/webhooks/endpoints/{endpoint_id}/delete",
    "/console/webhooks/deliveries/{delivery_id}/resend",
)
HOSTILE_IDS = (
    "id_%00",
    "id_%01x",
    "i" * (MAX_ID_CHARS + 1),
    quote("<script>", safe=""),
)


async def what_the_people_forms_change(services: Services, customer: ConsoleUser) -> object:
    """All that the people, key and webhook forms could change about ``customer``."""
    return (
        await users.get_user(services.db, customer.user_id),
        await users.users_of_account(services.db, customer.account_id),
        await accounts.list_keys(services.db, customer.account_id),
        await admin_keys.list_admin_keys(services.db),
        [entry["id"] for entry in (await audit_page(services.db, limit=100)).entries],
    )


async def test_every_path_id_of_the_people_key_and_webhook_forms_is_refused_before_use(
    services: Services, operator: Operator
) -> None:
    customer = operator.customer
    key = await accounts.create_key(services.db, customer.account_id, live=True, name="kept")
    ids = {
        "account_id": customer.account_id,
        "user_id": customer.user_id,
        "key_id": key.key.id,
        "endpoint_id": "we_Unknown00000000",
        "delivery_id": "msg_Unknown0000000000000",
    }
    # Everything a form needs to act, so that an id let through would reach the database (a NUL
    # there was a 500 on PostgreSQL) and change something.
    data = {
        "csrf_token": operator.csrf,
        "confirm": "yes",
        "operator": "no",
        "state": "disabled",
        "email": "someone@example.com",
        "name": "hostile",
        "kind": "live",
    }
    before = await what_the_people_forms_change(services, customer)
    for template in PATH_ID_FORMS:
        names = [name for _, name, _, _ in Formatter().parse(template) if name]
        for name in names:
            for segment in HOSTILE_IDS:
                path = template.format(**{**ids, name: segment})
                response = await operator.http.post(path, data=data)
                refused_naming(response, name)
                assert "<script>" not in response.text, path
    assert await what_the_people_forms_change(services, customer) == before


def console_routes() -> list[APIRoute]:
    """Every route of every router in the console package (a router added later included)."""
    modules = pkgutil.walk_packages(console.__path__, console.__name__ + ".")
    routers = {
        id(value): value
        for info in modules
        for value in vars(importlib.import_module(info.name)).values()
        if isinstance(value, APIRouter)
    }
    return [
        route
        for router in routers.values()
        for route in router.routes
        if isinstance(route, APIRoute)
    ]


def test_every_console_and_admin_page_route_checks_its_address_first() -> None:
    # A router without the dependency takes hostile path ids to the database (issue 21).
    routes = console_routes()
    assert any(route.path == "/admin/users/{user_id}/reset" for route in routes)
    unchecked = [
        route.path
        for route in routes
        if not any(dependency.call is check_address for dependency in route.dependant.dependencies)
    ]
    assert unchecked == []


async def test_an_unknown_but_well_formed_id_is_still_a_404_page(operator: Operator) -> None:
    data = {"csrf_token": operator.csrf, "confirm": "yes", "operator": "no", "state": "active"}
    for path in (
        "/admin/users/user_Unknown000000000/reset",
        "/admin/users/user_Unknown000000000/operator",
        "/admin/users/user_Unknown000000000/state",
        "/admin/admin-keys/adk_Unknown000000000/revoke",
        "/console/webhooks/endpoints/we_Unknown00000000/test",
        "/console/webhooks/endpoints/we_Unknown00000000/delete",
        "/console/webhooks/deliveries/msg_Unknown0000000000000/resend",
    ):
        response = await operator.http.post(path, data=data)
        assert response.status_code == 404, (path, response.text)


# A query value of each page of those routers and of the self-service, set-password and business
# settings pages, which read theirs unchecked before.
QUERY_PAGES = (
    ("/console/forgot-password", "sent"),
    ("/console/verify-email", "token"),
    ("/console/set-password", "token"),
    ("/console/sign-in/code", "next"),
    ("/console/security", "error"),
    ("/console/webhooks", "error"),
    ("/admin/accounts/new", "plan"),
    ("/admin/admin-keys", "notice"),
    ("/admin/settings", "notice"),
    ("/admin/storage", "account"),
)


async def test_a_nul_or_control_character_in_a_query_value_of_those_pages_is_a_400(
    operator: Operator,
) -> None:
    for page, name in QUERY_PAGES:
        for value in ("a\x00b", "a\x01b", "<script>\x00"):
            response = await operator.http.get(page, params={name: value})
            refused_naming(response, name)
            assert "<script>" not in response.text, page


# Each form of the people, admin key, webhook, business settings, billing and self-service pages
# with the text fields it reads.
FORM_FIELDS = {
    "/admin/accounts/new": ("name", "plan", "credits", "invite_email"),
    "/admin/accounts/{account_id}/invite": ("email",),
    "/admin/accounts/{account_id}/keys": ("name", "kind"),
    "/admin/users/{user_id}/operator": ("operator",),
    "/admin/users/{user_id}/state": ("state",),
    "/admin/admin-keys": ("name",),
    "/admin/settings": (
        "based_on",
        "signup",
        "starter_credits",
        "price_table",
        "plans",
        "plan_limits",
        "retention_days",
        "fetch_allowlist",
        "note",
    ),
    "/console/webhooks/endpoints": ("url", "events"),
    "/console/billing/checkout": ("pack_id", "save_card"),
    "/console/billing/checkout-amount": ("credits",),
    "/console/billing/subscribe": ("plan",),
    "/console/billing/auto-top-up": ("threshold", "pack_id", "enabled"),
    "/console/billing/redeem": ("code",),
    "/console/billing/alert": ("threshold",),
    "/console/security/two-factor/confirm": ("code",),
    "/console/security/two-factor/off": ("code",),
    "/console/sign-in/code": ("code", "next"),
    "/console/forgot-password": ("email",),
    "/console/set-password": ("token", "new_password", "new_password_again"),
}


async def test_a_nul_or_control_character_in_any_field_of_those_forms_is_a_400_naming_it(
    services: Services, operator: Operator
) -> None:
    customer = operator.customer
    before = (
        await what_the_people_forms_change(services, customer),
        await money(services, customer.account_id),
    )
    for template, fields in FORM_FIELDS.items():
        path = template.format(account_id=customer.account_id, user_id=customer.user_id)
        for field in fields:
            for value in ("a\x00b", "a\x01b"):
                response = await operator.http.post(
                    path, data={"csrf_token": operator.csrf, "confirm": "yes", field: value}
                )
                refused_naming(response, field)
    after = (
        await what_the_people_forms_change(services, customer),
        await money(services, customer.account_id),
    )
    assert after == before


@pytest.fixture
async def customer_session(services: Services, browser_like) -> tuple[httpx.AsyncClient, str, str]:
    """A signed-in customer: (client, CSRF token, account id)."""
    who = await make_user(services)
    http = browser_like()
    return http, await sign_in(http, who), who.account_id


@PROPERTY
@given(name=mixed_text, kind=st.sampled_from(["live", "test", "LIVE", "", "admin"]))
async def test_the_key_form_names_its_field_and_makes_no_key_when_refused(
    services: Services, customer_session: tuple[httpx.AsyncClient, str, str], name: str, kind: str
) -> None:
    http, csrf, account_id = customer_session
    before = len(await accounts.list_keys(services.db, account_id))
    data = {"csrf_token": csrf, "name": name, "kind": kind}
    response = await http.post("/console/keys", data=data)
    made = (await accounts.list_keys(services.db, account_id))[before:]
    good_name = storable(name) and len(name.strip()) <= 100
    if not good_name:
        refused_naming(response, "name")
        assert made == []
    elif not name.strip():
        assert response.status_code == 400 and made == []
        assert "Give the key a name." in response.text
    elif kind not in ("live", "test"):
        refused_naming(response, "kind")
        assert made == []
    else:
        # Post/Redirect/Get (issue 25): the token shows on the page redirected to.
        assert response.status_code == 303, response.text
        assert [(key.name, key.kind) for key in made] == [(name.strip(), kind)]


@pytest.mark.both_databases
@PROPERTY
@given(email=mixed_text, password=mixed_text)
async def test_the_sign_in_form_answers_hostile_values_with_a_400_not_a_500(
    services: Services, browser_like, email: str, password: str
) -> None:
    services.settings.console.signin_limit = 10**6
    services.settings.console.signin_email_limit = 10**6
    response = await attempt_sign_in(browser_like(), email, password)
    bad = [
        name
        for name, value in (("email", email), ("password", password))
        if not storable(value, multiline=True)
    ]
    if bad:
        refused_naming(response, *bad)
    else:
        assert response.status_code == 401, response.text


@PROPERTY
@given(email=mixed_text, password=mixed_text)
async def test_the_sign_up_form_stores_nothing_it_refuses(
    services: Services, browser_like, email: str, password: str
) -> None:
    services.settings.console.signup = "open"
    services.settings.console.signin_limit = 10**6
    response = await attempt_sign_in(browser_like(), email, password, path="/console/sign-up")
    bad = [
        name
        for name, value in (("email", email), ("password", password))
        if not storable(value, multiline=True)
    ]
    if bad:
        refused_naming(response, *bad)
    else:
        assert response.status_code in (303, 400), response.text


def form_paths(account_id: str, task_id: str, key_id: str) -> list[str]:
    """Every form handler of the console and /admin that a signed-in person posts to."""
    return [
        f"/admin/accounts/{account_id}/plan",
        f"/admin/accounts/{account_id}/spicy",
        f"/admin/accounts/{account_id}/state",
        f"/admin/accounts/{account_id}/credits",
        f"/admin/tasks/{task_id}/refund",
        f"/admin/tasks/{task_id}/cancel",
        f"/console/tasks/{task_id}/delete",
        f"/console/tasks/{task_id}/cancel",
        f"/console/tasks/{task_id}/extend",
        f"/console/tasks/{task_id}/edit",
        "/console/keys",
        f"/console/keys/{key_id}/revoke",
        "/console/webhooks/rotate",
        "/console/password",
        "/admin/money/packs",
        "/admin/money/packs/pack_Unknown0000/sale",
        "/admin/money/codes",
        "/console/billing/checkout",
        "/console/billing/redeem",
        "/console/sign-out",
    ]


@PROPERTY
@given(token=mixed_text, extra=mixed_text)
async def test_every_form_refuses_a_hostile_token_or_field_without_a_500(
    services: Services, operator: Operator, token: str, extra: str
) -> None:
    account_id = operator.customer.account_id
    before = await money(services, account_id)
    fields = ("amount", "reason", "prompt", "name", "plan", "duration", "current_password")
    for path in form_paths(account_id, "task_Unknown0000000000000", "key_Unknown000000"):
        response = await operator.http.post(
            path, data={"csrf_token": token, **dict.fromkeys(fields, extra)}
        )
        if not storable(token, multiline=True):
            refused_naming(response, "csrf_token")
        elif not storable(extra, multiline=True):
            refused_naming(response, *fields)
        else:
            # A wrong token: 403 page (or 404 where the form's task is unknown first).
            assert response.status_code in (403, 404), (path, response.text)
    assert await money(services, account_id) == before


@PROPERTY
@given(prompt=mixed_text, duration=number_text, mode=st.sampled_from(["normal", "fun", "x", ""]))
@example(prompt="snow", duration="²", mode="normal")  # isdigit() but not int(): was a 500
@example(prompt="snow", duration="9" * 5000, mode="normal")
async def test_the_extend_and_edit_forms_name_a_hostile_field(
    services: Services,
    customer_session: tuple[httpx.AsyncClient, str, str],
    prompt: str,
    duration: str,
    mode: str,
) -> None:
    http, csrf, account_id = customer_session
    before = await money(services, account_id)
    for operation in ("extend", "edit"):
        response = await http.post(
            f"/console/tasks/task_Unknown0000000000000/{operation}",
            data={"csrf_token": csrf, "prompt": prompt, "duration": duration, "mode": mode},
        )
        bad = [
            name
            for name, value in (("prompt", prompt), ("duration", duration))
            if not storable(value, multiline=True)
        ]
        if bad:
            refused_naming(response, *bad)
        else:
            assert response.status_code in (400, 404), response.text  # the task is not theirs
    assert await money(services, account_id) == before


@PROPERTY
@given(current=mixed_text, new=mixed_text)
async def test_the_password_form_names_a_hostile_field(
    customer_session: tuple[httpx.AsyncClient, str, str], current: str, new: str
) -> None:
    http, csrf, _ = customer_session
    response = await http.post(
        "/console/password",
        data={
            "csrf_token": csrf,
            "current_password": current,
            "new_password": new,
            "new_password_again": new,
        },
    )
    bad = [
        name
        for name, value in (("current_password", current), ("new_password", new))
        if not storable(value, multiline=True)
    ]
    if bad:
        refused_naming(response, *bad, "new_password_again")
    else:
        # The current password is never one of these: a form error, on the form's page.
        assert response.status_code == 400 and "password" in response.text


@pytest.mark.both_databases
@PROPERTY
@given(
    name=mixed_text,
    credits=number_text,
    price=st.one_of(number_text, st.sampled_from(["10.50", "²", "1.٣", "10.5.5", "9" * 30])),
    expires=day_text,
)
@example(name="pack", credits="100", price="²", expires="")  # isdigit() but not int(): was a 500
async def test_the_money_forms_answer_hostile_values_without_a_500(
    services: Services, operator: Operator, name: str, credits: str, price: str, expires: str
) -> None:
    pack = await operator.http.post(
        "/admin/money/packs",
        data={"csrf_token": operator.csrf, "name": name, "credits": credits, "price": price},
    )
    codes = await operator.http.post(
        "/admin/money/codes",
        data={"csrf_token": operator.csrf, "credits": credits, "expires": expires, "note": name},
    )
    for response in (pack, codes):
        assert response.status_code in (200, 303, 400), response.text
    if not storable(name):
        refused_naming(pack, "name")
        refused_naming(codes, "note")
