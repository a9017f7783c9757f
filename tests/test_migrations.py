"""Migrations build the schema from an empty database, and running them again changes nothing."""

from __future__ import annotations

import secrets

import psycopg
from sqlalchemy import create_engine, inspect

from grokimagine.storage.db import driver_url
from grokimagine.storage.migrate import upgrade_database
from tests.conftest import POSTGRES_ADMIN_URL


def test_migrations_from_an_empty_postgresql_database() -> None:
    name = f"gi_migrate_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade_database(url)
        upgrade_database(url)
        engine = create_engine(driver_url(url))
        tables = set(inspect(engine).get_table_names())
        engine.dispose()
        assert {"accounts", "api_keys", "ledger", "tasks", "alembic_version"} <= tables
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrations_create_the_sqlite_file_and_its_folder(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'er' / 'db.sqlite'}"
    upgrade_database(url)
    engine = create_engine(url)
    assert "tasks" in inspect(engine).get_table_names()
    engine.dispose()
