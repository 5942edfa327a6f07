"""Write assets/default_seed.mid: the phrase the composer opens with on a fresh install.

A four-bar folk-like phrase in G major (4/4, 96 BPM) that ends on the dominant, so that
a model has something to answer.  Velocities follow the metre (strong downbeats, light
passing notes) so that playback sounds played rather than typed.

    python scripts/make_default_seed.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.formats import song_to_midi_file  # noqa: E402
from engine.song import Note, melody_song  # noqa: E402

PPQ = 480
E8 = PPQ // 2  # an eighth note
Q = PPQ  # a quarter note

# (pitch, length in ticks): G4 B4 D5 ... a rising question, a falling answer, ending on D5
PHRASE: list[tuple[int, int]] = [
    # bar 1
    (67, Q), (71, E8), (74, E8), (76, Q), (74, Q),
    # bar 2
    (72, E8), (71, E8), (69, E8), (71, E8), (72, Q), (69, Q),
    # bar 3
    (67, E8), (69, E8), (71, Q), (74, E8), (72, E8), (71, E8), (69, E8),
    # bar 4
    (67, Q), (69, E8), (71, E8), (74, Q + Q),
]


def velocity_at(tick: int) -> int:
    """Metric accent: bar downbeat > half-bar > beat > off-beat."""
    bar = 4 * PPQ
    if tick % bar == 0:
        return 96
    if tick % (bar // 2) == 0:
        return 84
    if tick % PPQ == 0:
        return 76
    return 64


def default_seed_notes() -> list[Note]:
    notes, tick = [], 0
    for pitch, length in PHRASE:
        # a little detached, as a fiddler or a singer would phrase it
        notes.append(Note(pitch, tick, length - length // 8, velocity_at(tick)))
        tick += length
    return notes


def main() -> int:
    out = ROOT / "assets" / "default_seed.mid"
    song = melody_song(default_seed_notes(), ppq=PPQ, bpm=96, name="Melody")
    song_to_midi_file(song, out)
    print(f"wrote {out} ({len(song.tracks[0].notes)} notes, {song.end_tick / (4 * PPQ):g} bars)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
