"""Log set-up: one JSON object per line on stderr (or plain text), for every process.

The JSON formatter is ours rather than a general library's: with one line per HTTP request it
is on the hot path, and building a small dict for orjson costs a third of what a configurable
formatter does (bench/RESULTS.md, "Scale-out").
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Attributes every LogRecord has; anything else on a record came in through ``extra=``.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
# uvicorn adds a copy of its message with terminal colours.
_DROPPED = frozenset({"color_message"})


class JsonLineFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", **extra}`` on one line; exceptions as text."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in _DROPPED:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


_SIGNATURE = re.compile(r"(signature=)[^&\s\"]*", re.IGNORECASE)


class SignedUrlFilter(logging.Filter):
    """Blanks the signature of signed file URLs in uvicorn's access log: a logged URL would
    otherwise let anyone who reads the log fetch the video until it expires."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(arg, str) and "signature=" in arg.lower() for arg in record.args
        ):
            record.args = tuple(
                _SIGNATURE.sub(r"\1[redacted]", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    """Send every log record to stderr as JSON (``json``) or text (``text``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonLineFormatter() if log_format == "json" else logging.Formatter(_TEXT_FORMAT)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, SignedUrlFilter) for existing in access.filters):
        access.addFilter(SignedUrlFilter())
    # Fields we never print, which every record would otherwise pay for: the caller's file and
    # line (a walk up the stack, deep under ASGI middleware), thread and process names. With
    # one log line per request these are most of the logging's cost (the logging HOWTO's
    # "Optimization" section).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
