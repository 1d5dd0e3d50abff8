#!/usr/bin/env bash
# Create or refresh the virtual environment from the pinned lock, then install the project itself in
# editable mode (its four source roots are declared once, in pyproject.toml). Idempotent: a no-op when
# neither the lock nor pyproject.toml changed since the last successful install (their hash is kept in
# the venv).
set -euo pipefail
python="$1"; venv="$2"; lock="$3"; project="${4:-with-project}"  # tools venvs pass "no-project"
stamp="$venv/.llmops-lock.sha256"
want=$(cat "$lock" pyproject.toml | sha256sum | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then exit 0; fi
start=$(date +%s)
# the lock pins packages that need Python 3.11.3 or newer (gcloud-aio-auth 5.6): say so before pip does
if ! "$python" -c 'import sys; sys.exit(0 if (3, 11, 3) <= sys.version_info[:3] < (3, 12) else 1)' 2>/dev/null; then
  echo "error: the lock needs Python 3.11.3 or a newer 3.11; $python is $("$python" --version 2>&1)." >&2
  echo "       Put one first on PATH or pass it: make PYTHON=/path/to/python3.11 ..." >&2
  exit 2
fi
if [[ ! -x "$venv/bin/python" ]]; then
  echo "creating $venv with $("$python" --version)"
  "$python" -m venv "$venv"
fi
# pip's notes about unusable extra index locations are noise; real errors still show.
quiet() { "$@" 2> >(grep -v -e "is ignored: it is neither a file nor a directory" >&2); }
quiet "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24" </dev/null
echo "installing the pinned lock $lock into $venv (first time: a few minutes)"
quiet "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$lock" </dev/null
if [[ "$project" == with-project ]]; then
  echo "installing the project (editable: include/, plugins/, beam_jobs/, trainer/)"
  quiet "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
    -e . </dev/null
fi
"$venv/bin/python" -m pip check
echo "$want" > "$stamp"
echo "environment ready in $(( $(date +%s) - start )) s"
