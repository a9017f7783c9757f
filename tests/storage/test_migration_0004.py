"""The migrations build exactly schema.py's tables, and old webhook secrets are
replaced by ones that Standard Webhooks libraries read."""

from __future__ import annotations

import base64

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, insert, select
from standardwebhooks import Webhook

from grokimagine.domain.clock import utcnow
from grokimagine.storage.db import driver_url
from grokimagine.storage.migrate import alembic_config, upgrade_database
from grokimagine.storage.schema import accounts, metadata


def test_the_migrations_match_the_tables_in_schema_py(database_url: str) -> None:
    engine = create_engine(driver_url(database_url))
    try:
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_secrets_made_before_0004_are_replaced_by_standard_ones(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0003")
    engine = create_engine(url)
    old_secret = "whsec_" + "-_" * 16  # URL-safe base64, as accounts had before revision 0004
    with engine.begin() as conn:
        conn.execute(
            insert(accounts).values(
                id="acct_old",
                name="",
                plan="free",
                balance=0,
                allow_spicy=False,
                webhook_secret=old_secret,
                created_at=utcnow(),
            )
        )
    upgrade_database(url)
    with engine.connect() as conn:
        secret = conn.execute(select(accounts.c.webhook_secret)).scalar_one()
    engine.dispose()
    assert secret != old_secret and secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 24
    Webhook(secret)  # accepted as is
