"""Applies the Alembic migrations shipped inside the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from grokimagine.storage.db import driver_url, ensure_sqlite_dir

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic configuration for ``database_url``, with no alembic.ini needed."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    url = driver_url(database_url)
    ensure_sqlite_dir(url)
    config.attributes["database_url"] = url
    return config


def upgrade_database(database_url: str) -> None:
    """Bring the database to the newest schema; safe to run at every start."""
    command.upgrade(alembic_config(database_url), "head")
