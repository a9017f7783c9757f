#!/usr/bin/env bash
# Installs grokimagine, editable, with the extras asked for into ./.venv; only when a pyproject
# file or the extras changed since the last install (a stamp in .venv), so a restart or a code
# change installs nothing. uv installs (seconds, where pip takes minutes; pip puts uv itself
# into .venv); where uv cannot, pip does. The gpu extra first gets the CPU build of PyTorch,
# pinned: any other version pulls gigabytes of CUDA packages.
#   scripts/install.sh [EXTRAS]    EXTRAS: none, or a list such as test,gpu
# scripts/serve.sh and scripts/test.sh call it.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'install: %s\n' "$*"; }

extras="${1:-}"
target="."
[ -z "$extras" ] || target=".[$extras]"
stamp_file=".venv/.grokimagine-install${extras:+-${extras//,/-}}"
wanted="$(cat pyproject.toml sdk/python/pyproject.toml | sha256sum | cut -d' ' -f1) $extras"
torch=()
[[ ",$extras," != *,gpu,* ]] || torch=(torch==2.13.0)

if [ ! -x .venv/bin/python ]; then
  say "creating the virtual environment .venv (${PYTHON:-python3})"
  "${PYTHON:-python3}" -m venv .venv
fi
if [ "$(cat "$stamp_file" 2>/dev/null)" = "$wanted" ]; then
  say "dependencies unchanged since the last install: nothing to install"
  exit 0
fi

with_uv() {
  .venv/bin/python -m pip install --quiet --disable-pip-version-check uv || return 1
  # uv reads no pip configuration: the wheel folders pip is told of (where this machine keeps
  # its CPU build of PyTorch) are handed over.
  local links=() folder
  for folder in $(.venv/bin/python -m pip config get global.find-links 2>/dev/null || true); do
    links+=(--find-links "$folder")
  done
  local uv=(.venv/bin/uv pip install --python .venv/bin/python "${links[@]}")
  if [ ${#torch[@]} -gt 0 ]; then "${uv[@]}" "${torch[@]}" || return 1; fi
  "${uv[@]}" -e "$target"
}

with_pip() {
  local pip=(.venv/bin/python -m pip install --disable-pip-version-check --progress-bar on)
  if [ ${#torch[@]} -gt 0 ]; then "${pip[@]}" "${torch[@]}"; fi
  "${pip[@]}" -e "$target"
}

say "installing grokimagine${extras:+ with $extras} into .venv (first run, or a pyproject.toml changed)"
if ! with_uv; then
  say "uv could not install: pip instead (minutes, not seconds)"
  with_pip
fi
printf '%s\n' "$wanted" >"$stamp_file"
say "installed"
