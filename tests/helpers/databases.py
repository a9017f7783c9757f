"""The PostgreSQL server the tests use: each test session makes databases of its own on it."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

POSTGRES_ADMIN_URL = os.environ.get(
    "GROKIMAGINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1/test"
)


def copy_sqlite(source: Path, target: Path) -> None:
    """Copy a SQLite database with SQLite's own backup API (consistent whatever its journal)."""
    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)
