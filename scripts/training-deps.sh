#!/usr/bin/env bash
# Installs the system packages that only training needs (never the app or the tests) on
# Debian/Ubuntu (scripts/apt-install.sh): Debian's mma (Musical MIDI Accompaniment), which
# renders its groove library to MIDI for the drum models (python -m training grooves).
# Kept apart from scripts/system-deps.sh so that the test and app set-up stay as they are.
set -euo pipefail
packages=(mma)
bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" --as training-deps "${packages[@]}"
# mma's groove index (mma -G), built once so that grooves are found by name
if command -v mma >/dev/null 2>&1 && [ ! -s /usr/share/mma/lib/stdlib/.mmaDB ]; then
    (cd /tmp && mma -G >/dev/null 2>&1) || echo "training-deps: mma -G failed; run it by hand" >&2
fi
