#!/usr/bin/env bash
# Installs grokimagine into ./.venv and serves it on the embedded default (SQLite, local files,
# in-process worker, preview engine). The first start prints a demo key.
# pip runs only when the dependencies changed: a stamp of the pyproject files sits in .venv, and
# the install is editable, so a change of the code alone needs no reinstall.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'serve.sh: %s\n' "$*"; }

stamp_file=.venv/.grokimagine-install
wanted="$(cat pyproject.toml sdk/python/pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ ! -x .venv/bin/python ]; then
  say "creating the virtual environment .venv (${PYTHON:-python3})"
  "${PYTHON:-python3}" -m venv .venv
fi
if [ "$(cat "$stamp_file" 2>/dev/null)" != "$wanted" ]; then
  say "installing grokimagine and its dependencies into .venv (first start, or pyproject.toml changed)"
  .venv/bin/python -m pip install --disable-pip-version-check --progress-bar on -e .
  printf '%s\n' "$wanted" >"$stamp_file"
  say "installed"
else
  say "dependencies unchanged since the last install: no pip run"
fi
say "starting: grokimagine serve $*"
exec .venv/bin/grokimagine serve "$@"
