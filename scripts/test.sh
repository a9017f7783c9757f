#!/usr/bin/env bash
# Installs grokimagine with its test tools into ./.venv, then lints and runs the whole suite.
# The database and rate-limit tests need PostgreSQL on 127.0.0.1:5432 and Redis on 6379.
# pip runs only when the pyproject files changed since the last install (a stamp in .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'test.sh: %s\n' "$*"; }

stamp_file=.venv/.grokimagine-install-test
wanted="$(cat pyproject.toml sdk/python/pyproject.toml | sha256sum | cut -d' ' -f1)"
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
if [ "$(cat "$stamp_file" 2>/dev/null)" != "$wanted" ]; then
  say "installing grokimagine with the test and gpu extras into .venv"
  # The CPU build of PyTorch first, pinned: any other version pulls gigabytes of CUDA packages.
  .venv/bin/pip install --quiet --disable-pip-version-check torch==2.13.0
  # Editable: the tests run this tree (the client, sdk/python/src, is inside the server's install).
  .venv/bin/pip install --quiet --disable-pip-version-check -e '.[test,gpu]'
  printf '%s\n' "$wanted" >"$stamp_file"
fi
say "lint"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports
# One process per core: each gets its own PostgreSQL database and data folders.
say "tests"
exec .venv/bin/pytest -n auto "$@"
