"""Write assets/default_seed.mid: the phrase the composer opens with on a fresh install.

A four-bar folk-like phrase in G major (4/4, 96 BPM) that ends on the dominant, so that
a model has something to answer, in two parts: the melody (track 1, channel 1, piano)
and a bass line beneath it (track 2, channel 2, General MIDI 33 "Acoustic Bass"), one
note per half bar on the roots of I - I6 | IV - ii | I - V | I - V.  Two voices make
the Generate panel pick a polyphonic model when one is installed, which continues both
parts.  Velocities follow the metre (strong downbeats, light passing notes) so that
playback sounds played rather than typed.

    python scripts/make_default_seed.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.formats import song_to_midi_file  # noqa: E402
from engine.song import Note, Track, melody_song  # noqa: E402

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


# the bass: (pitch, length in ticks), G2 B2 | C3 A2 | G2 D3 | G2 B2 D3, ending on the
# dominant under the melody's D5
H = 2 * Q  # a half note
BASS: list[tuple[int, int]] = [
    (43, H), (47, H),  # bar 1: G, G/B
    (48, H), (45, H),  # bar 2: C, Am
    (43, H), (50, H),  # bar 3: G, D
    (43, Q), (47, Q), (50, H),  # bar 4: G, then D
]
BASS_PROGRAM = 32  # General MIDI "Acoustic Bass" (33 counted from 1)
BASS_CHANNEL = 1


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
    """The melody."""
    notes, tick = [], 0
    for pitch, length in PHRASE:
        # a little detached, as a fiddler or a singer would phrase it
        notes.append(Note(pitch, tick, length - length // 8, velocity_at(tick)))
        tick += length
    return notes


def default_bass_notes() -> list[Note]:
    """The bass line: a little softer than the melody, as detached (both parts end
    together, where the phrase ends)."""
    notes, tick = [], 0
    for pitch, length in BASS:
        notes.append(Note(pitch, tick, length - length // 8, velocity_at(tick) - 8,
                          BASS_CHANNEL))
        tick += length
    return notes


def main() -> int:
    out = ROOT / "assets" / "default_seed.mid"
    song = melody_song(default_seed_notes(), ppq=PPQ, bpm=96, name="Melody")
    song.tracks.append(Track(name="Bass", channel=BASS_CHANNEL, program=BASS_PROGRAM,
                             notes=default_bass_notes()))
    song_to_midi_file(song, out)
    print(f"wrote {out} ({len(song.tracks[0].notes)} melody notes, "
          f"{len(song.tracks[1].notes)} bass notes, {song.end_tick / (4 * PPQ):g} bars)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
