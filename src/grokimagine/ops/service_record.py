"""Where ``grokimagine serve`` records the service it runs, so that operator commands run from
any folder find its database instead of making an empty one in ``./data``.

The record is a small JSON file in the user's state folder (``$XDG_STATE_HOME/grokimagine``, or
``~/.local/state/grokimagine``; ``GROKIMAGINE_SERVICE_RECORD`` names another file). It may hold a
database URL with a password, so only its owner may read it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

RECORD_ENV = "GROKIMAGINE_SERVICE_RECORD"


@dataclass(frozen=True)
class ServiceRecord:
    """What ``serve`` wrote: its data folder, database URL and address."""

    data_dir: str
    database_url: str
    base_url: str
    recorded_at: str


def record_path() -> Path:
    """The record's file."""
    if os.environ.get(RECORD_ENV):
        return Path(os.environ[RECORD_ENV])
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "grokimagine" / "service.json"


def write_record(*, data_dir: Path, database_url: str, base_url: str) -> Path:
    """Record the service (replacing an older record); the file's path."""
    path = record_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    record = ServiceRecord(
        data_dir=str(data_dir.resolve()),
        database_url=database_url,
        base_url=base_url,
        recorded_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    temporary = path.with_suffix(".tmp")
    # Created 0600 before anything is written: the URL may carry a password.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(asdict(record), out, indent=2)
    temporary.replace(path)
    return path


def read_record() -> ServiceRecord | None:
    """The recorded service, or ``None`` (no record, or one that cannot be read)."""
    try:
        raw = json.loads(record_path().read_text())
        return ServiceRecord(
            **{name: str(raw[name]) for name in ServiceRecord.__dataclass_fields__}
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
