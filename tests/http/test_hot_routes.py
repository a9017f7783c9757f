"""The gate's direct answer to GET /v1/status and POST /v1/generate (http/edge/hot_routes.py)
behaves exactly as the router's: the same battery of requests, sent to an app with the hot
routes and to one without, gets the same statuses, headers and bodies, counts the same metrics
and logs the same lines."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import delete

from grokimagine.domain.accounts.audit import CLI
from grokimagine.domain.operator.accounts import disable_account
from grokimagine.http.app import create_app
from grokimagine.http.edge import hot_routes
from grokimagine.http.v1 import generate as generate_module
from grokimagine.services import Services
from grokimagine.settings import Settings
from grokimagine.storage.schema import metadata
from tests.helpers.api import SEED_BODY
from tests.helpers.customers import make_customer

MAX_BODY = 4096
UNKNOWN_TASK = "task_0123456789abcdef0123456789abcdef"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A small body cap, so that an oversized body is cheap to send."""
    return settings.replace(**{"max_body_bytes": MAX_BODY})


@dataclass
class Run:
    """One app's answers, and what in them is this run's own (ids, tokens)."""

    answers: list[tuple[str, int, list[tuple[str, str]], str]]
    own_values: dict[str, str]
    direct: int  # requests answered by the gate's direct path


def request_counts() -> dict[tuple[str, ...], float]:
    """The request counter's samples, by label values."""
    counts = {}
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name == "grokimagine_http_requests_total":
                counts[tuple(sorted(sample.labels.items()))] = sample.value
    return counts


async def battery(services: Services, hot: bool, monkeypatch: pytest.MonkeyPatch) -> Run:
    """Every kind of request to the two routes (and their near misses), in a fixed order, over
    an empty database (queue positions count every pending task)."""
    async with services.db.write() as conn:
        for table in reversed(metadata.sorted_tables):
            await conn.execute(delete(table))
    app = create_app(services, hot_routes=hot)
    direct = []
    wrap = hot_routes.wrap_app_handling_exceptions

    def counted(*args):
        direct.append(1)
        return wrap(*args)

    monkeypatch.setattr(hot_routes, "wrap_app_handling_exceptions", counted)
    me = await make_customer(services, credits=400)
    other = await make_customer(services)
    poor = await make_customer(services, credits=0)
    disabled = await make_customer(services)
    await disable_account(services.db, CLI, disabled.account_id)
    answers: list[tuple[str, int, list[tuple[str, str]], str]] = []
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:

        async def send(label: str, method: str, url: str, **kwargs) -> httpx.Response:
            response = await http.request(method, url, **kwargs)
            headers = sorted(response.headers.multi_items())
            answers.append((label, response.status_code, headers, response.text))
            return response

        def status_url(task_id: str) -> str:
            return f"/v1/status?task_id={task_id}"

        created = await send("generate", "POST", "/v1/generate", json=SEED_BODY, headers=me.headers)
        mine = created.json()["data"]["task_id"]
        theirs = (
            await send(
                "other's generate", "POST", "/v1/generate", json=SEED_BODY, headers=other.headers
            )
        ).json()["data"]["task_id"]
        await send("status", "GET", status_url(mine), headers=me.headers)
        await send("unknown task", "GET", status_url(UNKNOWN_TASK), headers=me.headers)
        await send("other's task", "GET", status_url(theirs), headers=me.headers)
        await send("no task id", "GET", "/v1/status", headers=me.headers)
        await send("NUL in id", "GET", "/v1/status?task_id=task_%00x", headers=me.headers)
        await send("long id", "GET", status_url("task_" + "a" * 300), headers=me.headers)
        await send("two ids", "GET", f"{status_url(mine)}&task_id={mine}", headers=me.headers)
        await send("no token", "GET", status_url(mine))
        await send(
            "bad token", "GET", status_url(mine), headers={"Authorization": "Bearer gi_live_x"}
        )
        await send("disabled", "GET", status_url(mine), headers=disabled.headers)
        await send("HEAD", "HEAD", status_url(mine), headers=me.headers)
        await send("trailing slash", "GET", f"/v1/status/?task_id={mine}", headers=me.headers)
        await send("POST status", "POST", status_url(mine), headers=me.headers)
        await send("GET generate", "GET", "/v1/generate", headers=me.headers)
        sane_id = {**me.headers, "X-Request-ID": "client-id-1"}
        await send("client request id", "GET", status_url(mine), headers=sane_id)
        odd_id = {**me.headers, "X-Request-ID": "no spaces allowed"}
        await send("odd request id", "GET", status_url(mine), headers=odd_id)

        post = {"headers": me.headers}
        await send("not JSON", "POST", "/v1/generate", content=b"{nope", **post)
        await send("not an object", "POST", "/v1/generate", content=b"[1]", **post)
        await send("empty body", "POST", "/v1/generate", content=b"", **post)
        await send(
            "NUL prompt", "POST", "/v1/generate", json={**SEED_BODY, "prompt": "a\x00b"}, **post
        )
        await send("unknown field", "POST", "/v1/generate", json={**SEED_BODY, "x": 1}, **post)
        await send("bad ratio", "POST", "/v1/generate", json={**SEED_BODY, "ratio": "7:5"}, **post)
        big = {**SEED_BODY, "prompt": "x" * (2 * MAX_BODY)}
        await send("over the cap", "POST", "/v1/generate", json=big, **post)

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"prompt": "'
            yield b"y" * (2 * MAX_BODY)
            yield b'"}'

        await send("chunked over the cap", "POST", "/v1/generate", content=chunks(), **post)
        keyed = {**me.headers, "Idempotency-Key": "battery-key-1"}
        await send("keyed", "POST", "/v1/generate", json=SEED_BODY, headers=keyed)
        await send("replayed", "POST", "/v1/generate", json=SEED_BODY, headers=keyed)
        await send(
            "key, other body",
            "POST",
            "/v1/generate",
            json={**SEED_BODY, "prompt": "z"},
            headers=keyed,
        )
        odd_key = {**me.headers, "Idempotency-Key": "a key with spaces"}
        await send("odd key", "POST", "/v1/generate", json=SEED_BODY, headers=odd_key)
        bad_wait = {**me.headers, "Prefer": "wait=banana"}
        await send("odd Prefer", "POST", "/v1/generate", json=SEED_BODY, headers=bad_wait)
        await send("no credits", "POST", "/v1/generate", json=SEED_BODY, headers=poor.headers)
        await send("another generate", "POST", "/v1/generate", json=SEED_BODY, headers=me.headers)

        with monkeypatch.context() as patched:

            async def broken(*args, **kwargs):
                raise RuntimeError("a bug")

            patched.setattr(generate_module, "find_task", broken)
            patched.setattr(generate_module, "submit_generation", broken)
            await send("status bug", "GET", status_url(mine), headers=me.headers)
            await send("generate bug", "POST", "/v1/generate", json=SEED_BODY, headers=me.headers)

        for index in range(120):  # the free plan's 100 a minute, then 429s
            await send(f"poll {index}", "GET", status_url(mine), headers=me.headers)
        await send(
            "generate, rate limited", "POST", "/v1/generate", json=SEED_BODY, headers=me.headers
        )
        for index in range(40):  # failed authentications from this address, then 429s
            await send(
                f"bad token {index}", "GET", status_url(mine), headers={"Authorization": "Bearer x"}
            )

    own = {me.token: "<me>", other.token: "<other>", poor.token: "<poor>", disabled.token: "<off>"}
    own.update({mine: "<mine>", theirs: "<theirs>"})
    for label, _, _, body in answers:
        if label in ("keyed",):
            own[json.loads(body)["data"]["task_id"]] = "<keyed>"
    monkeypatch.setattr(hot_routes, "wrap_app_handling_exceptions", wrap)
    return Run(answers, own, len(direct))


def normalized(run: Run) -> list[tuple[str, int, list[tuple[str, str]], str]]:
    """The answers with this run's own values, times and request ids replaced."""
    result = []
    for label, status, headers, body in run.answers:
        for value, placeholder in run.own_values.items():
            body = body.replace(value, placeholder)
        body = re.sub(r"task_[A-Za-z0-9_-]{24}", "<a task>", body)
        body = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "<time>", body)
        kept = []
        for name, value in headers:
            for own, placeholder in run.own_values.items():
                value = value.replace(own, placeholder)
            if name == "date" or name == "x-ratelimit-reset" or name == "retry-after":
                value = "<time>" if value else ""
            elif name == "x-request-id" and value != "client-id-1":
                assert re.fullmatch(r"[0-9a-f]{24}[0-9a-f]{8,}", value), value
                value = "<new id>"
            kept.append((name, value))
        result.append((label, status, kept, body))
    return result


async def test_the_hot_routes_answer_as_the_router_does(
    services: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    runs, counted, logged = [], [], []
    direct = []
    for hot in (True, False):
        caplog.clear()
        before = request_counts()
        run = await battery(services, hot, monkeypatch)
        direct.append(run.direct)
        runs.append(normalized(run))
        after = request_counts()
        counted.append(
            {
                key: after[key] - before.get(key, 0)
                for key in after
                if after[key] != before.get(key, 0)
            }
        )
        logged.append(
            [
                (
                    record.name,
                    record.levelname,
                    record.getMessage(),
                    getattr(record, "status", None),
                )
                for record in caplog.records
                if record.name.startswith("grokimagine.")
            ]
        )
    hot_run, router_run = runs
    # The direct path answered the admitted polls and submissions of one run, none of the other.
    assert direct[0] > 90 and direct[1] == 0
    assert len(hot_run) == len(router_run)
    for hot_answer, router_answer in zip(hot_run, router_run, strict=True):
        assert hot_answer == router_answer
    statuses = {status for _, status, _, _ in hot_run}
    assert {200, 400, 401, 402, 403, 404, 405, 409, 413, 429, 500} <= statuses
    assert counted[0] == counted[1]
    assert any(("route", "/v1/status") in key for key in counted[0])
    assert any(("route", "/v1/generate") in key for key in counted[0])
    assert logged[0] == logged[1]
    assert any("a bug" in message or "unhandled" in message for _, _, message, _ in logged[0])
