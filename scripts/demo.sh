#!/usr/bin/env bash
# Set up the plant and run a demo batch end to end on the embedded defaults (state in ./.plant).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export NUMBA_CACHE_DIR=${NUMBA_CACHE_DIR:-$PWD/.plant/numba-cache}
exec .venv/bin/plant demo --letters "${LETTERS:-1000}" "$@"
