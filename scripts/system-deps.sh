#!/usr/bin/env bash
# Installs the system packages Continuo needs on Debian/Ubuntu (when run as root with apt):
# Qt's runtime libraries, JACK with its dummy driver (real MIDI ports with no sound card),
# ALSA's library for rtmidi, FluidSynth and a GM soundfont for the built-in synth,
# Xvfb for screenshots, and the freedesktop tools that --install-desktop and its test use.
set -euo pipefail
packages=(libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3
          libglib2.0-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0
          libxcb-xinerama0 libxcb-randr0 libxcb-render-util0 libxcb-image0
          libasound2 jackd2 xvfb fonts-dejavu-core libfluidsynth3 timgm6mb-soundfont
          desktop-file-utils xdg-utils shared-mime-info)
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    echo "system-deps: not root on a Debian-like system; install these yourself if missing: ${packages[*]}" >&2
    exit 0
fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "system-deps: installing ${missing[*]}" >&2
    apt-get update -q >/dev/null
    echo "jackd2 jackd/tweak_rt_limits boolean false" | debconf-set-selections 2>/dev/null || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
