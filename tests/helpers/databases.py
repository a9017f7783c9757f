"""The PostgreSQL server the tests use: each test session makes databases of its own on it."""

from __future__ import annotations

import os

POSTGRES_ADMIN_URL = os.environ.get(
    "GROKIMAGINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1/test"
)
