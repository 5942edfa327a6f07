"""A song that opens with a pickup, played: the metronome hears the pickup as an upbeat
and the count-in counts whole bars of the metre, not of the pickup's short bar."""

from __future__ import annotations

from engine.live.player import METRONOME_ACCENT, METRONOME_BEAT, metronome_events
from engine.song import Note, Song, TimeSignature, Track, pickup_signatures

Q = 480


def pickup_song() -> Song:
    return Song(tracks=[Track("Melody", notes=[Note(67, 0, Q), Note(72, Q, 4 * Q)])],
                time_signatures=pickup_signatures(Q, TimeSignature(0, 4, 4), Q))


def clicks(events) -> list[tuple[int, int]]:
    return [(e.tick, e.message.note) for e in events
            if e.message.type == "note_on" and e.message.velocity > 0]


def test_the_metronome_hears_a_pickup_as_an_upbeat():
    got = clicks(metronome_events(pickup_song(), 0, 6 * Q))
    assert got == [(0, METRONOME_BEAT), (Q, METRONOME_ACCENT), (2 * Q, METRONOME_BEAT),
                   (3 * Q, METRONOME_BEAT), (4 * Q, METRONOME_BEAT), (5 * Q, METRONOME_ACCENT)]


def test_a_count_in_from_the_pickup_is_a_whole_bar_of_the_metre():
    got = [(tick, note) for tick, note in clicks(metronome_events(pickup_song(), 0, 0, 1))]
    assert got == [(-4 * Q, METRONOME_ACCENT), (-3 * Q, METRONOME_BEAT),
                   (-2 * Q, METRONOME_BEAT), (-Q, METRONOME_BEAT)]

