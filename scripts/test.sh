#!/usr/bin/env bash
# README command 2: set up, then run the whole test suite (SQLite and PostgreSQL, sandboxes, browser test).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# The Dagster UI test drives Debian's chromium headless; install it when missing (needs root / apt).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Debian's chromium for the browser test"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing: install Debian's 'chromium' package (the browser test needs it)" >&2
    exit 1
  fi
fi

# The store tests run on PostgreSQL too (127.0.0.1:5432, trust auth, database test).
export PRM_SYNC_TEST_POSTGRES_URL="${PRM_SYNC_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "==> starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 20); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
  fi
fi

exec .venv/bin/python -m pytest "$@"
