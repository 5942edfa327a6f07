#!/usr/bin/env bash
# Installs the system packages Continuo needs on Debian/Ubuntu (scripts/apt-install.sh):
# Qt's runtime libraries, JACK with its dummy driver (real MIDI ports with no sound card),
# ALSA's library for rtmidi, FluidSynth and a GM soundfont for the built-in synth,
# Xvfb for screenshots, and the freedesktop tools that --install-desktop and its test use.
set -euo pipefail
packages=(libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3
          libglib2.0-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0
          libxcb-xinerama0 libxcb-randr0 libxcb-render-util0 libxcb-image0
          libasound2 jackd2 xvfb fonts-dejavu-core libfluidsynth3 timgm6mb-soundfont
          desktop-file-utils xdg-utils shared-mime-info)
exec bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" --as system-deps \
    --debconf "jackd2 jackd/tweak_rt_limits boolean false" "${packages[@]}"
