#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages named that are not installed yet: the one apt-get
# step behind scripts/system-deps.sh and scripts/training-deps.sh.
#
#     bash scripts/apt-install.sh [--as NAME] [--debconf LINE]... PACKAGE...
#
# --as NAME starts its messages (default apt-install); each --debconf LINE is given to
# debconf-set-selections before the install (an answer the package would ask for).
# Installed packages are skipped, so a second run does nothing and says nothing.  As
# root it runs apt-get itself, otherwise through `sudo -n` where sudo lets it without a
# password; with no apt-get, or no way to root, it names the missing packages to install
# by hand and exits 0.
set -euo pipefail
name=apt-install
debconf=()
while [ $# -gt 0 ]; do
    case "$1" in
        --as) name=$2; shift 2 ;;
        --debconf) debconf+=("$2"); shift 2 ;;
        *) break ;;
    esac
done
packages=("$@")
if ! command -v apt-get >/dev/null 2>&1; then
    echo "$name: not a Debian-like system; install these yourself if missing: ${packages[*]}" >&2
    exit 0
fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -gt 0 ] || exit 0
if [ "$(id -u)" = 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "$name: not root and no sudo without a password; install these yourself: ${missing[*]}" >&2
    exit 0
fi
echo "$name: installing ${missing[*]}" >&2
"${as_root[@]}" apt-get update -q >/dev/null
for line in "${debconf[@]}"; do
    echo "$line" | "${as_root[@]}" debconf-set-selections 2>/dev/null || true
done
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
