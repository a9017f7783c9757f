#!/usr/bin/env bash
# Installs grokimagine into ./.venv and serves it on the embedded default (SQLite, local files,
# in-process worker, preview engine). The first start prints a demo key.
# scripts/install.sh installs only when the dependencies changed (a stamp of the pyproject
# files in .venv); the install is editable, so a change of the code alone needs no reinstall.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
# A restart reads compiled modules instead of compiling them again (seconds on a small machine),
# even where the environment says PYTHONDONTWRITEBYTECODE.
unset PYTHONDONTWRITEBYTECODE
printf 'serve.sh: starting: grokimagine serve %s\n' "$*"
exec .venv/bin/grokimagine serve "$@"
