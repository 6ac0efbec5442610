#!/usr/bin/env bash
# Create .venv and node_modules from the lock files; a second run with unchanged locks does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
lock_stamp=".venv/.lock-$(sha256sum requirements.lock | cut -c1-16)"
if [ ! -f "$lock_stamp" ]; then
  if [ ! -x .venv/bin/python ]; then
    python=$(scripts/find-python.sh)
    echo "setup: creating .venv with $python"
    "$python" -m venv .venv
  fi
  if [ ! -x .venv/bin/uv ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  fi
  echo "setup: installing locked Python dependencies"
  .venv/bin/uv pip sync --quiet --python .venv/bin/python requirements.lock
  rm -f .venv/.lock-*
  touch "$lock_stamp"
fi
npm_stamp="client/node_modules/.lock-$(sha256sum client/package-lock.json | cut -c1-16)"
if [ ! -f "$npm_stamp" ]; then
  echo "setup: installing client dependencies (npm ci)"
  (cd client && npm ci --no-audit --no-fund --loglevel=error)
  touch "$npm_stamp"
fi
mkdir -p var
