"""The SGLang Diffusion and vLLM-Omni fakes refuse what the real servers refuse, as they do.

Plain HTTP against each fake, no engine: these are the server behaviours the engines rely on
(fake_sglang.py and fake_vllm_omni.py name the source files they follow).
"""

from __future__ import annotations

import time

import httpx

from .fake_sglang import FakeSglang, SglangScenario
from .fake_vllm_omni import VLLM_MODEL, FakeVllmOmni, VllmScenario
from .helpers import VLLM_KEY, wait_for


def test_sglang_answers_fastapi_details_and_reads_variant_as_an_index(
    sglang: FakeSglang, sglang_server: tuple[FakeSglang, str]
) -> None:
    sglang.reset(SglangScenario(render_seconds=0.05))
    _, base = sglang_server
    with httpx.Client(base_url=f"{base}/v1", timeout=10) as http:
        missing = http.post("/videos", json={"size": "480x720"})
        assert missing.status_code == 400 and "prompt" in missing.json()["detail"]
        bad_image = http.post("/videos", json={"prompt": "x", "reference_url": "/etc/passwd"})
        assert "Unsupported image url format" in bad_image.json()["detail"]
        server_path = http.post("/videos", json={"prompt": "x", "input_reference": "data:..."})
        assert server_path.status_code == 400
        video = http.post("/videos", json={"prompt": "x", "seconds": "2", "fps": 8}).json()
        assert (video["status"], video["seconds"]) == ("queued", "2")
        assert wait_for(lambda: http.get(f"/videos/{video['id']}").json()["status"] == "completed")
        named = http.get(f"/videos/{video['id']}/content", params={"variant": "video"})
        assert (
            named.status_code == 404 and named.json()["detail"] == "Video variant video not found"
        )
        assert http.get(f"/videos/{video['id']}/content", params={"variant": "0"}).is_success
        deleted = http.delete(f"/videos/{video['id']}").json()
        assert deleted["status"] == "deleted"
        assert http.get(f"/videos/{video['id']}").status_code == 404
        assert http.get("/models").json()["data"][0]["id"]


def test_sglang_failed_job_is_a_200_with_a_message_and_no_code(
    sglang: FakeSglang, sglang_server: tuple[FakeSglang, str]
) -> None:
    sglang.reset(SglangScenario(outcome="failed", render_seconds=0.01))
    _, base = sglang_server
    with httpx.Client(base_url=f"{base}/v1", timeout=10) as http:
        video = http.post("/videos", json={"prompt": "x"}).json()
        time.sleep(0.05)
        answer = http.get(f"/videos/{video['id']}")
        assert answer.status_code == 200
        assert answer.json()["status"] == "failed" and answer.json()["error"] == {
            "message": "CUDA out of memory"
        }


def test_vllm_reads_forms_only_and_answers_openai_errors(
    vllm: FakeVllmOmni, vllm_server: tuple[FakeVllmOmni, str]
) -> None:
    vllm.reset(VllmScenario(outcome="failed", render_seconds=0.01))
    _, base = vllm_server
    auth = {"Authorization": f"Bearer {VLLM_KEY}"}
    with httpx.Client(base_url=f"{base}/v1", timeout=10, headers=auth) as http:
        as_json = http.post("/videos", json={"prompt": "x"})
        assert as_json.status_code == 400
        assert as_json.json()["error"]["message"] == "prompt: Field required"
        assert http.post("/videos", data={"prompt": "x", "seconds": "0"}).status_code == 400
        assert http.post("/videos", data={"prompt": "x", "size": "720p"}).status_code == 400
        other = http.post("/videos", data={"prompt": "x", "model": "other"})
        assert "Model mismatch" in other.json()["error"]["message"]
        video = http.post("/videos", data={"prompt": "x", "model": VLLM_MODEL}).json()
        assert video["id"].startswith("video_gen_") and video["status"] == "queued"
        time.sleep(0.05)
        failed = http.get(f"/videos/{video['id']}")
        assert failed.status_code == 500 and failed.json()["error"]["code"] == 500
        assert http.get(f"/videos/{video['id']}/content").status_code == 422
        assert http.delete(f"/videos/{video['id']}").json() == {
            "id": video["id"],
            "deleted": True,
            "object": "video.deleted",
        }
    unauthenticated = httpx.post(f"{base}/v1/videos", data={"prompt": "x"})
    assert unauthenticated.status_code == 401
