#!/usr/bin/env bash
# The gates of the house (the README's test command runs them before the tests; so does pre-commit):
# ruff (lint and format), mypy (strict on the four libraries, default on plant/) and import-linter (layers,
# no cycles, private modules). Any finding fails. Run after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
status=0
echo "lint: ruff check" >&2
"$bin/ruff" check . || status=1
echo "lint: ruff format --check" >&2
"$bin/ruff" format --check . || status=1
echo "lint: mypy --strict (the four libraries)" >&2
"$bin/mypy" --strict imposition tracking printers inserters || status=1
echo "lint: mypy (plant/, default mode)" >&2
"$bin/mypy" plant || status=1
echo "lint: lint-imports" >&2
"$bin/lint-imports" || status=1
if [[ $status -ne 0 ]]; then
  echo "lint: findings above; fix them (an ignore needs a one-line reason beside it)." >&2
fi
exit $status
