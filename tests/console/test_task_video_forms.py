"""The task page's Extend and Edit forms: they call the API's use case, charge per the price
table, need the CSRF token, refuse another account's task and show refusals as text."""

from __future__ import annotations

import pytest

from grokimagine.domain.accounts import accounts
from grokimagine.domain.tasks import control as task_control
from grokimagine.domain.tasks.records import find_task
from grokimagine.services import Services
from tests.helpers.console import ConsoleUser, make_user, sign_in
from tests.helpers.customers import make_worker

# The default table at 480p: 4 credits + 6 per second; an edit is priced as a 6 s clip.
GENERATE_2S, EXTEND_4S, EDIT_CLIP = 4 + 6 * 2, 4 + 6 * 4, 4 + 6 * 6


async def balance(services: Services, who: ConsoleUser) -> int:
    return (await accounts.get_account(services.db, who.account_id)).balance


async def task_count(services: Services, who: ConsoleUser) -> int:
    page = await task_control.list_tasks(
        services.db, who.account_id, limit=100, cursor=None, status=None
    )
    return len(page.records)


async def completed_task(services: Services, http, csrf: str) -> str:
    made = await http.post(
        "/console/api/generate",
        json={"prompt": "a quiet street", "duration": 2},
        headers={"X-CSRF-Token": csrf},
    )
    assert made.status_code == 200, made.text
    task_id = made.json()["data"]["task_id"]
    assert await make_worker(services).run_once()
    return task_id


async def test_the_forms_show_only_on_a_completed_task(services: Services, browser_like):
    who = await make_user(services)
    http = browser_like()
    csrf = await sign_in(http, who)
    made = await http.post(
        "/console/api/generate", json={"prompt": "wait"}, headers={"X-CSRF-Token": csrf}
    )
    task_id = made.json()["data"]["task_id"]
    pending = await http.get(f"/console/tasks/{task_id}")
    assert pending.status_code == 200
    assert f"/console/tasks/{task_id}/extend" not in pending.text
    assert f"/console/tasks/{task_id}/edit" not in pending.text
    assert await make_worker(services).run_once()
    done = await http.get(f"/console/tasks/{task_id}")
    assert f'action="/console/tasks/{task_id}/extend"' in done.text
    assert f'action="/console/tasks/{task_id}/edit"' in done.text
    assert '<label for="extend-prompt">Prompt</label>' in done.text
    assert '<label for="extend-duration">Duration' in done.text
    assert '<button type="submit">Extend</button>' in done.text
    assert '<button type="submit">Edit</button>' in done.text


@pytest.mark.both_databases
async def test_extend_from_the_task_page_makes_an_extend_task_charged_per_the_table(
    services: Services, browser_like
):
    who = await make_user(services, credits=400)
    http = browser_like()
    csrf = await sign_in(http, who)
    source_id = await completed_task(services, http, csrf)
    assert await balance(services, who) == 400 - GENERATE_2S
    answer = await http.post(
        f"/console/tasks/{source_id}/extend",
        data={"prompt": "then it snows", "duration": "4", "csrf_token": csrf},
    )
    assert answer.status_code == 303, answer.text
    new_id = answer.headers["location"].removeprefix("/console/tasks/")
    assert new_id != source_id and new_id.startswith("task_")
    record = await find_task(services.db, new_id, account_id=who.account_id)
    assert record is not None
    assert record.request["operation"] == "extend"
    assert record.request["source"] == {"task_id": source_id, "video_index": 0}
    assert record.request["duration"] == 4 and record.prompt == "then it snows"
    assert await balance(services, who) == 400 - GENERATE_2S - EXTEND_4S
    page = await http.get(answer.headers["location"])
    assert page.status_code == 200 and "then it snows" in page.text
    # The new task runs like any other: its video is the source plus the 4 s.
    assert await make_worker(services).run_once()
    finished = await find_task(services.db, new_id, account_id=who.account_id)
    assert finished.status == "completed" and finished.consumed_credits == EXTEND_4S


async def test_edit_from_the_task_page_makes_an_edit_task_charged_per_the_table(
    services: Services, browser_like
):
    who = await make_user(services, credits=400)
    http = browser_like()
    csrf = await sign_in(http, who)
    source_id = await completed_task(services, http, csrf)
    answer = await http.post(
        f"/console/tasks/{source_id}/edit",
        data={"prompt": "the same street at night", "csrf_token": csrf},
    )
    assert answer.status_code == 303, answer.text
    new_id = answer.headers["location"].removeprefix("/console/tasks/")
    record = await find_task(services.db, new_id, account_id=who.account_id)
    assert record is not None and record.request["operation"] == "edit"
    assert record.request["source"] == {"task_id": source_id, "video_index": 0}
    assert await balance(services, who) == 400 - GENERATE_2S - EDIT_CLIP


async def test_a_form_without_its_csrf_token_is_refused_and_charges_nothing(
    services: Services, browser_like
):
    who = await make_user(services)
    http = browser_like()
    csrf = await sign_in(http, who)
    source_id = await completed_task(services, http, csrf)
    before, tasks = await balance(services, who), await task_count(services, who)
    for path, data in (
        ("extend", {"prompt": "more", "duration": "4"}),
        ("edit", {"prompt": "other"}),
        ("extend", {"prompt": "more", "duration": "4", "csrf_token": "forged"}),
    ):
        answer = await http.post(f"/console/tasks/{source_id}/{path}", data=data)
        assert answer.status_code == 403, (path, data)
    assert await balance(services, who) == before
    assert await task_count(services, who) == tasks


async def test_another_accounts_task_is_not_found_and_nothing_is_charged(
    services: Services, browser_like
):
    owner, stranger = await make_user(services), await make_user(services)
    owner_http, stranger_http = browser_like(), browser_like()
    owner_csrf = await sign_in(owner_http, owner)
    stranger_csrf = await sign_in(stranger_http, stranger)
    source_id = await completed_task(services, owner_http, owner_csrf)
    owner_before = await balance(services, owner)
    stranger_before = await balance(services, stranger)
    for path, data in (
        ("extend", {"prompt": "steal", "duration": "4"}),
        ("edit", {"prompt": "steal"}),
    ):
        answer = await stranger_http.post(
            f"/console/tasks/{source_id}/{path}", data={**data, "csrf_token": stranger_csrf}
        )
        assert answer.status_code == 404, answer.text
        assert "a quiet street" not in answer.text
    # An unknown id is answered the same way.
    unknown = await stranger_http.post(
        "/console/tasks/task_unknown/extend",
        data={"prompt": "x", "duration": "4", "csrf_token": stranger_csrf},
    )
    assert unknown.status_code == 404
    assert await balance(services, stranger) == stranger_before
    assert await balance(services, owner) == owner_before
    assert await task_count(services, stranger) == 0
    assert await task_count(services, owner) == 1


@pytest.mark.both_databases
async def test_a_refusal_is_shown_on_the_task_page_as_text(services: Services, browser_like):
    # Enough for the source video, not for extending it by 4 s.
    who = await make_user(services, credits=GENERATE_2S + EXTEND_4S - 1)
    http = browser_like()
    csrf = await sign_in(http, who)
    source_id = await completed_task(services, http, csrf)
    tasks = await task_count(services, who)
    prompt = "<script>alert(1)</script>"
    broke = await http.post(
        f"/console/tasks/{source_id}/extend",
        data={"prompt": prompt, "duration": "4", "csrf_token": csrf},
    )
    assert broke.status_code == 402
    assert "Insufficient credits: the balance is below the price" in broke.text
    assert prompt not in broke.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in broke.text
    bad = await http.post(
        f"/console/tasks/{source_id}/extend",
        data={"prompt": "more", "duration": "<b>soon</b>", "csrf_token": csrf},
    )
    assert bad.status_code == 400
    assert "Invalid request: The duration parameter is not valid" in bad.text
    assert "<b>soon</b>" not in bad.text
    blank = await http.post(
        f"/console/tasks/{source_id}/edit", data={"prompt": "  ", "csrf_token": csrf}
    )
    assert blank.status_code == 400 and "The prompt parameter is not valid" in blank.text
    assert await task_count(services, who) == tasks
    assert await balance(services, who) == EXTEND_4S - 1
