#!/usr/bin/env bash
# Resolve requirements/local.in in a scratch venv and write the fully pinned requirements/local.lock.
set -euo pipefail
python="${1:-python3.11}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$python" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --quiet --upgrade "pip>=24"
"$tmp/venv/bin/python" -m pip install --quiet -r requirements/local.in
"$tmp/venv/bin/python" -m pip check
{ echo "# Fully resolved lock of requirements/local.in for Python 3.11 (regenerate: make lock)."
  "$tmp/venv/bin/python" -m pip freeze --all | grep -v -E '^(pip|setuptools|wheel)=='; } > requirements/local.lock
echo "wrote requirements/local.lock ($(grep -c '==' requirements/local.lock) pins)"
