"""A score that opens with a pickup, in the piano roll: the ruler numbers the pickup bar
0 and the next bars from 1 where the score has them, a double-click selects the pickup
bar, and the song saved again keeps its key signature and its short first bar.

Real offscreen widgets over BWV 66.6 from music21's corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.formats import load_song, midi_file_to_song, song_to_midi_bytes
from engine.song import KeySignature, TimeSignature

music21 = pytest.importorskip("music21")
BWV_66_6 = Path(music21.__file__).parent / "corpus" / "bach" / "bwv66.6.mxl"


@pytest.fixture
def chorale_roll(qtbot, roll, doc):
    doc.load_song(load_song(BWV_66_6))
    roll.geometry.scroll_x = 0.0
    return roll


def test_the_ruler_numbers_the_pickup_0_and_the_bars_from_its_end(chorale_roll):
    roll = chorale_roll
    q = roll.doc.ppq
    roll.geometry.px_per_tick = 60 / q  # a beat is 60 px: every bar and beat labelled
    bars = [(tick, label) for tick, kind, label in roll.ruler.marks() if kind == "bar"]
    assert bars[:4] == [(0, "0"), (q, "1"), (5 * q, "2"), (9 * q, "3")]
    beats = [tick for tick, kind, _ in roll.ruler.marks() if kind == "beat"][:4]
    assert beats == [2 * q, 3 * q, 4 * q, 6 * q]
    roll.geometry.px_per_tick = 20 / q  # zoomed out: the one-beat pickup has no room
    bars = [(tick, label) for tick, kind, label in roll.ruler.marks() if kind == "bar"]
    assert bars[:3] == [(0, None), (q, "1"), (5 * q, "2")]


def test_a_double_click_on_the_pickup_selects_its_one_beat(chorale_roll):
    roll = chorale_roll
    roll.select_bar(100)
    assert roll.time_range() == (0, roll.doc.ppq)
    roll.select_bar(roll.doc.ppq)
    assert roll.time_range() == (roll.doc.ppq, 5 * roll.doc.ppq)


def test_saving_again_keeps_the_key_signature_and_the_pickup(chorale_roll):
    doc = chorale_roll.doc
    again = midi_file_to_song(song_to_midi_bytes(doc.song()))
    assert again.key_signatures == [KeySignature(0, 3, True)]
    assert again.time_signatures == [TimeSignature(0, 1, 4), TimeSignature(doc.ppq, 4, 4)]
    assert [(t.name, t.channel) for t in again.tracks] == \
        [("Soprano", 0), ("Alto", 1), ("Tenor", 2), ("Bass", 3)]


def test_a_clip_exported_from_a_pickup_song_is_in_its_metre(chorale_roll):
    from gui.files import clip_song

    song = chorale_roll.doc.song()
    clip = clip_song(song.tracks[0].notes[:6], song)
    assert clip.time_signatures == [TimeSignature(0, 4, 4)]
