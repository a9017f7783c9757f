"""The S3 store against a real S3-compatible server (moto's standalone server on loopback)."""

from __future__ import annotations

import base64
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import boto3
import httpx
import pytest
from botocore.exceptions import EndpointConnectionError
from pydantic import SecretStr

from grokimagine.http.app import create_app
from grokimagine.services import Services, build_services
from grokimagine.settings import Settings
from grokimagine.storage.s3 import S3FileStore
from tests.helpers.api import png, status_of, submit
from tests.helpers.cluster import free_port, wait_until
from tests.helpers.customers import BASE_URL, make_customer, make_worker

KEY = "videos/task_abcdefgh1234/0.mp4"
CREDENTIALS = {"access_key_id": "test-access", "secret_access_key": "test-secret"}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server, started on a free loopback port for the test session."""
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            httpx.get(endpoint, timeout=1)
            return True
        except httpx.HTTPError:
            return False

    try:
        wait_until(answers, 30)
        yield endpoint
    finally:
        server.kill()
        server.wait(10)


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    """A new, empty bucket."""
    name = f"gi-test-{secrets.token_hex(4)}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test-access",
        aws_secret_access_key="test-secret",
    )
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def store(s3_endpoint: str, bucket: str) -> S3FileStore:
    return S3FileStore(bucket, endpoint_url=s3_endpoint, prefix="gi/", **CREDENTIALS)


def test_put_get_and_delete(store: S3FileStore, tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(1000))
    store.put_file(KEY, video)
    store.put_bytes("inputs/task_abcdefgh1234/0.png", png((1, 2, 3)))
    store.put_bytes("inputs/task_other123456/0.png", b"other task")
    assert store.get_bytes(KEY) == video.read_bytes()
    assert store.get_bytes("inputs/task_abcdefgh1234/0.png") == png((1, 2, 3))

    store.delete_task_files("task_abcdefgh1234")
    with pytest.raises(FileNotFoundError):
        store.get_bytes(KEY)
    with pytest.raises(FileNotFoundError):
        store.get_bytes("inputs/task_abcdefgh1234/0.png")
    assert store.get_bytes("inputs/task_other123456/0.png") == b"other task"
    store.delete_task_files("task_abcdefgh1234")  # nothing left: not an error


def test_objects_live_under_the_prefix_with_their_content_type(
    store: S3FileStore, s3_endpoint: str, bucket: str
) -> None:
    store.put_bytes(KEY, b"mp4 bytes")
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test-access",
        aws_secret_access_key="test-secret",
    )
    head = client.head_object(Bucket=bucket, Key=f"gi/{KEY}")
    assert head["ContentType"] == "video/mp4"
    assert [item["Key"] for item in client.list_objects_v2(Bucket=bucket)["Contents"]] == [
        f"gi/{KEY}"
    ]


def test_keys_this_service_never_writes_are_refused(store: S3FileStore) -> None:
    for bad in ("videos/../secret", "../x", "videos/task_abcdefgh1234/../../x", "other/k"):
        with pytest.raises(ValueError):
            store.put_bytes(bad, b"x")
        with pytest.raises(ValueError):
            store.video_url(bad, 60)


def test_a_presigned_url_serves_the_video_and_carries_its_expiry(store: S3FileStore) -> None:
    store.put_bytes(KEY, b"\x00\x00\x00\x18ftypisom-video")
    url = store.video_url(KEY, 90)
    answer = httpx.get(url)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "video/mp4"
    assert answer.content == b"\x00\x00\x00\x18ftypisom-video"
    # moto does not enforce the expiry (an expired URL still answers there); what a real store
    # enforces is in the signed query: signed now, valid for exactly the TTL.
    query = parse_qs(urlparse(url).query)
    assert query["X-Amz-Expires"] == ["90"]
    signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - signed_at).total_seconds()) < 60
    assert query["X-Amz-SignedHeaders"] == ["host"] and query["X-Amz-Signature"][0]
    # The signature covers the expiry: another TTL, another signature.
    other = parse_qs(urlparse(store.video_url(KEY, 91)).query)
    assert other["X-Amz-Signature"] != query["X-Amz-Signature"]


def test_presigned_urls_can_name_the_public_endpoint(s3_endpoint: str, bucket: str) -> None:
    store = S3FileStore(
        bucket,
        endpoint_url=s3_endpoint,
        public_endpoint_url="https://media.example.com",
        **CREDENTIALS,
    )
    url = urlparse(store.video_url(KEY, 60))
    assert (url.scheme, url.netloc, url.path) == ("https", "media.example.com", f"/{bucket}/{KEY}")


def test_a_missing_bucket_setting_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="GROKIMAGINE_S3_BUCKET"):
        S3FileStore.from_settings(Settings(storage="s3"))


def test_an_unreachable_store_is_an_error_not_a_missing_file() -> None:
    store = S3FileStore("bucket", endpoint_url=f"http://127.0.0.1:{free_port()}", **CREDENTIALS)
    with pytest.raises(EndpointConnectionError):
        store.get_bytes(KEY)


@pytest.fixture
async def s3_services(
    settings: Settings, services: Services, s3_endpoint: str, bucket: str
) -> AsyncIterator[Services]:
    """The service (SQLite or PostgreSQL) with its files in the S3 store, on an empty database
    (``services`` empties it)."""
    configured = settings.replace(
        storage="s3",
        s3_bucket=bucket,
        s3_endpoint_url=s3_endpoint,
        s3_access_key_id="test-access",
        s3_secret_access_key=SecretStr("test-secret"),
        s3_prefix="svc/",
    )
    built = build_services(configured, public_url=BASE_URL)
    yield built
    await built.close()


async def test_a_task_with_an_image_runs_on_s3_and_its_video_is_served_from_there(
    s3_services: Services,
) -> None:
    customer = await make_customer(s3_services)
    transport = httpx.ASGITransport(app=create_app(s3_services))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        image = "data:image/png;base64," + base64.b64encode(png((200, 30, 30))).decode()
        task_id = await submit(client, customer, {"prompt": "a red card", "images": [image]})
        # The input went to the bucket; the worker reads it back from there.
        stored = s3_services.store.get_bytes(f"inputs/{task_id}/0.png")
        assert stored == png((200, 30, 30))
        assert await make_worker(s3_services).run_once()
        status = await status_of(client, customer, task_id)
    assert status["status"] == "completed"
    url = status["response"][0]
    assert url.startswith(s3_services.settings.s3.endpoint_url)
    video = httpx.get(url)
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.content[4:8] == b"ftyp"
    # The API's own /files route serves nothing for an S3 store.
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        local = await client.get(f"/files/videos/{task_id}/0.mp4")
    assert local.status_code == 404
