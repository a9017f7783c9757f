"""Applies the Alembic migrations shipped inside the package."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from grokimagine.storage.db import driver_url, ensure_sqlite_dir

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_REVISION = re.compile(r"^revision\s*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\s*=\s*(.+)$", re.MULTILINE)
_QUOTED = re.compile(r"['\"]([^'\"]+)['\"]")


def alembic_config(database_url: str) -> Config:
    """An Alembic configuration for ``database_url``, with no alembic.ini needed."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    url = driver_url(database_url)
    ensure_sqlite_dir(url)
    config.attributes["database_url"] = url
    return config


def shipped_head() -> str | None:
    """The one head revision of the shipped migrations, read from their files' text; ``None``
    when there is not exactly one (Alembic then decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS_DIR / "versions").glob("*.py"):
        text = script.read_text(encoding="utf-8")
        revision = _REVISION.search(text)
        down = _DOWN_REVISION.search(text)
        if revision is None or down is None:
            return None
        revisions.add(revision.group(1))
        parents.update(_QUOTED.findall(down.group(1).split("#", 1)[0]))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def database_is_current(database_url: str) -> bool:
    """Whether the database already stands at the shipped head: one query, no Alembic import
    (which alone costs a command line tool a fifth of a second)."""
    head = shipped_head()
    url = driver_url(database_url)
    if head is None:
        return False
    if url.get_backend_name() == "sqlite" and not (
        url.database and url.database != ":memory:" and Path(url.database).is_file()
    ):
        return False
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except DBAPIError:  # no alembic_version table yet, or no database to reach: Alembic says
        return False
    finally:
        engine.dispose()
    return [row[0] for row in versions] == [head]


def upgrade_database(database_url: str) -> None:
    """Bring the database to the newest schema; safe to run at every start."""
    if database_is_current(database_url):
        return
    from alembic import command

    command.upgrade(alembic_config(database_url), "head")
