"""Alembic environment: runs migrations on the URL handed over by ``storage.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from grokimagine.storage.schema import metadata

config = context.config


def run_migrations_online() -> None:
    url = config.attributes["database_url"]
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            # Two processes starting at once must not both migrate: PostgreSQL serialises
            # them on an advisory lock; SQLite's write lock does the same by itself.
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7243190155)")
            context.run_migrations()
    engine.dispose()


run_migrations_online()
