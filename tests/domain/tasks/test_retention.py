"""Retention: with 1 day set, tasks completed 2 days ago lose their files on the next purge, on
local files and on a real S3 server (moto); rows, money and audit stay; a purge killed midway and
run again deletes nothing twice and misses nothing."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, update

from grokimagine.domain.clock import utcnow
from grokimagine.domain.tasks import retention
from grokimagine.domain.tasks.records import find_task as find_any_task
from grokimagine.http.app import create_app
from grokimagine.services import Services, build_services
from grokimagine.settings import Settings
from grokimagine.storage.schema import audit_log, job_leases, ledger, tasks
from tests.helpers.admin import balance, keep_videos_for
from tests.helpers.api import png
from tests.helpers.customers import BASE_URL, make_customer, make_worker
from tests.helpers.moto_s3 import moto_server, new_bucket

IMAGE = "data:image/png;base64," + base64.b64encode(png((200, 40, 40))).decode()


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["local", "s3"])
async def stored(
    request: pytest.FixtureRequest, settings: Settings, services: Services, s3_endpoint: str
) -> AsyncIterator[Services]:
    """The service with its files on local disk, or in a bucket of the S3 test server (started
    once for the module, before any test's leak check takes its count)."""
    if request.param == "local":
        yield services
        return
    endpoint = s3_endpoint
    built = build_services(
        settings.replace(
            storage="s3",
            s3_bucket=new_bucket(endpoint),
            s3_endpoint_url=endpoint,
            s3_access_key_id="test-access",
            s3_secret_access_key=SecretStr("test-secret"),
        ),
        public_url=BASE_URL,
    )
    yield built
    await built.close()


async def _record(services: Services, task_id: str):
    return await find_any_task(services.db, task_id, account_id=None)


def _keys(record) -> list[str]:
    keys = [*record.videos, *record.posters, *(image["key"] for image in record.input_images)]
    assert record.videos and record.posters and record.input_images
    return keys


def _exists(services: Services, key: str) -> bool:
    try:
        services.store.get_bytes(key)
    except FileNotFoundError:
        return False
    return True


async def _tasks(services: Services, client: httpx.AsyncClient, count: int):
    customer = await make_customer(services, credits=1000)
    made = []
    for n in range(count):
        answer = await client.post(
            "/v1/generate",
            json={"prompt": f"retained {n}", "images": [IMAGE]},
            headers=customer.headers,
        )
        assert answer.status_code == 200, answer.text
        made.append(answer.json()["data"]["task_id"])
    worker = make_worker(services)
    while await worker.run_once():
        pass
    return customer, made


async def _age(services: Services, task_ids: list[str], days: float) -> None:
    async with services.db.write() as conn:
        await conn.execute(
            update(tasks)
            .where(tasks.c.id.in_(task_ids))
            .values(completed_at=utcnow() - timedelta(days=days))
        )


async def _counts(services: Services) -> tuple[int, int, int]:
    rows = []
    for table in (tasks, ledger, audit_log):
        row = await services.db.fetch_one(select(func.count()).select_from(table))
        rows.append(int(row[0]))
    return tuple(rows)


async def test_old_files_are_purged_and_the_task_and_its_money_stay(stored: Services) -> None:
    transport = httpx.ASGITransport(app=create_app(stored), client=("203.0.113.9", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        customer, (old, older, recent) = await _tasks(stored, client, 3)
        await keep_videos_for(stored, {"free": 1})
        await _age(stored, [old, older], days=2)
        await _age(stored, [recent], days=0.5)
        before = await _counts(stored)
        money = await balance(stored, customer.account_id)
        old_url = (
            await client.get("/v1/status", params={"task_id": old}, headers=customer.headers)
        ).json()["data"]["response"][0]
        records = {task_id: await _record(stored, task_id) for task_id in (old, older, recent)}
        assert all(_exists(stored, key) for r in records.values() for key in _keys(r))

        report = await retention.purge_expired_files(
            stored.db, stored.store, stored.retention_days, owner="test"
        )

        assert report.ran and sorted(report.expired) == sorted([old, older])
        for task_id in (old, older):
            assert not any(_exists(stored, key) for key in _keys(records[task_id]))
        assert all(_exists(stored, key) for key in _keys(records[recent]))
        assert await _counts(stored) == before  # rows, ledger and audit untouched
        assert await balance(stored, customer.account_id) == money
        status = (
            await client.get("/v1/status", params={"task_id": old}, headers=customer.headers)
        ).json()["data"]
        assert status["status"] == "completed" and status["response"] == []
        assert status["videos_expired_at"] and status["consumed_credits"] == 40
        fresh = (
            await client.get("/v1/status", params={"task_id": recent}, headers=customer.headers)
        ).json()["data"]
        assert len(fresh["response"]) == 1 and "videos_expired_at" not in fresh
        if old_url.startswith(BASE_URL):  # local files: our route answers the old URL
            gone = await client.get(old_url.removeprefix(BASE_URL))
            assert gone.status_code == 410 and gone.json()["error"] == "VIDEO_EXPIRED"
        again = await retention.purge_expired_files(
            stored.db, stored.store, stored.retention_days, owner="test"
        )
        assert again.ran and again.expired == []


class _Killed(Exception):
    pass


class _CountingStore:
    """The store, counting the files each purge call really removed; 'killed' after a number of
    tasks, right after deleting (the worst moment: files gone, task not marked)."""

    def __init__(self, store, keys: dict[str, list[str]], kill_after: int | None) -> None:
        self.store = store
        self.keys = keys
        self.kill_after = kill_after
        self.removed: dict[str, int] = {}
        self.calls = 0

    def delete_task_files(self, task_id: str) -> None:
        existing = [key for key in self.keys[task_id] if self._exists(key)]
        self.store.delete_task_files(task_id)
        self.removed[task_id] = self.removed.get(task_id, 0) + len(existing)
        self.calls += 1
        if self.kill_after is not None and self.calls == self.kill_after:
            raise _Killed()

    def _exists(self, key: str) -> bool:
        try:
            self.store.get_bytes(key)
        except FileNotFoundError:
            return False
        return True


async def test_a_purge_killed_midway_and_run_again_deletes_nothing_twice_and_misses_nothing(
    stored: Services,
) -> None:
    transport = httpx.ASGITransport(app=create_app(stored), client=("203.0.113.9", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        _, made = await _tasks(stored, client, 5)
    await keep_videos_for(stored, {"default": 1})
    await _age(stored, made, days=2)
    keys = {task_id: _keys(await _record(stored, task_id)) for task_id in made}

    first = _CountingStore(stored.store, keys, kill_after=3)
    with pytest.raises(_Killed):
        await retention.purge_expired_files(
            stored.db, first, stored.retention_days, owner="w1", batch=2
        )
    marked_first = {
        task_id for task_id in made if (await _record(stored, task_id)).files_expired_at
    }
    # A real kill leaves its lease behind until it expires.
    async with stored.db.write() as conn:
        await conn.execute(
            update(job_leases).values(owner="w1", expires_at=utcnow() + timedelta(minutes=5))
        )
    blocked = await retention.purge_expired_files(
        stored.db, stored.store, stored.retention_days, owner="w2"
    )
    assert not blocked.ran
    async with stored.db.write() as conn:
        await conn.execute(update(job_leases).values(expires_at=utcnow() - timedelta(seconds=1)))

    second = _CountingStore(stored.store, keys, kill_after=None)
    report = await retention.purge_expired_files(
        stored.db, second, stored.retention_days, owner="w2", batch=2
    )

    assert report.ran
    # Two tasks were marked before the kill; the third was deleted but not marked: it is marked
    # now (its files already gone), with the two the first run never reached.
    assert len(marked_first) == 2
    assert sorted(report.expired) == sorted(set(made) - marked_first)
    removed = {
        task_id: first.removed.get(task_id, 0) + second.removed.get(task_id, 0) for task_id in made
    }
    assert removed == {task_id: len(keys[task_id]) for task_id in made}  # each file once
    for task_id in made:
        record = await _record(stored, task_id)
        assert record.files_expired_at is not None
        assert not any(first._exists(key) for key in keys[task_id])
    assert await retention.due_for_purge(stored.db, stored.retention_days) == []


async def test_storage_per_account_and_what_the_next_purge_frees(stored: Services) -> None:
    transport = httpx.ASGITransport(app=create_app(stored), client=("203.0.113.9", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        customer, (old, _) = await _tasks(stored, client, 2)
    await keep_videos_for(stored, {"default": 1})
    await _age(stored, [old], days=2)
    [line] = await retention.storage_by_account(stored.db, stored.store, stored.retention_days)
    assert line.account_id == customer.account_id and line.tasks == 2
    assert 0 < line.next_purge_bytes < line.bytes
    await retention.purge_expired_files(stored.db, stored.store, stored.retention_days, owner="t")
    [after] = await retention.storage_by_account(stored.db, stored.store, stored.retention_days)
    assert (after.tasks, after.bytes, after.next_purge_bytes) == (
        1,
        line.bytes - line.next_purge_bytes,
        0,
    )
