"""Submitting a generation: every rule of a submission, then the transaction that pays for it.

The API's generate route, the console's playground and anything else that creates tasks call
:func:`submit_generation`; it raises domain errors and knows nothing of HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from grokimagine.domain.accounts.accounts import Principal
from grokimagine.domain.billing.plans import Plan, plan_catalog
from grokimagine.domain.billing.price_table import NoPriceError, PriceQuery, price_of, price_table
from grokimagine.domain.billing.quotes import Estimate, Quote, quote_generation_price
from grokimagine.domain.billing.usage import account_balance
from grokimagine.domain.billing.video_prices import operation_offers
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.domain.media.images import LoadedImage, load_images
from grokimagine.domain.tasks.idempotency import (
    IdempotencyKey,
    IdempotencyKeyTakenError,
    find_original,
    fingerprint,
)
from grokimagine.domain.tasks.records import ModeNotAllowedError, NewTask, submit_task
from grokimagine.engines.capabilities import Capabilities
from grokimagine.engines.registry import route_capabilities
from grokimagine.engines.routing import TEST_KEY_ROUTE, EngineRouter
from grokimagine.net.guard import FetchError, validate_outbound_url
from grokimagine.net.policy import Allowlist
from grokimagine.settings import Settings
from grokimagine.storage.db import Database
from grokimagine.storage.files import FileStore
from grokimagine.vocabulary import (
    DEFAULT_RESOLUTION,
    DEFAULT_SECONDS,
    MAX_IMAGES,
    MAX_VIDEOS_PER_TASK,
    MODES,
)

# Part 3 options, in the order the status's ``request`` echoes them.
OPTION_FIELDS = ("n", "duration", "resolution", "seed", "negative_prompt", "callback_url")


class SubmissionServices(Protocol):
    """What a submission needs of the process's shared services (``services.Services``)."""

    settings: Settings
    db: Database
    store: FileStore
    fetch_allowlist: Allowlist
    router: EngineRouter

    def task_created(self) -> None: ...


class Order(Protocol):
    """What every kind of order shares for idempotency."""

    idempotency_key: str | None

    def fields(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class GenerationOrder:
    """A generation as a caller asked for it, parsed but not yet judged by any rule."""

    prompt: str
    mode: str = "normal"
    ratio: str = "1:1"
    images: tuple[str, ...] | None = None  # http(s) URLs or data URIs, as given
    n: int = 1
    duration: int = DEFAULT_SECONDS
    resolution: str = DEFAULT_RESOLUTION
    seed: int | None = None
    negative_prompt: str | None = None
    callback_url: str | None = None
    # The optional fields the caller set: only these are echoed and checked against engines,
    # so a reference-page client sees the reference page's behaviour.
    given: frozenset[str] = field(default_factory=frozenset)
    idempotency_key: str | None = None
    # A model the operator named (GROKIMAGINE_OPENAI_API_MODELS) and its route, chosen by
    # domain/submission/models.py; None: the account's route by plan and mode.
    model: str | None = None
    model_route: tuple[str, ...] | None = None

    def options_given(self) -> dict[str, Any]:
        """The Part 3 options the caller set, as the status's ``request`` echoes them."""
        values = {name: getattr(self, name) for name in OPTION_FIELDS if name in self.given}
        if self.model is not None:
            values["model"] = self.model
        return {name: value for name, value in values.items() if value is not None}

    def fields(self) -> dict[str, Any]:
        """The request's fields, for the idempotency fingerprint."""
        return {
            "mode": self.mode,
            "prompt": self.prompt,
            "images": list(self.images) if self.images is not None else None,
            "ratio": self.ratio,
            "n": self.n,
            "duration": self.duration,
            "resolution": self.resolution,
            "seed": self.seed,
            "negative_prompt": self.negative_prompt,
            "callback_url": self.callback_url,
            # Only when set, so that keys of requests without them keep their fingerprints.
            **({"model": self.model} if self.model is not None else {}),
        }


@dataclass(frozen=True)
class Submission:
    """The task a submission made, or found again (``replayed``) through its idempotency key."""

    task_id: str
    replayed: bool


@dataclass(frozen=True)
class PricedOrder:
    """An order that passed every rule but the account's balance and limits, with its price."""

    new_task: NewTask
    quote: Quote
    plan: Plan


def mode_allowed(principal: Principal, mode: str, plan: Plan | None = None) -> bool:
    """Whether the account may use ``mode``: spicy needs the account's permission and, given
    its plan, the plan's."""
    return mode != "spicy" or (principal.allow_spicy and (plan is None or plan.allow_spicy))


def engine_route(
    router: EngineRouter,
    principal: Principal,
    mode: str,
    model_route: tuple[str, ...] | None = None,
) -> list[str]:
    """The engines for a new task: the routes' choice (or the chosen model's route), or the
    preview engine for test keys."""
    if not principal.live:
        return list(TEST_KEY_ROUTE)
    if model_route is not None:
        return list(model_route)
    return router.route(principal.plan, mode)


async def submit_generation(
    services: SubmissionServices, principal: Principal, order: GenerationOrder
) -> Submission:
    """Judge ``order`` by every rule of a submission, then create and pay for its task.

    The price is the quote of :func:`price_order`, charged in the transaction that creates the
    task. Raises :class:`InvalidRequestError`, :class:`ImageRejected`,
    :class:`ModeNotAllowedError`, :class:`AccountDisabledError`,
    :class:`TooManyActiveTasksError`, :class:`InsufficientCreditsError` or
    :class:`IdempotencyConflictError`.
    """
    idempotency = idempotency_of(order, principal)
    original = await original_task(services, principal, idempotency)
    if original is not None:
        return Submission(original, replayed=True)
    priced = await price_order(services, principal, order, idempotency)
    return await pay_and_create(services, principal, priced, idempotency)


async def pay_and_create(
    services: SubmissionServices,
    principal: Principal,
    priced: PricedOrder,
    idempotency: IdempotencyKey | None,
) -> Submission:
    """Create ``priced``'s task and charge its quote in one transaction (generate, extend and
    edit alike); a concurrent request that took the idempotency key first gets its task."""
    try:
        record = await submit_task(
            services.db,
            services.store,
            principal,
            priced.new_task,
            price=priced.quote.price,
            plan=priced.plan,
        )
    except IdempotencyKeyTakenError:
        # A concurrent request with the same key won the insert: answer with its task.
        original = await original_task(services, principal, idempotency)
        if original is None:
            raise
        return Submission(original, replayed=True)
    services.task_created()
    return Submission(record.id, replayed=False)


async def price_order(
    services: SubmissionServices,
    principal: Principal,
    order: GenerationOrder,
    idempotency: IdempotencyKey | None = None,
) -> PricedOrder:
    """Judge ``order`` by every rule a submission checks before its transaction (options,
    callback URL, images, mode) and price it under the operator's table."""
    route = engine_route(services.router, principal, order.mode, order.model_route)
    check_options(order, route_capabilities(services.settings, route))
    await check_callback_url(services, order.callback_url)
    images = await _load_images(services, order.images or ())
    plan = plan_catalog(services.settings).of_account(principal.plan)
    if not mode_allowed(principal, order.mode, plan):
        raise ModeNotAllowedError(order.mode)
    new_task = NewTask(
        mode=order.mode,
        prompt=order.prompt,
        ratio=order.ratio,
        images=images,
        route=route,
        video_count=order.n,
        seed=order.seed,
        negative_prompt=order.negative_prompt,
        duration=order.duration,
        resolution=order.resolution,
        callback_url=order.callback_url,
        idempotency=idempotency,
        echoed_options=order.options_given(),
    )
    try:
        engine = route[0] if route else None
        query = PriceQuery(new_task.resolution, new_task.duration, new_task.video_count, engine)
        quote = quote_generation_price(price_table(services.settings), principal.live, query)
    except NoPriceError as exc:
        raise InvalidRequestError(
            f"no price for {order.duration} s at {order.resolution} in the price table ({exc})"
        ) from None
    return PricedOrder(new_task, quote, plan)


async def quote_generation(
    services: SubmissionServices, principal: Principal, order: GenerationOrder
) -> Estimate:
    """The price ``order`` would be charged, after exactly the checks of a submission; nothing
    is created or charged. Raises what :func:`price_order` raises."""
    priced = await price_order(services, principal, order)
    return Estimate(priced.quote, await account_balance(services.db, principal.account_id))


def price_list(services: SubmissionServices, principal: Principal) -> dict[str, Any]:
    """What ``GET /v1/pricing`` shows the caller: per mode, whether it is allowed, its options
    and the price rule per resolution of the engine heading its route; the default rules of the
    table; the reference request's price. Engine names stay private."""
    plan = plan_catalog(services.settings).of_account(principal.plan)
    modes = {}
    for mode in MODES:
        route = engine_route(services.router, principal, mode)
        capabilities = route_capabilities(services.settings, route)
        modes[mode] = {
            "allowed": mode_allowed(principal, mode, plan),
            "durations": list(capabilities.durations),
            "resolutions": list(capabilities.resolutions),
            "max_n": MAX_VIDEOS_PER_TASK,
            "seed": capabilities.seed,
            "negative_prompt": capabilities.negative_prompt,
            "max_images": max_images(capabilities),
            "prices": price_table(services.settings).rules_for_engine(route[0] if route else None),
            **operation_offers(services.settings, capabilities, route[0] if route else None),
        }
    route = engine_route(services.router, principal, "normal")
    try:
        reference = price_of(
            price_table(services.settings),
            PriceQuery(DEFAULT_RESOLUTION, DEFAULT_SECONDS, 1, route[0] if route else None),
        )
    except NoPriceError:
        reference = 0
    return {
        "credits_per_video": reference,
        "charged": principal.live,
        "price_formula": "n * price(resolution, duration), from the table; POST /v1/quote"
        if principal.live
        else "0",
        "modes": modes,
        "table": {"default": price_table(services.settings).describe()["default"]},
    }


def check_options(order: GenerationOrder, capabilities: Capabilities) -> None:
    """Refuse the options the caller set that the serving engines do not offer."""
    if order.ratio not in capabilities.ratios:
        offered = ", ".join(capabilities.ratios)
        raise InvalidRequestError(f"The ratio parameter is not valid: offered are {offered}")
    if "duration" in order.given and order.duration not in capabilities.durations:
        offered = ", ".join(str(seconds) for seconds in capabilities.durations)
        raise InvalidRequestError(f"The duration parameter is not valid: offered are {offered}")
    if "resolution" in order.given and order.resolution not in capabilities.resolutions:
        offered = ", ".join(capabilities.resolutions)
        raise InvalidRequestError(f"The resolution parameter is not valid: offered are {offered}")
    if order.seed is not None and not capabilities.seed:
        raise InvalidRequestError("The seed parameter is not supported by the engines of this mode")
    if order.negative_prompt is not None and not capabilities.negative_prompt:
        raise InvalidRequestError(
            "The negative_prompt parameter is not supported by the engines of this mode"
        )
    most = max_images(capabilities)
    if order.images and len(order.images) > most:
        raise InvalidRequestError(
            f"The images parameter is not valid: the engines of this mode take at most {most}"
        )


def max_images(capabilities: Capabilities) -> int:
    """Input images a task may carry: the engines' limit within the API's own."""
    declared = capabilities.max_images
    return MAX_IMAGES if declared is None else min(declared, MAX_IMAGES)


def idempotency_of(order: Order, principal: Principal) -> IdempotencyKey | None:
    """The order's idempotency key with the fingerprint of its fields, if it has a key."""
    if order.idempotency_key is None:
        return None
    # A key used with a live key and again with a test key is a different request.
    return IdempotencyKey(
        order.idempotency_key, fingerprint({**order.fields(), "live": principal.live})
    )


async def original_task(
    services: SubmissionServices, principal: Principal, key: IdempotencyKey | None
) -> str | None:
    """The task an earlier request with the same idempotency key made, if any."""
    if key is None:
        return None
    return await find_original(services.db, principal.account_id, key)


async def check_callback_url(services: SubmissionServices, url: str | None) -> None:
    """Refuse a callback URL that webhooks could not reach: scheme, private address."""
    if url is None:
        return
    try:
        await validate_outbound_url(url, services.fetch_allowlist)
    except FetchError as exc:
        raise InvalidRequestError(f"The callback_url parameter is not valid: {exc}") from None


async def _load_images(services: SubmissionServices, sources: tuple[str, ...]) -> list[LoadedImage]:
    limits = services.settings.limits
    return await load_images(
        sources,
        allowlist=services.fetch_allowlist,
        max_bytes=limits.max_image_bytes,
        timeout=limits.image_fetch_timeout,
    )
