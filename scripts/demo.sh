#!/usr/bin/env bash
# README command 1: set up, then run the full demo sync against the local sandboxes (SQLite store).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/prm-sync demo "$@"
