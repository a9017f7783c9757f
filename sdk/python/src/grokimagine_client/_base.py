"""What the sync and async clients share: configuration, request bodies, retries, parsing."""

from __future__ import annotations

import base64
import email.utils
import mimetypes
import os
import random
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from grokimagine_client.errors import APIError, GrokImagineError, error_for_response
from grokimagine_client.types import Task

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 60.0
USER_AGENT = "grokimagine-client/0.1.0"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Statuses after which the request surely did nothing, so even a non-idempotent one may repeat.
NOT_PROCESSED_STATUSES = frozenset({429, 503})

ImageInput = str | os.PathLike[str] | bytes
# A source video: a task (or its id), a URL or data URI, a file path, or the bytes.
VideoSource = Task | str | os.PathLike[str] | bytes


def task_id_of(task: str | Task) -> str:
    """The id of a task given as its id or as a :class:`Task` (anything else: ``TypeError``)."""
    if isinstance(task, Task):
        return task.id
    if isinstance(task, str) and task:
        return task
    raise TypeError(f"expected a task id or a Task, got {type(task).__name__}")


@dataclass(frozen=True)
class ClientConfig:
    """Where and how to call the API."""

    api_key: str
    base_url: str
    timeout: float
    max_retries: int
    max_retry_after: float

    @classmethod
    def resolve(
        cls,
        api_key: str | None,
        base_url: str | None,
        timeout: float,
        max_retries: int,
        max_retry_after: float,
    ) -> ClientConfig:
        """Arguments first, then ``GROKIMAGINE_API_KEY`` / ``GROKIMAGINE_BASE_URL``."""
        key = api_key or os.environ.get("GROKIMAGINE_API_KEY")
        if not key:
            raise GrokImagineError(
                "no API key: pass api_key=... or set GROKIMAGINE_API_KEY", code="NO_API_KEY"
            )
        url = base_url or os.environ.get("GROKIMAGINE_BASE_URL") or DEFAULT_BASE_URL
        return cls(key, url.rstrip("/"), timeout, max_retries, max_retry_after)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "User-Agent": USER_AGENT}


def image_source(image: ImageInput) -> str:
    """An image as the API takes it: URLs and data URIs as given, files and bytes as data URIs."""
    if isinstance(image, bytes):
        return _data_uri(image, _sniff_mime(image))
    text = os.fspath(image)
    if text.startswith(("http://", "https://", "data:")):
        return text
    path = Path(text).expanduser()
    if not path.is_file():
        raise GrokImagineError(f"image {text!r} is neither a URL nor a readable file")
    data = path.read_bytes()
    mime = _sniff_mime(data) or mimetypes.guess_type(path.name)[0] or "image/png"
    return _data_uri(data, mime)


def _sniff_mime(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] == b"GIF8":
        return "image/gif"
    return "image/png"


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def generate_body(
    prompt: str,
    *,
    mode: str | None,
    ratio: str | None,
    images: Sequence[ImageInput] | None,
    n: int | None,
    duration: int | None,
    resolution: str | None,
    seed: int | None,
    negative_prompt: str | None,
    callback_url: str | None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON body of ``POST /v1/generate`` (and of a quote): only what was given."""
    body: dict[str, Any] = {"prompt": prompt}
    given = {
        "mode": mode,
        "ratio": ratio,
        "n": n,
        "duration": duration,
        "resolution": resolution,
        "seed": seed,
        "negative_prompt": negative_prompt,
        "callback_url": callback_url,
    }
    body.update({name: value for name, value in given.items() if value is not None})
    if images:
        body["images"] = [image_source(image) for image in images]
    if extra:
        body.update(extra)
    return body


def video_source(source: VideoSource) -> dict[str, Any]:
    """The source of an extend or edit as the API takes it: a task (a ``Task`` or its id) as
    ``task_id``; a URL or data URI as ``video``; a file or bytes as a data URI."""
    if isinstance(source, Task):
        return {"task_id": source.id}
    if isinstance(source, bytes):
        return {"video": _data_uri(source, _sniff_video(source))}
    text = os.fspath(source)
    if text.startswith(("http://", "https://", "data:")):
        return {"video": text}
    path = Path(text).expanduser()
    if path.is_file():
        data = path.read_bytes()
        return {"video": _data_uri(data, _sniff_video(data))}
    if text.startswith("task_"):
        return {"task_id": text}
    raise GrokImagineError(f"source {text!r} is neither a task id, a URL nor a readable file")


def _sniff_video(data: bytes) -> str:
    return "video/webm" if data[:4] == b"\x1a\x45\xdf\xa3" else "video/mp4"


def operation_body(
    source: VideoSource,
    prompt: str,
    *,
    mode: str | None,
    duration: int | None,
    video_index: int | None,
    callback_url: str | None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON body of ``POST /v1/extend`` or ``POST /v1/edit``: only what was given."""
    body: dict[str, Any] = {"prompt": prompt, **video_source(source)}
    given = {
        "mode": mode,
        "duration": duration,
        "video_index": video_index,
        "callback_url": callback_url,
    }
    body.update({name: value for name, value in given.items() if value is not None})
    if extra:
        body.update(extra)
    return body


def new_idempotency_key() -> str:
    """A fresh key per call: the client's own retries then never make a second task."""
    return f"gic-{uuid.uuid4().hex}"


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The server's ``Retry-After`` (seconds or an HTTP date), if any."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def backoff_seconds(attempt: int, retry_after: float | None, cap: float) -> float:
    """How long to wait before retry ``attempt`` (1-based): the server's word, else jittered
    exponential backoff."""
    if retry_after is not None:
        return min(retry_after, cap)
    return min(cap, 0.5 * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)


def should_retry(status: int, *, idempotent: bool) -> bool:
    """Whether an answer with ``status`` is worth repeating."""
    return status in RETRY_STATUSES and (idempotent or status in NOT_PROCESSED_STATUSES)


def parse_answer(response: httpx.Response, *, task_id: str | None = None) -> Any:
    """The ``data`` of a success envelope; the typed error of an error answer."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    if response.status_code >= 400:
        raise error_for_response(
            response.status_code,
            body,
            retry_after=retry_after_seconds(response),
            task_id=task_id,
        )
    if isinstance(body, dict) and "data" in body:
        return body["data"]
    raise APIError(
        "the server's answer is not the API's envelope",
        status=response.status_code,
        task_id=task_id,
        body=body,
    )


@dataclass
class ServerSentEvent:
    """One event of a stream."""

    event: str
    data: str
    id: str | None


class EventParser:
    """Server-sent events from a stream's lines (the WHATWG rules that matter here)."""

    def __init__(self) -> None:
        self._event = "message"
        self._data: list[str] = []
        self._id: str | None = None
        self.last_id: str | None = None

    def feed(self, line: str) -> ServerSentEvent | None:
        """Take one line; an event when it completes one."""
        line = line.rstrip("\r")
        if not line:
            if not self._data:
                self._event = "message"
                return None
            event = ServerSentEvent(self._event, "\n".join(self._data), self._id)
            if self._id is not None:
                self.last_id = self._id
            self._event, self._data = "message", []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        return None

    def events(self, lines: Iterable[str]) -> Iterator[ServerSentEvent]:
        for line in lines:
            event = self.feed(line)
            if event is not None:
                yield event


class UpdateFilter:
    """Passes a task state on only when it differs from the last one passed."""

    def __init__(self) -> None:
        self._last: tuple[Any, ...] | None = None

    def is_new(self, task: Task) -> bool:
        key = (task.status, task.progress, task.queue_position, task.cancel_requested)
        if key == self._last:
            return False
        self._last = key
        return True


def stream_unavailable(error: APIError) -> bool:
    """Whether an error opening the event stream means "no stream here" (an older server)
    rather than a problem with the task itself."""
    return error.status in (404, 405, 501) and error.code != "TASK_NOT_FOUND"


def video_targets(task: Task, dest: str | os.PathLike[str] | None) -> list[Path]:
    """Where each of the task's videos goes: ``dest`` as a file (one video), as a folder
    (``<task_id>.mp4``, or ``<task_id>_<i>.mp4``), or the current folder."""
    count = len(task.videos)
    target = Path(dest) if dest is not None else Path.cwd()
    as_file = dest is not None and not target.is_dir() and target.suffix != ""
    if as_file:
        if count == 1:
            return [target]
        return [target.with_name(f"{target.stem}_{index}{target.suffix}") for index in range(count)]
    if count == 1:
        return [target / f"{task.id}.mp4"]
    return [target / f"{task.id}_{index}.mp4" for index in range(count)]


def partial_path(target: Path) -> Path:
    """Where a download in progress is kept (and resumed from)."""
    return target.with_name(target.name + ".part")


OPTION_NAMES = (
    "mode",
    "ratio",
    "n",
    "duration",
    "resolution",
    "seed",
    "negative_prompt",
    "callback_url",
)


def stream_error(answer: httpx.Response, task_id: str) -> APIError:
    """The typed error of a streamed answer that was not a success (its body already read)."""
    try:
        body: Any = answer.json()
    except ValueError:
        body = answer.text
    return error_for_response(
        answer.status_code, body, retry_after=retry_after_seconds(answer), task_id=task_id
    )


def total_size(answer: httpx.Response, have: int) -> int | None:
    """The whole file's size, from a full or a partial (206) answer."""
    if answer.status_code == 206:
        content_range = answer.headers.get("content-range", "")
        size = content_range.rpartition("/")[2]
        return int(size) if size.isdigit() else None
    length = answer.headers.get("content-length")
    return int(length) if length and length.isdigit() else None
