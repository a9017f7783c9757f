#!/usr/bin/env bash
# Installs grokimagine with its test tools into ./.venv, then lints and runs the whole suite.
# The database and rate-limit tests need PostgreSQL on 127.0.0.1:5432 and Redis on 6379.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check --upgrade pip
# The CPU build of PyTorch first, pinned: any other version pulls gigabytes of CUDA packages.
.venv/bin/pip install --quiet --disable-pip-version-check torch==2.13.0
# The client distribution first (editable, so its tests run this tree): the server depends on it.
.venv/bin/pip install --quiet --disable-pip-version-check -e ./sdk/python -e '.[test,gpu]'
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports
# One process per core: each gets its own PostgreSQL database and data folders.
exec .venv/bin/pytest -n auto "$@"
