"""Migrations build the schema from an empty database, and running them again changes nothing."""

from __future__ import annotations

import secrets

import psycopg
from sqlalchemy import create_engine, inspect

from grokimagine.storage.db import driver_url
from grokimagine.storage.migrate import upgrade_database
from tests.helpers.databases import POSTGRES_ADMIN_URL


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
        assert {"accounts", "api_keys", "ledger", "tasks", "workers", "alembic_version"} <= tables
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrations_create_the_sqlite_file_and_its_folder(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'er' / 'db.sqlite'}"
    upgrade_database(url)
    engine = create_engine(url)
    assert "tasks" in inspect(engine).get_table_names()
    engine.dispose()


def test_0003_gives_queued_tasks_their_route_head() -> None:
    from alembic import command
    from sqlalchemy import text

    from grokimagine.storage.migrate import alembic_config

    name = f"gi_migrate_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        command.upgrade(alembic_config(url), "0002")
        engine = create_engine(driver_url(url))
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO accounts (id, name, plan, balance, allow_spicy, created_at) "
                    "VALUES ('acct_1', '', 'free', 0, false, now())"
                )
            )
            for task_id, route in (("task_a", '["xai", "preview"]'), ("task_b", None)):
                conn.execute(
                    text(
                        "INSERT INTO tasks (id, account_id, key_id, live, status, mode, prompt, "
                        "ratio, request, input_images, video_count, width, height, num_frames, "
                        "fps, seed, route, consumed_credits, progress, videos, cancel_requested, "
                        "attempts, created_at) VALUES (:id, 'acct_1', 'key_1', true, 'pending', "
                        "'normal', 'p', '1:1', '{}', '[]', 1, 480, 480, 144, 24, 1, "
                        "CAST(:route AS json), 40, 0, '[]', false, 0, now())"
                    ),
                    {"id": task_id, "route": route},
                )
        upgrade_database(url)
        with engine.connect() as conn:
            heads = dict(conn.execute(text("SELECT id, route_head FROM tasks")).all())
            assert "workers" in inspect(conn).get_table_names()
        engine.dispose()
        assert heads == {"task_a": "xai", "task_b": None}
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
