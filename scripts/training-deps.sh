#!/usr/bin/env bash
# Installs the system packages that only training needs (never the app or the tests) on
# Debian/Ubuntu, when run as root with apt: Debian's mma (Musical MIDI Accompaniment), which
# renders its groove library to MIDI for the drum models (python -m training grooves).
# Kept apart from scripts/system-deps.sh so that the test and app set-up stay as they are.
set -euo pipefail
packages=(mma)
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    echo "training-deps: not root on a Debian-like system; install these yourself if missing: ${packages[*]}" >&2
    exit 0
fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "training-deps: installing ${missing[*]}" >&2
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
# mma's groove index (mma -G), built once so that grooves are found by name
if command -v mma >/dev/null 2>&1 && [ ! -s /usr/share/mma/lib/stdlib/.mmaDB ]; then
    (cd /tmp && mma -G >/dev/null 2>&1) || echo "training-deps: mma -G failed; run it by hand" >&2
fi
