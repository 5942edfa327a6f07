#!/usr/bin/env bash
# Fetches real MIDI files written by other programs for the round-trip tests: Debian's
# mma and pianobooster packages ship dozens (type 0 and 1, running status, tempo
# changes, drums). The packages are downloaded and unpacked, not installed, and the
# files are kept out of git (tests/data/external/ is ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=tests/data/external
[ -n "$(ls -A "$dest" 2>/dev/null)" ] && exit 0
command -v apt-get >/dev/null 2>&1 || { echo "fetch-test-midi: no apt-get; real-file tests will skip" >&2; exit 0; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 777 "$work"
(cd "$work" && apt-get download mma pianobooster >/dev/null 2>&1) || {
    apt-get update -q >/dev/null 2>&1 || true
    (cd "$work" && apt-get download mma pianobooster >/dev/null 2>&1) || {
        echo "fetch-test-midi: could not download mma/pianobooster; real-file tests will skip" >&2; exit 0; }
}
mkdir -p "$dest"
for deb in "$work"/*.deb; do
    name=$(basename "$deb" | cut -d_ -f1)
    dpkg-deb -x "$deb" "$work/x-$name"
    find "$work/x-$name" -type f \( -iname '*.mid' -o -iname '*.midi' \) | while read -r f; do
        rel=${f#"$work/x-$name/"}
        cp "$f" "$dest/$name--$(echo "$rel" | tr '/' '_')"
    done
done
echo "fetch-test-midi: $(ls "$dest" | wc -l) files in $dest" >&2
