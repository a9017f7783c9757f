"""Typed errors: each carries the API's error code, the HTTP status and the task id, if any."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grokimagine_client.types import Task


class GrokImagineError(Exception):
    """Base of every error this client raises."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        task_id: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.task_id = task_id
        self.body = body

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"code={self.code}")
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.task_id:
            parts.append(f"task_id={self.task_id}")
        return " ".join(parts)


class APIConnectionError(GrokImagineError):
    """The server could not be reached, or the connection broke (after the retries)."""


class APIError(GrokImagineError):
    """The server answered with an error."""


class InvalidRequestError(APIError):
    """400: the request is not valid."""


class AuthenticationError(APIError):
    """401: the key is missing, unknown or revoked."""


class InsufficientCreditsError(APIError):
    """402: the balance is below the price."""


class PermissionDeniedError(APIError):
    """403: not allowed (e.g. a mode the account may not use)."""


class NotFoundError(APIError):
    """404: no such task (or not this account's)."""


class ConflictError(APIError):
    """409: the request conflicts with the state (idempotency key reused, task finished)."""


class PayloadTooLargeError(APIError):
    """413: the body or an image is over its limit."""


class RateLimitError(APIError):
    """429: over the rate limit; ``retry_after`` says how long to wait (seconds)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx: the server failed (after the retries)."""


class UnsupportedError(APIError):
    """The server does not offer this operation (an older or smaller server)."""


class TaskError(GrokImagineError):
    """About a task that did not produce videos; ``task`` is its last known state."""

    def __init__(self, message: str, *, task: Task | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.task = task


class TaskFailedError(TaskError):
    """The task finished with status ``failed``; ``code`` is its ``error.code``."""


class ContentRejectedError(TaskFailedError):
    """The task failed because the content was refused (``CONTENT_REJECTED``)."""


class TaskCanceledError(TaskError):
    """The task was canceled."""


class TaskTimeoutError(TaskError):
    """Waiting gave up before the task finished. The task still runs: ``task_id`` finds it."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    402: InsufficientCreditsError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    429: RateLimitError,
}


def error_for_response(
    status: int,
    body: Any,
    *,
    retry_after: float | None = None,
    task_id: str | None = None,
) -> APIError:
    """The typed error for an HTTP error answer (``body``: its parsed JSON, or text)."""
    code: str | None = None
    message = f"HTTP {status}"
    if isinstance(body, dict):
        code = body.get("error") if isinstance(body.get("error"), str) else None
        message = str(body.get("message") or message)
    elif isinstance(body, str) and body.strip():
        message = f"HTTP {status}: {body.strip()[:200]}"
    kind = _BY_STATUS.get(status, ServerError if status >= 500 else APIError)
    if kind is RateLimitError:
        return RateLimitError(
            message, retry_after=retry_after, code=code, status=status, task_id=task_id, body=body
        )
    return kind(message, code=code, status=status, task_id=task_id, body=body)


def error_for_task(task: Task) -> TaskError:
    """The error of a task that finished without videos."""
    code = task.error_code
    text = task.error_message or task.status
    if task.status == "canceled":
        return TaskCanceledError(
            f"task {task.id} was canceled", code=code, task_id=task.id, task=task
        )
    kind = ContentRejectedError if code == "CONTENT_REJECTED" else TaskFailedError
    return kind(f"task {task.id} failed: {text}", code=code, task_id=task.id, task=task)
