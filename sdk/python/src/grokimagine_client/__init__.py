"""The GrokImagine API from Python: ``GrokImagine`` (blocking) and ``AsyncGrokImagine``.

from grokimagine_client import GrokImagine

client = GrokImagine()  # GROKIMAGINE_API_KEY, GROKIMAGINE_BASE_URL
task = client.videos.create_and_wait("a red fox in snow", on_update=print)
client.videos.download(task, "fox.mp4")
"""

from grokimagine_client._async import AsyncGrokImagine
from grokimagine_client._sync import GrokImagine
from grokimagine_client.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    ConflictError,
    ContentRejectedError,
    GrokImagineError,
    InsufficientCreditsError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TaskCanceledError,
    TaskError,
    TaskFailedError,
    TaskTimeoutError,
    UnsupportedError,
)
from grokimagine_client.types import Account, LedgerEntry, Quote, Task
from grokimagine_client.webhooks import WebhookVerificationError

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "Account",
    "AsyncGrokImagine",
    "AuthenticationError",
    "ConflictError",
    "ContentRejectedError",
    "GrokImagine",
    "GrokImagineError",
    "InsufficientCreditsError",
    "InvalidRequestError",
    "LedgerEntry",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "Quote",
    "RateLimitError",
    "ServerError",
    "Task",
    "TaskCanceledError",
    "TaskError",
    "TaskFailedError",
    "TaskTimeoutError",
    "UnsupportedError",
    "WebhookVerificationError",
    "__version__",
]
