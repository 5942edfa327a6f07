"""Chord detection on the textures harmonic analysts read in their own way (the rest of
detection's tests are in test_chords.py; bench/chords.py measures it against music21's
analyses)."""

from __future__ import annotations

from engine.encodings.chords import detect_beat_chords, detect_chords
from engine.song import Note, Song, TimeSignature, Track

Q = 480  # ticks a quarter note


def _voices(*parts: list[tuple[int, int, int]]) -> Song:
    """A song of one track a voice, each (pitch, start beat, beats)."""
    return Song(ppq=Q, time_signatures=[TimeSignature(0, 4, 4)], tracks=[
        Track(f"Voice {i + 1}", channel=i,
              notes=[Note(p, s * Q, d * Q, channel=i) for p, s, d in part])
        for i, part in enumerate(parts)])


def test_a_suspended_fourth_over_the_root_is_the_chord_it_resolves_into():
    # D minor, then the bass strikes D again under G (the fourth, held back from F) and
    # A for a half bar before G falls to F: an analyst hears D minor throughout, though
    # D G A alone spells G sus2 and holds two of G minor's three tones
    song = _voices([(50, 0, 4), (50, 4, 4)],  # bass: D3, D3
                   [(57, 0, 8)],  # A3 held
                   [(65, 0, 4), (67, 4, 2), (65, 6, 2)])  # F4, G4 (the suspension), F4
    assert [(d.bar, d.beat, str(d.symbol)) for d in detect_chords(song)] == [(1, 1, "Dm")]


def test_the_fourth_resolving_in_a_major_key_names_the_major_triad():
    # the same suspension over C in C major: C F G, then E
    song = _voices([(48, 0, 8)], [(55, 0, 8)], [(64, 0, 2), (65, 2, 4), (64, 6, 2)],
                   [(72, 0, 8)])
    assert {str(s) for _, s in detect_beat_chords(song)} == {"C"}



def test_a_bare_third_over_a_bass_that_left_the_root_names_the_chord_missing_its_fifth():
    # A minor for a half bar, then the bass leaves A for C under the held C and E: C E
    # over C is C major without its fifth (the tone a voice leaves out), not A minor
    # without its root (detection before this read A minor for the whole bar)
    song = _voices([(45, 0, 2), (48, 2, 2)], [(60, 0, 4)], [(64, 0, 4)])
    assert [str(s) for _, s in detect_beat_chords(song)] == ["Am", "Am", "C", "C"]


def test_an_undoubled_bass_under_its_sixth_is_a_first_inversion():
    # bars 8 and 9 of Bach's chorale Riemenschneider 14 (A major), as (pitch, start beat,
    # beats): the cadence's D F# A B over a D no other voice doubles is B minor seventh
    # over its third (ii6/5 before E and A, as the analysis names it), not D with an
    # added sixth (detection before this read D)
    notes = [(56, 0, 0.5), (59, 0, 1), (64, 0, 0.5), (76, 0, 1.5), (54, 0.5, 0.5),
             (66, 0.5, 0.5), (52, 1, 1), (64, 1, 1), (68, 1, 1), (74, 1.5, 0.5),
             (57, 2, 0.5), (64, 2, 1), (69, 2, 1), (73, 2, 1), (56, 2.5, 0.5), (54, 3, 0.5),
             (62, 3, 0.5), (69, 3, 1), (74, 3, 0.5), (52, 3.5, 0.5), (64, 3.5, 0.5),
             (73, 3.5, 0.5), (50, 4, 1), (66, 4, 1), (69, 4, 1), (71, 4, 2), (52, 5, 1),
             (64, 5, 0.5), (68, 5, 1), (62, 5.5, 0.5), (45, 6, 1), (61, 6, 1), (64, 6, 1),
             (69, 6, 1), (54, 7, 1), (61, 7, 1), (66, 7, 1), (69, 7, 1)]
    song = Song(ppq=Q, time_signatures=[TimeSignature(0, 4, 4)], tracks=[
        Track("Chorale", channel=0,
              notes=[Note(p, int(s * Q), int(d * Q), channel=0) for p, s, d in notes])])
    assert [str(s) for _, s in detect_beat_chords(song)][3:7] == ["D", "Bm7", "E", "A"]


def test_a_ninth_holding_back_the_root_is_the_triad_it_resolves_into():
    # a 7-6 suspension over E: D above E and G falls to C on the third beat; the
    # harmony is C major over its third throughout (detection before this read E minor
    # seventh for the first half)
    song = _voices([(52, 0, 4)], [(55, 0, 4)], [(62, 0, 2), (60, 2, 2)])
    assert [str(s) for _, s in detect_beat_chords(song)] == ["C"] * 4
    # the same over the root, a 9-8 in D minor: E above F and A falls to D
    song = _voices([(50, 0, 4)], [(53, 0, 4)], [(57, 0, 4)], [(64, 0, 2), (62, 2, 2)])
    assert {str(s) for _, s in detect_beat_chords(song)} == {"Dm"}


def test_a_ninth_that_does_not_resolve_is_no_suspension():
    # C E B held through the bar: the B never falls to A, so it is C major seventh,
    # not A minor waiting for its root
    song = _voices([(48, 0, 4)], [(64, 0, 4)], [(71, 0, 4)])
    assert {str(s) for _, s in detect_beat_chords(song)} == {"Cmaj7"}
