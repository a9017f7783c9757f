#!/usr/bin/env bash
# Runs the CPU benchmarks of the embedded default and prints their tables (see bench/RESULTS.md):
# the HTTP API against bare Starlette (needs wrk), then the preview engine on one core.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
.venv/bin/python bench/http_api.py "$@"
echo
.venv/bin/python bench/preview_engine.py
