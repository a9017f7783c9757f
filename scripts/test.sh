#!/usr/bin/env bash
# Installs grokimagine with its test tools into ./.venv, then lints and runs the whole suite.
# The database and rate-limit tests need PostgreSQL on 127.0.0.1:5432 and Redis on 6379.
# scripts/install.sh installs only when the pyproject files changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'test.sh: %s\n' "$*"; }

# Editable: the tests run this tree (the client, sdk/python/src, is inside the server's install).
scripts/install.sh test,gpu
say "lint"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports
# Each worker process gets its own PostgreSQL database and data folders.
say "tests"
# Python writes no bytecode where the environment says PYTHONDONTWRITEBYTECODE (as some CI images
# do): every worker and every server or command a test starts would compile the same thousands
# of modules again, seconds each. The caches live in __pycache__ folders git ignores.
unset PYTHONDONTWRITEBYTECODE
# One worker more than the cores: a third of the time a worker waits on a server, a browser or
# a subprocess it started, and the spare worker runs a test meanwhile. A worker out of tests
# takes some from another's queue (worksteal): no worker finishes a long queue alone.
exec .venv/bin/pytest -n "$(($(nproc) + 1))" --dist worksteal "$@"
