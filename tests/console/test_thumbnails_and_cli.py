"""Poster frames for every stored video, the signed thumbnail_url, and ``grokimagine users``."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from grokimagine.cli import main
from grokimagine.domain.accounts import users
from grokimagine.engines.base import Engine, GenerationResult
from grokimagine.services import Services
from grokimagine.settings import Settings
from grokimagine.storage.db import Database
from tests.helpers.customers import Customer, make_worker


async def test_the_worker_stores_a_poster_frame_and_the_task_links_it(
    services: Services, client, customer: Customer
):
    made = await client.post(
        "/v1/generate", json={"prompt": "a lighthouse", "ratio": "3:2"}, headers=customer.headers
    )
    task_id = made.json()["data"]["task_id"]
    pending = (await client.get(f"/v1/tasks/{task_id}", headers=customer.headers)).json()["data"]
    assert pending["thumbnail_url"] is None
    assert await make_worker(services).run_once()
    task = (await client.get(f"/v1/tasks/{task_id}", headers=customer.headers)).json()["data"]
    url = task["thumbnail_url"]
    assert url.startswith(f"http://testserver/files/videos/{task_id}/0.jpg?expires=")
    poster = await client.get(url.removeprefix("http://testserver"))
    assert poster.status_code == 200
    assert poster.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(poster.content))
    assert image.format == "JPEG"
    assert image.size == (480, 320)  # the 720x480 video, scaled to fit 480
    # The reference page's status body is unchanged.
    status = (await client.get(f"/v1/status?task_id={task_id}", headers=customer.headers)).json()
    assert "thumbnail_url" not in status["data"]
    # A forged signature is refused; deleting the task deletes the poster.
    forged = await client.get(url.removeprefix("http://testserver")[:-4] + "0000")
    assert forged.status_code == 403
    await client.delete(f"/v1/tasks/{task_id}", headers=customer.headers)
    assert (await client.get(url.removeprefix("http://testserver"))).status_code == 404
    gone = (await client.get(f"/v1/tasks/{task_id}", headers=customer.headers)).json()["data"]
    assert gone["thumbnail_url"] is None


def test_users_create_reads_the_password_from_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("GROKIMAGINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GROKIMAGINE_DATABASE_URL", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["users", "create", "--email", "Op@Example.com", "--admin"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("operator op@example.com (user_")
    account_id = out.split()[-1]

    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "create", "--email", "b@example.com", "--account", account_id]) == 1
    assert "at least 10 characters" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["users", "create", "--email", "c@example.com", "--account", "acct_nope"]) == 1
    assert "no account acct_nope" in capsys.readouterr().err

    async def check() -> users.User | None:
        db = Database(Settings().resolved_database_url)
        try:
            return await users.verify_credentials(db, "op@example.com", "a long enough password")
        finally:
            await db.dispose()

    import asyncio

    user = asyncio.run(check())
    assert user is not None and user.is_admin and user.account_id == account_id


class _UndecodableEngine(Engine):
    """Writes bytes that are not a video: what a misbehaving provider might hand back."""

    def generate(self, request, output: Path, control) -> GenerationResult:
        output.write_bytes(b"\x00\x00\x00\x18ftypmp42 but not really a video")
        return GenerationResult()


async def test_a_video_without_a_decodable_frame_is_kept_without_a_poster(
    services: Services, client, customer: Customer
):
    made = await client.post("/v1/generate", json={"prompt": "x"}, headers=customer.headers)
    task_id = made.json()["data"]["task_id"]
    assert await make_worker(services, _UndecodableEngine()).run_once()
    task = (await client.get(f"/v1/tasks/{task_id}", headers=customer.headers)).json()["data"]
    assert task["status"] == "completed" and len(task["response"]) == 1
    assert task["thumbnail_url"] is None


async def test_a_video_stored_as_soon_as_fetched_gets_its_poster_too(services: Services, tmp_path):
    """A relay's paid-for video is in the store before the task completes (render.py): its
    poster is made from the stored bytes."""
    from grokimagine.engines.preview.engine import PreviewEngine
    from grokimagine.worker.render import TaskRenderer, video_key

    rendered = tmp_path / "first.mp4"
    second = tmp_path / "second.mp4"
    engine = PreviewEngine()
    from grokimagine.engines.base import GenerationRequest, RenderControl

    for path in (rendered, second):
        engine.generate(
            GenerationRequest(
                prompt="p",
                mode="normal",
                ratio="1:1",
                width=96,
                height=96,
                num_frames=6,
                fps=24,
                seed=1,
                images=[],
                negative_prompt=None,
            ),
            path,
            RenderControl(),
        )
    task_id = "task_" + "a" * 24
    services.store.put_file(video_key(task_id, 0), rendered)  # stored at fetch time
    renderer = TaskRenderer(services, services.router, {"preview"})
    keys, posters = renderer.store_videos(task_id, [video_key(task_id, 0), second])
    assert keys == [f"videos/{task_id}/0.mp4", f"videos/{task_id}/1.mp4"]
    assert posters == [f"videos/{task_id}/0.jpg", f"videos/{task_id}/1.jpg"]
    for key in posters:
        assert Image.open(io.BytesIO(services.store.get_bytes(key))).format == "JPEG"
