"""Models, as OpenAI-shaped clients name what they want: a model is a route, and sizes and
seconds are what that route's engines declare.

``GET /v1/models`` lists them and ``POST /v1/videos`` picks one; the video is then submitted
by :func:`~grokimagine.domain.submission.generate.submit_generation`, like any generation.
The default model is the caller's own route (by plan and mode); the operator may name more
(``GROKIMAGINE_OPENAI_API_MODELS``), each with a route of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grokimagine.domain.accounts.accounts import Principal
from grokimagine.domain.billing.plans import plan_catalog
from grokimagine.domain.billing.price_table import NoPriceError, PriceQuery, price_of, price_table
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.domain.submission.generate import (
    GenerationOrder,
    Submission,
    SubmissionServices,
    engine_route,
    max_images,
    mode_allowed,
    submit_generation,
)
from grokimagine.engines.capabilities import Capabilities
from grokimagine.engines.registry import route_capabilities
from grokimagine.vocabulary import DEFAULT_SECONDS, MODES, SIZES


class ModelNotFoundError(LookupError):
    """No model of this id is offered to the caller."""

    def __init__(self, model: str) -> None:
        super().__init__(model)
        self.model = model


@dataclass(frozen=True)
class VideoModel:
    """A model a caller may ask for: its id, its route (None: the caller's own) and what the
    engines of that route render."""

    id: str
    route: tuple[str, ...] | None
    engines: tuple[str, ...]  # the route this caller's tasks would take (never shown)
    capabilities: Capabilities

    def sizes(self) -> dict[str, tuple[str, str]]:
        """Each size offered, as ``"WxH"``, with the (ratio, resolution) that makes it."""
        offered: dict[str, tuple[str, str]] = {}
        for resolution in self.capabilities.resolutions:
            for ratio in self.capabilities.ratios:
                size = SIZES.get(resolution, {}).get(ratio)
                if size is not None:
                    offered[f"{size.width}x{size.height}"] = (ratio, resolution)
        return offered


@dataclass(frozen=True)
class VideoRequest:
    """``POST /v1/videos`` as a caller sent it, parsed but not yet judged by any rule."""

    prompt: str
    model: str | None = None
    seconds: int | None = None
    size: str | None = None
    mode: str = "normal"
    image: str | None = None  # an http(s) URL or a data URI
    idempotency_key: str | None = None


def video_models(
    services: SubmissionServices, principal: Principal, mode: str = "normal"
) -> list[VideoModel]:
    """The models ``principal`` may ask for in ``mode``: the default first, then the named."""
    settings = services.settings
    named = settings.openai_api.models
    models = [(settings.openai_api.default_model, None)]
    models += [(name, tuple(route)) for name, route in named.items()]
    found = []
    for name, route in models:
        engines = tuple(engine_route(services.router, principal, mode, route))
        found.append(VideoModel(name, route, engines, route_capabilities(settings, engines)))
    return found


def find_model(
    services: SubmissionServices, principal: Principal, model: str | None, mode: str
) -> VideoModel:
    """The model named ``model`` (the default when None); a 400 naming the models otherwise."""
    models = video_models(services, principal, mode)
    if model is None:
        return models[0]
    for candidate in models:
        if candidate.id == model:
            return candidate
    offered = ", ".join(candidate.id for candidate in models)
    raise InvalidRequestError(f"The model parameter is not valid: offered are {offered}")


def describe_models(services: SubmissionServices, principal: Principal) -> list[dict[str, Any]]:
    """What ``GET /v1/models`` shows: each model with its sizes, seconds, operations, the modes
    the caller may use, and the price of a clip of the default length at each size."""
    plan = plan_catalog(services.settings).of_account(principal.plan)
    modes = [mode for mode in MODES if mode_allowed(principal, mode, plan)]
    table = price_table(services.settings)
    described = []
    for model in video_models(services, principal):
        capabilities = model.capabilities
        engine = model.engines[0] if model.engines else None
        seconds = DEFAULT_SECONDS if DEFAULT_SECONDS in capabilities.durations else None
        if seconds is None and capabilities.durations:
            seconds = capabilities.durations[0]
        prices: dict[str, int] = {}
        for size, (_, resolution) in model.sizes().items():
            try:
                prices[size] = price_of(
                    table, PriceQuery(resolution, seconds or DEFAULT_SECONDS, 1, engine)
                )
            except NoPriceError:
                continue
        described.append(
            {
                "id": model.id,
                "object": "model",
                "created": 0,
                "owned_by": "grokimagine",
                "sizes": list(model.sizes()),
                "seconds": [str(value) for value in capabilities.durations],
                "operations": list(capabilities.operations),
                "modes": modes,
                "max_input_references": min(max_images(capabilities), 1),
                "price_per_clip": {
                    "seconds": seconds,
                    "credits": prices,
                    "charged": principal.live,
                },
            }
        )
    return described


def describe_model(
    services: SubmissionServices, principal: Principal, model: str
) -> dict[str, Any]:
    """One model as ``GET /v1/models/{model}`` shows it; :class:`ModelNotFoundError` if none."""
    for described in describe_models(services, principal):
        if described["id"] == model:
            return described
    raise ModelNotFoundError(model)


async def submit_video(
    services: SubmissionServices, principal: Principal, request: VideoRequest
) -> Submission:
    """Resolve ``request``'s model, size and seconds against what its route's engines declare,
    then submit it as a generation (priced, charged and limited like any).

    Raises :class:`InvalidRequestError` naming the offered values, and whatever
    :func:`submit_generation` raises.
    """
    model = find_model(services, principal, request.model, request.mode)
    given = set()
    ratio, resolution = "1:1", "480p"
    if request.size is not None:
        sizes = model.sizes()
        if request.size not in sizes:
            offered = ", ".join(sizes)
            raise InvalidRequestError(f"The size parameter is not valid: offered are {offered}")
        ratio, resolution = sizes[request.size]
        given.add("resolution")
    seconds = DEFAULT_SECONDS
    if request.seconds is not None:
        if request.seconds not in model.capabilities.durations:
            offered = ", ".join(str(value) for value in model.capabilities.durations)
            raise InvalidRequestError(f"The seconds parameter is not valid: offered are {offered}")
        seconds = request.seconds
        given.add("duration")
    order = GenerationOrder(
        prompt=request.prompt,
        mode=request.mode,
        ratio=ratio,
        images=(request.image,) if request.image is not None else None,
        duration=seconds,
        resolution=resolution,
        given=frozenset(given),
        idempotency_key=request.idempotency_key,
        model=model.id if model.route is not None else None,
        model_route=model.route,
    )
    return await submit_generation(services, principal, order)


def model_of_task(services: SubmissionServices, request: dict[str, Any]) -> str:
    """The model a task was made with: the named model it echoes, else the default."""
    named = request.get("model")
    return named if isinstance(named, str) else services.settings.openai_api.default_model
