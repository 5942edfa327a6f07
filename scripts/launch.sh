#!/usr/bin/env bash
# Sets up Continuo on a fresh machine and opens the composer with the shipped models
# and the default seed.  Extra arguments go to main.py (a file to open, for instance).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q -e .
exec .venv/bin/python main.py "$@"
