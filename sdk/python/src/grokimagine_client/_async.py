"""The asyncio client: ``AsyncGrokImagine`` (the twin of ``GrokImagine``, call for call)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from grokimagine_client._account import AsyncAccountResource
from grokimagine_client._base import (
    DEFAULT_TIMEOUT,
    OPTION_NAMES,
    ClientConfig,
    EventParser,
    ImageInput,
    UpdateFilter,
    VideoSource,
    backoff_seconds,
    generate_body,
    new_idempotency_key,
    operation_body,
    parse_answer,
    partial_path,
    retry_after_seconds,
    should_retry,
    stream_error,
    stream_unavailable,
    task_id_of,
    total_size,
    video_targets,
)
from grokimagine_client.errors import (
    APIConnectionError,
    APIError,
    GrokImagineError,
    TaskTimeoutError,
    UnsupportedError,
    error_for_task,
)
from grokimagine_client.types import Quote, Task
from grokimagine_client.webhooks import Webhooks

OnUpdate = Callable[[Task], None]
# Consecutive broken streams before wait() settles for polling.
STREAM_ATTEMPTS = 3


class AsyncGrokImagine:
    """An asyncio client of the GrokImagine API.

    ``api_key`` and ``base_url`` default to ``GROKIMAGINE_API_KEY`` and
    ``GROKIMAGINE_BASE_URL``. Failed calls are retried ``max_retries`` times on 429, 5xx and
    network errors, honouring ``Retry-After``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        max_retry_after: float = 60.0,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.config = ClientConfig.resolve(api_key, base_url, timeout, max_retries, max_retry_after)
        self._http = http_client or httpx.AsyncClient(timeout=timeout)
        self._owns_http = http_client is None
        self.videos = AsyncVideos(self)
        self.account = AsyncAccountResource(self)
        self.webhooks = Webhooks()

    async def close(self) -> None:
        """Close the connections (only those of an HTTP client this object made)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncGrokImagine:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
        task_id: str | None = None,
    ) -> Any:
        """Call the API and return the ``data`` of its answer, retrying what may be retried."""
        url = self.config.base_url + path
        sent_headers = {**self.config.headers(), **(headers or {})}
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(
                    method, url, json=json_body, params=params, headers=sent_headers
                )
            except httpx.TransportError as exc:
                if attempt > self.config.max_retries:
                    raise APIConnectionError(
                        f"cannot reach {self.config.base_url}: {exc}", task_id=task_id
                    ) from exc
                await asyncio.sleep(backoff_seconds(attempt, None, self.config.max_retry_after))
                continue
            if attempt <= self.config.max_retries and should_retry(
                response.status_code, idempotent=idempotent
            ):
                delay = retry_after_seconds(response)
                await asyncio.sleep(backoff_seconds(attempt, delay, self.config.max_retry_after))
                continue
            return parse_answer(response, task_id=task_id)


class AsyncVideos:
    """``client.videos``: make, follow, fetch and manage video tasks."""

    def __init__(self, client: AsyncGrokImagine) -> None:
        self._client = client

    async def create(
        self,
        prompt: str,
        *,
        mode: str | None = None,
        ratio: str | None = None,
        images: Sequence[ImageInput] | None = None,
        n: int | None = None,
        duration: int | None = None,
        resolution: str | None = None,
        seed: int | None = None,
        negative_prompt: str | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Task:
        """Queue a generation; returns the pending task. ``images``: URLs, file paths or bytes.

        An idempotency key is made when none is given, so a retried call never makes (or
        charges) a second task.
        """
        body = generate_body(
            prompt,
            mode=mode,
            ratio=ratio,
            images=images,
            n=n,
            duration=duration,
            resolution=resolution,
            seed=seed,
            negative_prompt=negative_prompt,
            callback_url=callback_url,
            extra=extra_body,
        )
        key = idempotency_key or new_idempotency_key()
        data = await self._client.request(
            "POST", "/v1/generate", json_body=body, headers={"Idempotency-Key": key}
        )
        # The request as sent, less the images (data URIs can be megabytes).
        sent = {name: value for name, value in body.items() if name != "images"}
        return Task.from_api({"status": "pending", "request": sent, **data})

    async def extend(
        self,
        source: VideoSource,
        prompt: str,
        *,
        duration: int | None = None,
        mode: str | None = None,
        video_index: int | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Task:
        """Continue a video by ``duration`` seconds (``POST /v1/extend``); the finished task's
        video is the source followed by the added seconds. ``source``: a task or its id, a URL,
        a file path or bytes. Returns the pending task."""
        body = operation_body(
            source,
            prompt,
            mode=mode,
            duration=duration,
            video_index=video_index,
            callback_url=callback_url,
            extra=extra_body,
        )
        return await self._submit("/v1/extend", body, idempotency_key)

    async def edit(
        self,
        source: VideoSource,
        prompt: str,
        *,
        mode: str | None = None,
        video_index: int | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Task:
        """Change a video as the prompt says (``POST /v1/edit``), as long as the source.
        ``source``: a task or its id, a URL, a file path or bytes. Returns the pending task."""
        body = operation_body(
            source,
            prompt,
            mode=mode,
            duration=None,
            video_index=video_index,
            callback_url=callback_url,
            extra=extra_body,
        )
        return await self._submit("/v1/edit", body, idempotency_key)

    async def _submit(self, path: str, body: dict[str, Any], idempotency_key: str | None) -> Task:
        key = idempotency_key or new_idempotency_key()
        data = await self._client.request(
            "POST", path, json_body=body, headers={"Idempotency-Key": key}
        )
        # The request as sent, less the source video (a data URI can be megabytes).
        sent = {name: value for name, value in body.items() if name != "video"}
        return Task.from_api({"status": "pending", "request": sent, **data})

    async def retrieve(self, task_id: str) -> Task:
        """The task as it is now."""
        return Task.from_api(
            await self._client.request("GET", f"/v1/tasks/{task_id}", task_id=task_id)
        )

    async def list(self, *, status: str | None = None, limit: int = 20) -> AsyncIterator[Task]:
        """Every task of the account, newest first, fetched page by page as iterated."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": limit}
            if status:
                params["status"] = status
            if cursor:
                params["cursor"] = cursor
            page = await self._client.request("GET", "/v1/tasks", params=params)
            for item in page.get("tasks", []):
                yield Task.from_api(item)
            cursor = page.get("next_cursor")
            if not cursor:
                return

    async def cancel(self, task_id: str) -> Task:
        """Cancel the task (refunded); a running one stops at its engine's next step."""
        return Task.from_api(
            await self._client.request("POST", f"/v1/tasks/{task_id}/cancel", task_id=task_id)
        )

    async def delete(self, task_id: str) -> Task:
        """Delete the task's files (canceling it first if it still runs)."""
        return Task.from_api(
            await self._client.request("DELETE", f"/v1/tasks/{task_id}", task_id=task_id)
        )

    async def quote(self, prompt: str, **options: Any) -> Quote:
        """The price of a request, without making a task (``POST /v1/quote``)."""
        images = options.pop("images", None)
        body = generate_body(
            prompt,
            images=images,
            **{name: options.pop(name, None) for name in OPTION_NAMES},
            extra=options,
        )
        try:
            return Quote(raw=await self._client.request("POST", "/v1/quote", json_body=body))
        except APIError as exc:
            if exc.status in (404, 405):
                raise UnsupportedError(
                    "this server offers no quotes (POST /v1/quote); GET /v1/pricing lists prices",
                    code="QUOTE_UNSUPPORTED",
                    status=exc.status,
                ) from exc
            raise

    async def wait(
        self,
        task: str | Task,
        *,
        timeout: float = 900.0,
        on_update: OnUpdate | None = None,
        poll_interval: float = 1.0,
        stream: bool = True,
    ) -> Task:
        """Follow the task until it finishes; returns it completed.

        Follows the event stream, and polls where there is none. Raises
        :class:`TaskFailedError` (or :class:`ContentRejectedError`), :class:`TaskCanceledError`,
        or :class:`TaskTimeoutError` after ``timeout`` seconds; each carries the task id, and the
        task goes on running on a timeout. ``task``: a task id or a :class:`Task`.
        """
        task_id = task_id_of(task)
        deadline = time.monotonic() + timeout
        updates = UpdateFilter()
        last: list[Task] = []

        def seen(task: Task) -> None:
            last[:] = [task]
            if on_update is not None and updates.is_new(task):
                on_update(task)

        task = await self._follow(task_id, deadline, seen) if stream else None
        while task is None or not task.finished:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TaskTimeoutError(
                    f"task {task_id} did not finish within {timeout:g} s; it is still running",
                    task_id=task_id,
                    task=last[0] if last else None,
                )
            if task is not None:
                await asyncio.sleep(min(poll_interval, remaining))
            task = await self.retrieve(task_id)
            seen(task)
        if not task.succeeded:
            raise error_for_task(task)
        return task

    async def _follow(self, task_id: str, deadline: float, seen: OnUpdate) -> Task | None:
        """The finished task from the event stream, or ``None`` if it cannot be followed."""
        client = self._client
        parser = EventParser()
        broken = 0
        while broken < STREAM_ATTEMPTS and time.monotonic() < deadline:
            headers = client.config.headers()
            if parser.last_id:
                headers["Last-Event-ID"] = parser.last_id
            remaining = max(1.0, deadline - time.monotonic())
            timeout = httpx.Timeout(min(client.config.timeout, 30.0), read=min(remaining, 45.0))
            url = f"{client.config.base_url}/v1/tasks/{task_id}/events"
            try:
                async with client._http.stream(
                    "GET", url, headers=headers, timeout=timeout
                ) as answer:
                    if answer.status_code != 200:
                        await answer.aread()
                        error = stream_error(answer, task_id)
                        if isinstance(error, APIError) and stream_unavailable(error):
                            return None
                        if answer.status_code in (429, 502, 503, 504):
                            broken += 1
                            await asyncio.sleep(
                                backoff_seconds(broken, retry_after_seconds(answer), 5)
                            )
                            continue
                        raise error
                    async for line in answer.aiter_lines():
                        if time.monotonic() > deadline:
                            return None
                        event = parser.feed(line)
                        if event is None or event.event != "task":
                            continue
                        task = Task.from_api(json.loads(event.data))
                        seen(task)
                        broken = 0
                        if task.finished:
                            return task
            except (httpx.TransportError, ValueError):
                pass
            broken += 1
        return None

    async def create_and_wait(
        self,
        prompt: str,
        *,
        mode: str | None = None,
        ratio: str | None = None,
        images: Sequence[ImageInput] | None = None,
        n: int | None = None,
        duration: int | None = None,
        resolution: str | None = None,
        seed: int | None = None,
        negative_prompt: str | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float = 900.0,
        on_update: OnUpdate | None = None,
    ) -> Task:
        """:meth:`create` with the same options, then :meth:`wait`: returns the completed task."""
        task = await self.create(
            prompt,
            mode=mode,
            ratio=ratio,
            images=images,
            n=n,
            duration=duration,
            resolution=resolution,
            seed=seed,
            negative_prompt=negative_prompt,
            callback_url=callback_url,
            idempotency_key=idempotency_key,
            extra_body=extra_body,
        )
        if on_update is not None:
            on_update(task)
        return await self.wait(task, timeout=timeout, on_update=on_update)

    async def download(
        self,
        task: str | Task,
        dest: str | os.PathLike[str] | None = None,
        *,
        on_progress: Callable[[int, int | None], None] | None = None,
    ) -> list[Path]:
        """Save every video of a completed task; returns the files.

        ``dest``: a file name (one video; more get ``_<i>`` suffixes) or a folder (default: the
        current one). An interrupted download resumes where it stopped (HTTP Range).
        """
        current = await self.retrieve(task_id_of(task))
        if not current.succeeded:
            raise GrokImagineError(
                f"task {current.id} is {current.status}: nothing to download",
                code="TASK_NOT_COMPLETED",
                task_id=current.id,
            )
        targets = video_targets(current, dest)
        for url, target in zip(current.videos, targets, strict=True):
            await self._fetch(url, target, current.id, on_progress)
        return targets

    async def _fetch(
        self,
        url: str,
        target: Path,
        task_id: str,
        on_progress: Callable[[int, int | None], None] | None,
    ) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        part = partial_path(target)
        attempt = 0
        while True:
            have = part.stat().st_size if part.exists() else 0
            headers = {"Range": f"bytes={have}-"} if have else {}
            try:
                async with self._client._http.stream("GET", url, headers=headers) as answer:
                    if answer.status_code == 416 and have:
                        break  # the part file already holds the whole video
                    if answer.status_code not in (200, 206):
                        await answer.aread()
                        raise stream_error(answer, task_id)
                    mode = "ab" if answer.status_code == 206 else "wb"
                    total = total_size(answer, have)
                    done = have if mode == "ab" else 0
                    with part.open(mode) as out:
                        async for chunk in answer.aiter_bytes(1 << 16):
                            out.write(chunk)
                            done += len(chunk)
                            if on_progress is not None:
                                on_progress(done, total)
                break
            except httpx.TransportError as exc:
                attempt += 1
                if attempt > self._client.config.max_retries:
                    raise APIConnectionError(
                        f"download of {target.name} broke: {exc}", task_id=task_id
                    ) from exc
                await asyncio.sleep(backoff_seconds(attempt, None, 5))
        part.replace(target)
