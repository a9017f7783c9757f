"""Generate options (n, duration, resolution, seed, negative_prompt), checked against the engines
that serve the request, with the price shown before charging (GET /v1/pricing)."""

from __future__ import annotations

import io

import av
import httpx
import pytest
from pydantic import SecretStr

from grokimagine.http.app import create_app
from grokimagine.services import Services, build_services
from grokimagine.settings import Settings
from tests.helpers.api import balance_of, status_of, submit, task_of
from tests.helpers.customers import BASE_URL, Customer, make_customer, make_worker


def video_shape(content: bytes) -> tuple[int, int, int]:
    """(width, height, frames) of an MP4."""
    with av.open(io.BytesIO(content)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        return stream.codec_context.width, stream.codec_context.height, frames


async def test_n_videos_are_made_and_each_is_charged(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    body = {"prompt": "p", "n": 3, "seed": 7, "duration": 1}
    task_id = await submit(client, customer, body)
    # The default table: 4 + 6 credits a second, so a 1 s video costs 10 (the 6 s one, 40).
    assert await balance_of(services, customer.account_id) == 400 - 3 * 10
    pending = await status_of(client, customer, task_id)
    assert pending["consumed_credits"] == 30
    assert pending["request"] == {"mode": "normal", "prompt": "p", "ratio": "1:1", **body}
    assert await make_worker(services).run_once()
    done = await task_of(client, customer, task_id)
    assert len(done["response"]) == 3 and done["options"]["seed"] == 7
    videos = [(await client.get(url.removeprefix(BASE_URL))).content for url in done["response"]]
    assert len(set(videos)) == 3  # seeds 7, 8 and 9
    assert {video_shape(video) for video in videos} == {(480, 480, 24)}


@pytest.mark.parametrize(
    ("ratio", "size"), [("1:1", (720, 720)), ("2:3", (720, 1080)), ("3:2", (1080, 720))]
)
async def test_720p_and_a_duration_give_the_size_and_length_asked(
    client: httpx.AsyncClient,
    customer: Customer,
    services: Services,
    ratio: str,
    size: tuple[int, int],
) -> None:
    body = {"prompt": "p", "ratio": ratio, "resolution": "720p", "duration": 2}
    task_id = await submit(client, customer, body)
    await make_worker(services).run_once()
    done = await task_of(client, customer, task_id)
    assert done["options"]["resolution"] == "720p" and done["options"]["duration"] == 2
    video = (await client.get(done["response"][0].removeprefix(BASE_URL))).content
    assert video_shape(video) == (*size, 48)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"n": 0}, "The n parameter is not valid: input should be greater than or equal to 1"),
        ({"n": 5}, "The n parameter is not valid: input should be less than or equal to 4"),
        ({"n": "2"}, "The n parameter is not valid: input should be a valid integer"),
        ({"duration": 11}, "The duration parameter is not valid: offered are 1, 2, 3, 4, 5, 6, 7, 8, 9, 10"),
        ({"duration": 0}, "The duration parameter is not valid: input should be greater than or equal to 1"),
        ({"resolution": "1080p"}, "The resolution parameter is not valid: input should be '480p' or '720p'"),
        ({"seed": -1}, "The seed parameter is not valid"),
        ({"seed": 2**31}, "The seed parameter is not valid"),
        ({"negative_prompt": "x" * 4001}, "The negative_prompt parameter is not valid"),
    ],
)  # fmt: skip
async def test_bad_options_are_400s_and_charge_nothing(
    client: httpx.AsyncClient, customer: Customer, services: Services, body: dict, message: str
) -> None:
    response = await client.post(
        "/v1/generate", json={"prompt": "p", **body}, headers=customer.headers
    )
    assert response.status_code == 400
    assert response.json()["message"].startswith(f"Invalid request: {message}")
    assert await balance_of(services, customer.account_id) == 400


async def test_n_beyond_the_balance_is_a_402(client: httpx.AsyncClient, services: Services) -> None:
    poor = await make_customer(services, credits=100)
    response = await client.post("/v1/generate", json={"prompt": "p", "n": 3}, headers=poor.headers)
    assert response.status_code == 402
    assert await balance_of(services, poor.account_id) == 100


@pytest.fixture
async def xai_routed(settings: Settings, services: Services) -> tuple[httpx.AsyncClient, Services]:
    """Pro accounts are served by xAI, which takes no seed or negative prompt, then preview
    (on the database ``services`` emptied)."""
    routed = settings.replace(
        **{"routes": {"plan:pro": ["xai", "preview"]}, "xai_api_key": SecretStr("k")}
    )
    own = build_services(routed, public_url=BASE_URL)
    transport = httpx.ASGITransport(app=create_app(own))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http, own
    await own.close()


async def test_options_are_checked_against_every_engine_of_the_route(
    xai_routed: tuple[httpx.AsyncClient, Services],
) -> None:
    http, services = xai_routed
    pro = await make_customer(services, plan="pro")
    free = await make_customer(services, plan="free")
    for field, value in (("seed", 1), ("negative_prompt", "blur")):
        refused = await http.post(
            "/v1/generate", json={"prompt": "p", field: value}, headers=pro.headers
        )
        assert refused.status_code == 400
        assert refused.json()["message"] == (
            f"Invalid request: The {field} parameter is not supported by the engines of this mode"
        )
        accepted = await http.post(
            "/v1/generate", json={"prompt": "p", field: value}, headers=free.headers
        )
        assert accepted.status_code == 200

    pricing = (await http.get("/v1/pricing", headers=pro.headers)).json()["data"]
    normal = pricing["modes"]["normal"]
    assert (normal["seed"], normal["negative_prompt"]) == (False, False)
    assert normal["durations"] == list(range(1, 11))  # preview's 1-10 within xAI's 1-15
    assert normal["resolutions"] == ["480p", "720p"]


async def test_pricing_shows_the_price_and_options_before_charging(
    client: httpx.AsyncClient, customer: Customer, services: Services
) -> None:
    response = await client.get("/v1/pricing", headers=customer.headers)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["credits_per_video"] == 40 and data["charged"] is True
    assert data["price_formula"].startswith("n * price(resolution, duration)")
    assert set(data["modes"]) == {"fun", "normal", "spicy"}
    assert data["modes"]["spicy"]["allowed"] is False and data["modes"]["fun"]["allowed"]
    assert data["modes"]["fun"] == {
        "allowed": True,
        "durations": list(range(1, 11)),
        "resolutions": ["480p", "720p"],
        "max_n": 4,
        "seed": True,
        "negative_prompt": True,
        "max_images": 4,
        "prices": {
            "480p": {"base": 4, "per_second": 6},
            "720p": {"base": 4, "per_second": 9},
        },
        "operations": ["generate", "extend", "edit"],
        "extend": {
            "durations": list(range(1, 11)),
            "source_seconds": [0.0, 30.0],
            "prices": {
                "480p": {"base": 4, "per_second": 6},
                "720p": {"base": 4, "per_second": 9},
            },
        },
        "edit": {"max_source_seconds": 30.0, "prices": {"480p": 40, "720p": 58}},
    }
    assert data["table"] == {"default": data["modes"]["fun"]["prices"]}
    assert "engines" not in data["modes"]["fun"]  # which providers serve is not shown
    assert await balance_of(services, customer.account_id) == 400


@pytest.fixture
async def relay_routed(settings: Settings) -> tuple[httpx.AsyncClient, Services]:
    """Pro accounts served by xAI alone, enterprise ones by an OpenAI-style server alone."""
    routed = settings.replace(
        routes={"plan:pro": ["xai"], "plan:enterprise": ["openai-videos"]},
        xai_api_key=SecretStr("k"),
        openai_videos_base_url="http://videos.example.com/v1",
    )
    own = build_services(routed, public_url=BASE_URL)
    transport = httpx.ASGITransport(app=create_app(own))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http, own
    await own.close()


async def test_pricing_shows_xais_durations_resolutions_and_images(
    relay_routed: tuple[httpx.AsyncClient, Services],
) -> None:
    http, services = relay_routed
    pro = await make_customer(services, plan="pro")
    normal = (await http.get("/v1/pricing", headers=pro.headers)).json()["data"]["modes"]["normal"]
    assert normal["durations"] == list(range(1, 16))
    assert normal["resolutions"] == ["480p", "720p"]
    assert normal["max_images"] == 4  # xAI takes 7 reference images; the API takes 4
    assert (normal["seed"], normal["negative_prompt"]) == (False, False)
    for duration in (1, 15):
        accepted = await http.post(
            "/v1/generate", json={"prompt": "p", "duration": duration}, headers=pro.headers
        )
        assert accepted.status_code == 200, accepted.text
    refused = await http.post(
        "/v1/generate", json={"prompt": "p", "duration": 16}, headers=pro.headers
    )
    assert refused.status_code == 400


async def test_images_beyond_what_the_engines_take_are_refused(
    relay_routed: tuple[httpx.AsyncClient, Services],
) -> None:
    http, services = relay_routed
    enterprise = await make_customer(services, plan="enterprise")
    pricing = (await http.get("/v1/pricing", headers=enterprise.headers)).json()["data"]
    assert pricing["modes"]["fun"]["max_images"] == 1
    two = ["https://example.com/a.png", "https://example.com/b.png"]
    refused = await http.post(
        "/v1/generate", json={"prompt": "p", "images": two}, headers=enterprise.headers
    )
    assert refused.status_code == 400
    assert refused.json()["message"] == (
        "Invalid request: The images parameter is not valid: the engines of this mode take at most 1"
    )
