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

from sqlalchemy.engine import make_url

from grokimagine.settings import Settings

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


class NoServiceError(Exception):
    """No running or recorded service was found; nothing was created."""


def _explicit_location() -> bool:
    return any(
        os.environ.get(name) for name in ("GROKIMAGINE_DATABASE_URL", "GROKIMAGINE_DATA_DIR")
    )


def find_service(settings: Settings) -> Settings:
    """The settings of the service an operator command works on: the variables when they name a
    database or data folder (used as given: a provisioning script may create it), else what
    ``serve`` recorded, else ``./data`` if a database is there. Raises :class:`NoServiceError`
    rather than create an empty database nobody asked for."""
    if _explicit_location():
        return settings
    record = read_record()
    if record is not None:
        settings = settings.replace(
            data_dir=Path(record.data_dir), database_url=record.database_url
        )
        where = f"recorded by serve in {record_path()}"
    else:
        where = f"./data; serve has recorded no service in {record_path()}"
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        raise NoServiceError(
            f"no grokimagine service found: no database at {url.database} ({where}). Start it "
            "with `grokimagine serve` (which records where its data is), or name it with "
            "GROKIMAGINE_DATA_DIR or GROKIMAGINE_DATABASE_URL. Nothing was created."
        )
    return settings
