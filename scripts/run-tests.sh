#!/usr/bin/env bash
# The whole suite: lint, client unit tests (node), then pytest (unit, integration, security, e2e).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var/artifacts
echo "== lint"
.venv/bin/python -m ruff check server personas_engine tests
.venv/bin/python -m mypy
echo "== client unit tests (node --test)"
if [ -d client/test ]; then node --test client/test/; fi
echo "== python tests"
# Reuse the test persona model while personas_engine/ is unchanged (training takes ~20 s).
engine_hash=$(cat personas_engine/*.py | sha256sum | cut -c1-12)
export VITRINE_TEST_MODELS_DIR="${VITRINE_TEST_MODELS_DIR:-var/test-models/$engine_hash}"
if [ ! -x /usr/bin/chromium ] && [ -z "${VITRINE_CHROMIUM:-}" ]; then
  echo "!! Chromium not found at /usr/bin/chromium: END-TO-END BROWSER TESTS WILL BE SKIPPED" >&2
  echo "!! install it with: apt-get install -y chromium" >&2
fi
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
