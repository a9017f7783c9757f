"""The GrokImagine API from Python: ``GrokImagine`` (blocking) and ``AsyncGrokImagine``.

from grokimagine_client import GrokImagine

client = GrokImagine()  # GROKIMAGINE_API_KEY, GROKIMAGINE_BASE_URL
task = client.videos.create_and_wait("a red fox in snow", on_update=print)
client.videos.download(task, "fox.mp4")
"""

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from grokimagine_client._async import AsyncGrokImagine
    from grokimagine_client._sync import GrokImagine

__version__ = "0.1.0"

# The clients load httpx (a tenth of a second): imported on first use, so that a command line
# that only parses its arguments (`grokimagine --help`) does not pay for them.
_CLIENTS = {
    "AsyncGrokImagine": "grokimagine_client._async",
    "GrokImagine": "grokimagine_client._sync",
}


def __getattr__(name: str) -> Any:
    """The two clients, imported on first access (PEP 562)."""
    if name in _CLIENTS:
        import importlib

        value = getattr(importlib.import_module(_CLIENTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
