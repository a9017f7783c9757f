"""Extending and editing videos: every rule of such a submission, then the task that pays for it.

``POST /v1/extend`` and ``POST /v1/edit`` (and anything else that extends or edits) call
:func:`submit_video_operation`. The task then runs, shows, cancels and refunds like any other;
its engine gets the source video as the request's ``source``.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

from grokimagine.domain.accounts.accounts import Principal
from grokimagine.domain.billing.plans import plan_catalog
from grokimagine.domain.billing.price_table import NoPriceError
from grokimagine.domain.billing.quotes import Estimate, quote
from grokimagine.domain.billing.usage import account_balance
from grokimagine.domain.billing.video_prices import EDIT, EXTEND, operation_price, price_resolution
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.domain.media.video_sources import (
    LoadedVideo,
    VideoLimits,
    VideoRejected,
    load_video,
    nearest_ratio,
    output_size,
    probe_video,
    too_large,
)
from grokimagine.domain.submission.generate import (
    PricedOrder,
    Submission,
    SubmissionServices,
    check_callback_url,
    engine_route,
    idempotency_of,
    mode_allowed,
    original_task,
    pay_and_create,
)
from grokimagine.domain.tasks.idempotency import IdempotencyKey
from grokimagine.domain.tasks.records import (
    COMPLETED,
    ModeNotAllowedError,
    NewTask,
    TaskNotFoundError,
    find_task,
)
from grokimagine.engines.capabilities import Capabilities
from grokimagine.engines.registry import route_capabilities
from grokimagine.storage.db import Database
from grokimagine.storage.files import FileStore
from grokimagine.vocabulary import DEFAULT_FPS, DEFAULT_SECONDS

DEFAULT_EXTEND_SECONDS = DEFAULT_SECONDS
# The verb a refusal uses for each operation ("cannot extend videos").
_VERBS = {EXTEND: "extend", EDIT: "edit"}


class OperationNotSupportedError(InvalidRequestError):
    """No engine of the caller's route for this mode can extend (or edit) videos (a 400)."""

    def __init__(self, operation: str, mode: str) -> None:
        super().__init__(
            f"The {operation} operation is not offered in mode {mode}: its engines cannot"
            f" {_VERBS.get(operation, operation)} videos"
        )
        self.operation = operation
        self.mode = mode


@dataclass(frozen=True)
class VideoOrder:
    """An extend or edit as a caller asked for it, parsed but not yet judged by any rule.

    The source is ``task_id`` (with ``video_index``) or ``video``, exactly one of them.
    """

    operation: str  # "extend" | "edit"
    prompt: str
    mode: str = "normal"
    task_id: str | None = None
    video_index: int = 0
    video: str | None = None
    duration: int = DEFAULT_EXTEND_SECONDS  # extend only: seconds added
    callback_url: str | None = None
    given: frozenset[str] = field(default_factory=frozenset)
    idempotency_key: str | None = None

    def fields(self) -> dict[str, Any]:
        """The request's fields, for the idempotency fingerprint."""
        return {
            "operation": self.operation,
            "mode": self.mode,
            "prompt": self.prompt,
            "task_id": self.task_id,
            "video_index": self.video_index,
            "video": self.video,
            "duration": self.duration if self.operation == EXTEND else None,
            "callback_url": self.callback_url,
        }


async def submit_video_operation(
    services: SubmissionServices, principal: Principal, order: VideoOrder
) -> Submission:
    """Judge ``order`` by every rule of an extend or edit, then create and pay for its task.

    Raises :class:`OperationNotSupportedError`, :class:`VideoRejected`,
    :class:`InvalidRequestError`, :class:`TaskNotFoundError`, :class:`ModeNotAllowedError`,
    :class:`AccountDisabledError`, :class:`TooManyActiveTasksError`,
    :class:`InsufficientCreditsError` or :class:`IdempotencyConflictError`. The price comes
    from the operator's table: the seconds an extend adds, or one clip for an edit.
    """
    _check_order(order)
    idempotency = idempotency_of(order, principal)
    original = await original_task(services, principal, idempotency)
    if original is not None:
        return Submission(original, replayed=True)
    priced = await price_video_order(services, principal, order, idempotency)
    return await pay_and_create(services, principal, priced, idempotency)


async def quote_video_operation(
    services: SubmissionServices, principal: Principal, order: VideoOrder
) -> Estimate:
    """What ``order`` would be charged, after exactly the checks of its submission (the source
    is loaded and probed, since it sets the price); nothing is created or charged."""
    _check_order(order)
    priced = await price_video_order(services, principal, order)
    return Estimate(priced.quote, await account_balance(services.db, principal.account_id))


def _check_order(order: VideoOrder) -> None:
    if order.operation not in (EXTEND, EDIT):
        raise InvalidRequestError(f"The operation {order.operation!r} is not extend or edit")
    if order.task_id is None and order.video is None:
        raise InvalidRequestError("The task_id or video parameter is required")
    if order.task_id is not None and order.video is not None:
        raise InvalidRequestError("give the source video as task_id or as video, not both")


async def price_video_order(
    services: SubmissionServices,
    principal: Principal,
    order: VideoOrder,
    idempotency: IdempotencyKey | None = None,
) -> PricedOrder:
    """Every rule of an extend or edit but the balance and limits, and its quote under the
    operator's table."""
    route = engine_route(services.router, principal, order.mode)
    capabilities = route_capabilities(services.settings, route)
    check_operation(order, capabilities)
    await check_callback_url(services, order.callback_url)
    source = await load_source(services, principal, order)
    check_source(order, source, capabilities)
    plan = plan_catalog(services.settings).of_account(principal.plan)
    if not mode_allowed(principal, order.mode, plan):
        raise ModeNotAllowedError(order.mode)
    probe = source.probe
    size = output_size(probe.width, probe.height)
    # Extend renders the seconds it adds (the engine prepends the source); edit, the source's.
    frames = order.duration * DEFAULT_FPS if order.operation == EXTEND else _edit_frames(source)
    seconds = order.duration if order.operation == EXTEND else math.ceil(probe.seconds)
    engine = route[0] if route else None
    try:
        per_clip = operation_price(services.settings, order.operation, size, seconds, engine)
    except NoPriceError as exc:
        raise InvalidRequestError(
            f"no price for this {order.operation} in the price table ({exc})"
        ) from None
    echoed: dict[str, Any] = {"duration": order.duration} if order.operation == EXTEND else {}
    if order.callback_url is not None:
        echoed["callback_url"] = order.callback_url
    new_task = NewTask(
        mode=order.mode,
        prompt=order.prompt,
        ratio=nearest_ratio(size.width, size.height),
        route=route,
        duration=seconds,
        callback_url=order.callback_url,
        idempotency=idempotency,
        echoed_options=echoed,
        operation=order.operation,
        source_video=source,
        size=size,
        num_frames=frames,
    )
    quoted = quote(principal.live, per_clip, 1, seconds, price_resolution(size))
    return PricedOrder(new_task, quoted, plan)


def check_operation(order: VideoOrder, capabilities: Capabilities) -> None:
    """Refuse an operation, or an extension length, that the route's engines do not offer."""
    if not capabilities.offers(order.operation):
        raise OperationNotSupportedError(order.operation, order.mode)
    if order.operation == EXTEND and order.duration not in capabilities.extend_durations:
        offered = ", ".join(str(seconds) for seconds in capabilities.extend_durations)
        raise InvalidRequestError(f"The duration parameter is not valid: offered are {offered}")


def check_source(order: VideoOrder, source: LoadedVideo, capabilities: Capabilities) -> None:
    """Refuse a source shorter or longer than the route's engines take for the operation."""
    name = "task_id" if order.task_id is not None else "video"
    seconds = source.probe.seconds
    if order.operation == EXTEND and capabilities.extend_source_seconds is not None:
        low, high = capabilities.extend_source_seconds
        if not low <= seconds <= high:
            raise VideoRejected(
                f"The {name} parameter is not valid: the video lasts {seconds:g} s; this mode"
                f" extends videos of {low:g} to {high:g} s"
            )
    longest = capabilities.edit_max_seconds
    if order.operation == EDIT and longest is not None and seconds > longest:
        raise VideoRejected(
            f"The {name} parameter is not valid: the video lasts {seconds:g} s; this mode"
            f" edits videos of at most {longest:g} s"
        )


def video_limits(services: SubmissionServices) -> VideoLimits:
    """The caps on source videos, from the settings."""
    limits = services.settings.limits
    return VideoLimits(
        max_bytes=limits.max_video_bytes,
        max_seconds=limits.max_video_seconds,
        timeout=limits.video_fetch_timeout,
    )


async def load_source(
    services: SubmissionServices, principal: Principal, order: VideoOrder
) -> LoadedVideo:
    """The order's source video, fetched, decoded or copied, and probed."""
    limits = video_limits(services)
    if order.video is not None:
        return await load_video(order.video, allowlist=services.fetch_allowlist, limits=limits)
    assert order.task_id is not None
    return await load_task_video(
        services.db, services.store, principal.account_id, order.task_id, order.video_index, limits
    )


async def load_task_video(
    db: Database,
    store: FileStore,
    account_id: str,
    task_id: str,
    video_index: int,
    limits: VideoLimits,
) -> LoadedVideo:
    """A video of the account's completed task; :class:`TaskNotFoundError` if the account has
    no such task, :class:`VideoRejected` if the task has no such video (yet)."""
    record = await find_task(db, task_id, account_id=account_id)
    if record.deleted_at is not None:
        raise TaskNotFoundError(task_id)
    if record.status != COMPLETED:
        raise VideoRejected(
            f"The task_id parameter is not valid: the task is {record.status}, not completed"
        )
    if not 0 <= video_index < len(record.videos):
        raise VideoRejected(
            f"The video_index parameter is not valid: the task has {len(record.videos)} video(s)"
        )
    try:
        data = await asyncio.to_thread(store.get_bytes, record.videos[video_index])
    except FileNotFoundError as exc:
        raise TaskNotFoundError(task_id) from exc
    if len(data) > limits.max_bytes:
        raise too_large("task_id", limits.max_bytes)
    probe = await probe_video(data, limits, "task_id")
    echo = {"task_id": task_id, "video_index": video_index}
    return LoadedVideo(data, hashlib.sha256(data).hexdigest(), probe, echo)


def _edit_frames(source: LoadedVideo) -> int:
    return max(1, round(source.probe.seconds * DEFAULT_FPS))
