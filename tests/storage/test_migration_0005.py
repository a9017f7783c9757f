"""Migration 0005 adds the provider job columns to tasks, and can be undone."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect

from grokimagine.storage.migrate import alembic_config, upgrade_database

PROVIDER_COLUMNS = {"provider_job_id", "provider_jobs", "provider_cost_usd"}


def _task_columns(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return {column["name"] for column in inspect(engine).get_columns("tasks")}
    finally:
        engine.dispose()


def test_0005_adds_the_provider_job_columns_and_goes_back(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    command.upgrade(alembic_config(url), "0004")
    assert not PROVIDER_COLUMNS & _task_columns(url)
    upgrade_database(url)
    assert _task_columns(url) >= PROVIDER_COLUMNS
    command.downgrade(alembic_config(url), "0004")
    assert not PROVIDER_COLUMNS & _task_columns(url)
