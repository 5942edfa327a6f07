#!/usr/bin/env bash
# Sets up everything Continuo's tests need on a fresh machine and runs them:
# system packages, a virtual environment with the app, training and test extras,
# a JACK server with its dummy driver (real MIDI ports, no sound card), then pytest.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
bash scripts/fetch-test-midi.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[train,test]'

jack_pid=""
# jack_wait -c exits 0 either way; it prints "running" or "not running".
jack_running() { command -v jack_wait >/dev/null && [ "$(JACK_NO_START_SERVER=1 jack_wait -c 2>/dev/null)" = running ]; }
if command -v jackd >/dev/null 2>&1 && ! jack_running; then
    # -S (synchronous): the server waits for every client each period instead of
    # dropping the MIDI of a client that a busy CPU left unfinished (an async xrun).
    jackd -S --no-realtime -d dummy -r 48000 -p 256 >/tmp/continuo-jackd.log 2>&1 &
    jack_pid=$!
    if command -v jack_wait >/dev/null 2>&1; then
        jack_wait -w -t 15 >/dev/null 2>&1 || echo "test.sh: JACK did not start; port tests will be skipped" >&2
    else
        sleep 2
    fi
fi
cleanup() { [ -n "$jack_pid" ] && kill "$jack_pid" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

export QT_QPA_PLATFORM=offscreen
.venv/bin/python -m pytest "$@"
