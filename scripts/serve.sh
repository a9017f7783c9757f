#!/usr/bin/env bash
# Installs grokimagine into ./.venv and serves it on the embedded default (SQLite, local files,
# in-process worker, preview engine). The first start prints a demo key.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check --upgrade pip
# The client distribution first: the server depends on it and it is not on PyPI.
.venv/bin/pip install --quiet --disable-pip-version-check ./sdk/python -e .
exec .venv/bin/grokimagine serve "$@"
