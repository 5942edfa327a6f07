#!/usr/bin/env bash
# Sets up Continuo on a fresh machine and opens the composer with the shipped models
# and the default seed.  Extra arguments go to main.py (a file to open, for instance).
#
# The set-up (system packages, the virtual environment, `pip install -e .`) runs only
# when it is missing or out of date: $VENV/.continuo-setup holds the sha256 of
# pyproject.toml, scripts/system-deps.sh and scripts/apt-install.sh from the last set-up that finished, and it
# is redone when they changed or when the installed package no longer imports from
# this checkout.  CONTINUO_VENV names another virtual environment (default .venv).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${CONTINUO_VENV:-.venv}"
STAMP_NAME=.continuo-setup

# What the stamp records: the files whose change calls for a new set-up.
setup_stamp() { sha256sum pyproject.toml scripts/system-deps.sh scripts/apt-install.sh; }

# True when $VENV was set up from these files and imports this checkout's packages
# (-I: not from the current folder, only through the install).
setup_is_current() {
    [ -x "$VENV/bin/python" ] && [ -f "$VENV/$STAMP_NAME" ] &&
        [ "$(cat "$VENV/$STAMP_NAME")" = "$(setup_stamp)" ] &&
        "$VENV/bin/python" -I -c 'import sys, engine, gui
sys.exit(not (engine.__file__.startswith(sys.argv[1]) and gui.__file__.startswith(sys.argv[1])))' \
            "$PWD/" 2>/dev/null
}

set_up() {
    bash scripts/system-deps.sh
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    rm -f "$VENV/$STAMP_NAME"
    "$VENV/bin/python" -m pip install -q -e .
    setup_stamp >"$VENV/$STAMP_NAME"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then  # run, not sourced (the tests source it)
    setup_is_current || set_up
    exec "$VENV/bin/python" main.py "$@"
fi
