"""The measures of bench/reads_right.py (bench/readings.py), counted on small MIDI files
built by hand, written with the engine's writer and read back with its reader, whose
answers a musician can count on the page."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path

import mido
import numpy as np
import pytest

from engine.formats import midi_file_to_song, song_to_midi_bytes
from engine.song import Note, Song, TempoChange, TempoMap, TimeSignature, Track

ROOT = Path(__file__).resolve().parents[2]
PPQ = 480
BAR = 4 * PPQ


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def R():
    return _load("readings")


@pytest.fixture(scope="module")
def bench(R):
    return _load("reads_right")


def saved(tracks: list[Track], signatures=((0, 4, 4),), bpm: float = 120.0) -> Song:
    """The song written as a MIDI file and read back, as the bench reads an output."""
    song = Song(ppq=PPQ, tracks=tracks,
                tempo_map=TempoMap(PPQ, [TempoChange(0, round(60_000_000 / bpm))]),
                time_signatures=[TimeSignature(t, n, d) for t, n, d in signatures])
    return midi_file_to_song(song_to_midi_bytes(song), name="hand-built.mid")


def line(name: str, notes, channel: int = 0) -> Track:
    """A track from (pitch, start, length) in ticks."""
    return Track(name=name, channel=channel,
                 notes=[Note(p, s, d, 90, channel) for p, s, d in notes])


def test_metric_positions_in_four_four(R):
    song = saved([line("M", [(60, 0, 240), (62, 240, 120), (64, 360, 120),
                             (65, 480 + 100, 200), (67, BAR, 480)])])
    got = [R.metric_position(song, n.start_tick) for n in song.tracks[0].notes]
    assert got == ["beat", "eighth", "sixteenth", "off_grid", "beat"]
    assert R.positions(song, song.tracks[0].notes) == {
        "beat": 2, "eighth": 1, "sixteenth": 1, "off_grid": 1}


def test_metric_positions_follow_a_pickup_bar_and_six_eight(R):
    # a one-beat pickup written as a 1/4 bar, then 6/8: the beat is an eighth
    song = saved([line("M", [(60, 0, 480), (62, 480, 240), (64, 480 + 240, 120),
                             (65, 480 + 360, 120)])],
                 signatures=((0, 1, 4), (480, 6, 8)))
    got = [R.metric_position(song, n.start_tick) for n in song.tracks[0].notes]
    assert got == ["beat", "beat", "beat", "sixteenth"]
    assert R.bar_lines(song, 480 + 1)[:3] == [0, 480, 480 + 3 * PPQ]


def test_the_issue_continuation_a_sixteenth_early_is_all_off_sixteenths(R):
    # the default seed's case: notes at 15.75, 16.25, 16.75 ... beats
    starts = [int((15.75 + 0.5 * k) * PPQ) for k in range(8)]
    song = saved([line("M", [(60, s, 120) for s in starts])])
    assert R.positions(song, song.tracks[0].notes)["sixteenth"] == 8


def test_tied_across_a_bar_line(R):
    song = saved([line("M", [(60, BAR - 240, 480), (62, BAR + 480, 1440),
                             (64, 2 * BAR - 480, 960)])])
    tied = [R.tied_across_bar(song, n) for n in song.tracks[0].notes]
    # ends after the bar line; ends exactly on it; starts two beats before the next one
    assert tied == [True, False, True]


def test_new_notes_are_those_not_in_the_seed(R):
    seed = [Note(60, 0, 480), Note(60, 0, 480), Note(62, 480, 480)]
    out = [Note(60, 0, 480), Note(60, 0, 480, 50, 3), Note(62, 480, 480), Note(62, 480, 240),
           Note(64, 960, 480)]
    fresh = R.new_notes(seed, out)
    assert [(n.pitch, n.start_tick, n.duration_ticks) for n in fresh] == [
        (62, 480, 240), (64, 960, 480)]


def test_overlaps_within_a_part(R):
    song = saved([line("Alto", [(60, 0, 480), (64, 0, 480),  # two at once
                                (62, 480, 480), (64, 960, 480),  # touching: a line
                                (65, 1440, 600), (67, 1920, 480)])])  # held into the next
    notes = song.tracks[0].notes
    assert R.overlapping(notes, notes) == 4
    assert not R.is_monophonic(notes)
    assert R.is_monophonic(notes[2:4])
    assert R.overlapping(notes[2:4], notes[2:4]) == 0


def test_whole_bar_rests_and_bars(R):
    song = saved([line("Bass", [(48, 0, BAR), (50, 2 * BAR - 1, 2), (43, 3 * BAR, 480)])])
    bars = R.bars_between(song, 0, 4 * BAR)
    assert bars == [(0, BAR), (BAR, 2 * BAR), (2 * BAR, 3 * BAR), (3 * BAR, 4 * BAR)]
    # bar 2 has a note sounding over its last tick, bar 3 the same note's last tick
    assert R.silent_bars(song, song.tracks[0].notes, bars) == 0
    song = saved([line("Bass", [(48, 0, BAR), (43, 3 * BAR, 480)])])
    assert R.silent_bars(song, song.tracks[0].notes, bars) == 2


def test_crossings_count_beats_where_a_lower_part_sounds_above(R):
    sop = [(72, 0, 480), (71, 480, 480), (60, 960, 480), (72, 1440, 480)]
    alto = [(67, 0, 480), (67, 480, 480), (64, 960, 480), (67, 1440, 480)]
    bass = [(48, 0, 960), (62, 960, 480)]  # above the soprano on beat 3; silent on beat 4
    song = saved([line("Soprano", sop), line("Alto", alto), line("Bass", bass)])
    parts = [t.notes for t in song.tracks]
    assert R.crossings(parts, R.beats_between(song, 0, BAR)) == (1, 4)
    assert R.voice_order(["Bass", "Soprano", "Alto"], [[], [], []]) == [1, 2, 0]
    # unnamed parts: by the mean pitch of what was heard
    assert R.voice_order(["A", "B"], [[Note(40, 0, 1)], [Note(70, 0, 1)]]) == [1, 0]


def test_final_bass_degree(R):
    melody = [Note(67, 0, 480), Note(67, BAR, 960)]
    bass = [Note(43, 0, 480), Note(48, BAR - 240, 1200)]  # C under the last G
    tenor = [Note(55, BAR, 960)]
    low = R.final_bass(melody, [bass, tenor])
    assert low == 48 and R.bass_degree(low, tonic=0) == "tonic"
    # the bass moves under the held last note: the chord the piece ends on is read
    moving = [Note(43, 0, 480), Note(48, BAR - 240, 480), Note(44, BAR + 480, 480)]
    assert R.final_bass(melody, [moving, tenor]) == 44
    assert R.final_bass(melody, [[Note(43, 0, 480)]]) is None  # the others stopped
    assert R.bass_degree(43, tonic=0) == "fifth"
    assert R.bass_degree(45, tonic=0) == "other"
    assert R.bass_degree(None, tonic=0) == "silent"
    # G over C: a fifth above, a C major triad holds it; G over Bb: Bb is the third of
    # G minor; G over F#: a seventh
    assert [R.final_chord(67, b) for b in (48, 43, 46, 54, None)] == [
        "root_position", "root_position", "inversion", "dissonant", "silent"]


def test_channels_per_part_and_a_track_split_by_the_reader(R):
    two = line("Piano", [(60, 0, 480)], channel=0)
    two.notes.append(Note(64, 0, 480, 90, 1))  # the same track on channel 2
    song = saved([two, line("Bass", [(40, 0, 480)], channel=0),
                  line("Drums", [(36, 0, 120)], channel=9)])
    assert [t.name for t in song.tracks] == ["Piano (ch 1)", "Piano (ch 2)", "Bass", "Drums"]
    parts = R.parts_of(song)
    assert [(p.name, sorted(p.channels)) for p in parts] == [
        ("Piano", [0, 1]), ("Bass", [0]), ("Drums", [9])]
    assert R.channel_use(parts) == {"parts": 2, "channels": 2, "parts_sharing_a_channel": 2,
                                    "drums_on_10": True}


def test_onsets_per_bar_count_a_chord_once(R):
    notes = [Note(60, 0, 480), Note(64, 0, 480), Note(67, 960, 480), Note(60, BAR, 480)]
    assert R.onsets_per_bar(notes, [(0, BAR), (BAR, 2 * BAR)]) == 1.5
    # a strummed chord (a note every 20 ticks) is one onset within a 32nd (60 ticks),
    # sixteenths are not
    strum = [Note(60 + 4 * k, 20 * k, 480) for k in range(3)] + \
        [Note(72, 960 + 120 * k, 120) for k in range(4)]
    assert R.onsets_per_bar(strum, [(0, BAR)], together=PPQ // 8) == 5
    assert R.onsets_per_bar(strum, [(0, BAR)]) == 7


def test_read_output_of_a_continuation(bench):
    seed = saved([line("Melody", [(67, 0, 480), (69, 480, 480), (71, 960, 960),
                                  (67, 1920, 420)]),
                  line("Bass", [(43, 0, BAR), (48, BAR, BAR // 2)])])
    # new melody notes start a sixteenth early (off-sixteenths), one is held over the
    # bar line and two sound at once; the bass stops: bars 3-4 are whole-bar rests
    out = saved([line("Melody", [(67, 0, 480), (69, 480, 480), (71, 960, 960),
                                 (67, 1920, 420), (72, 2 * BAR - 120, 240),
                                 (74, 2 * BAR + 120, 480), (76, 2 * BAR + 120, 480),
                                 (74, 3 * BAR - 120, 600)]),
                 line("Bass", [(43, 0, BAR), (48, BAR, BAR // 2)])])
    r = bench.read_output(seed, out, harmonise=False, seed_end=2 * BAR, bars=2)
    c = r.c
    assert c["new_notes"] == 4
    assert c["pos_sixteenth"] == 4 and c["pos_beat"] == 0
    assert c["first_sixteenth"] == 1 and c["first_before_bar"] == 1
    assert c["tied"] == 2  # the first (over bar 3's line) and the last (over bar 4's)
    assert c["overlaps_mono"] == 2
    assert c["rest_bars"] == 2 and c["bars_checked"] == 4  # the bass, bars 3 and 4
    # 3 onsets (the two-note chord is one) over the 2 bars asked for, from where it starts
    assert r.parts[0]["onsets_per_bar_new"] == 1.5
    assert r.parts[0]["onsets_per_bar_seed"] == 2.0  # 4 onsets in 2 seed bars
    row = bench.row([r])
    assert row["on_sixteenth"] == 1.0 and row["whole_bar_rest_share"] == 0.5
    # a melody model writes one part: the silent bass does not count against it
    r = bench.read_output(seed, out, harmonise=False, seed_end=2 * BAR, bars=2,
                          every_part=False)
    assert r.c["rest_bars"] == 0 and r.c["bars_checked"] == 2


def test_read_output_of_a_harmonisation(bench):
    melody = [(67, 0, 960), (65, 960, 960), (64, BAR, BAR)]
    seed = saved([line("Soprano", melody)])
    out = saved([line("Soprano", melody, 0),
                 line("Alto", [(60, 0, 960), (60, 960, 960), (60, BAR, BAR)], 1),
                 line("Tenor", [(55, 0, 960), (57, 960, 960)], 1),  # silent in bar 2
                 line("Bass", [(48, 0, 960), (67, 960, 960), (48, BAR, BAR)], 3)])
    r = bench.read_output(seed, out, harmonise=True, seed_end=None, bars=None, tonic=0,
                          melody="Soprano")
    assert r.c["new_notes"] == 8
    assert r.c["rest_bars"] == 1 and r.c["bars_checked"] == 6
    # beats 3-4 of bar 1: the bass's G above the tenor, the alto and the soprano's F
    assert (r.c["crossed_beats"], r.c["beats_two_parts"]) == (2, 8)
    assert r.final_bass == "tonic"
    assert r.channels["parts_sharing_a_channel"] == 2  # alto and tenor on channel 2


def test_a_seed_written_with_its_end_at_the_bar_line(bench, tmp_path):
    song = saved([line("M", [(60, 0, 480), (62, 480, 300)])])
    path = tmp_path / "seed.mid"
    bench.write_seed(song, path, end_tick=BAR)
    mid = mido.MidiFile(path)
    assert sum(m.time for m in mid.tracks[0]) == BAR
    assert midi_file_to_song(path).tracks[0].notes == song.tracks[0].notes


def test_first_bars_end_skips_a_pickup(bench):
    pickup = saved([line("M", [(60, 0, 480), (62, 480, 4 * BAR)])],
                   signatures=((0, 1, 4), (480, 4, 4)))
    assert bench.first_bars_end(pickup, 2) == 480 + 2 * BAR
    plain = saved([line("M", [(60, 0, 5 * BAR)])])
    assert bench.first_bars_end(plain, 2) == 2 * BAR


def test_a_human_player_moves_onsets_25_ms_and_releases_early(bench):
    notes = [(60 + k % 12, k * 480, 480) for k in range(64)]
    song = saved([line("M", notes)], bpm=120.0)  # 25 ms = 24 ticks at 120 BPM, 480 ppq
    played = bench.humanised(song, np.random.default_rng(0))
    moves, held = [], []
    for a, b in zip(song.tracks[0].notes, played.tracks[0].notes):
        moves.append(b.start_tick - a.start_tick)
        held.append(b.duration_ticks / a.duration_ticks)
    assert max(map(abs, moves)) <= 24 and max(moves) > 12 and min(moves[1:]) < -12
    assert 0.6 <= min(held) and max(held) <= 1.0
    assert bench.humanised(song, np.random.default_rng(0)).tracks[0].notes == \
        played.tracks[0].notes
