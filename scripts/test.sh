#!/usr/bin/env bash
# Set up the plant, run the gates (lint, types, layers) and the whole test suite (real Redis, real processes,
# real decoders).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
# The gates first: ruff, mypy and import-linter; any finding fails the run (scripts/lint.sh).
bash scripts/lint.sh
# Every service the tests start is installed above, so a skipped test is a failure here (tests/conftest.py).
export PLANT_TESTS_STRICT=${PLANT_TESTS_STRICT:-1}
export NUMBA_CACHE_DIR=${NUMBA_CACHE_DIR:-${TMPDIR:-/tmp}/plant-numba-cache}
status=0
.venv/bin/python -m pytest -p no:cacheprovider "$@" || status=$?
if [[ $status -eq 5 ]]; then
  echo "test: pytest collected no tests; that is a failure here." >&2
  exit 1
fi
exit $status
