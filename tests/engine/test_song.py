"""The note model: validation, tempo maps, bars and beats."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from engine.errors import SongError
from engine.song import (KeySignature, Note, Song, TempoChange, TempoMap, TimeSignature,
                         Track, grid_lines, melody_song, melody_track, pickup_signatures)


@pytest.mark.parametrize("kwargs", [
    dict(pitch=128, start_tick=0, duration_ticks=1), dict(pitch=-1, start_tick=0, duration_ticks=1),
    dict(pitch=60, start_tick=-1, duration_ticks=1), dict(pitch=60, start_tick=0, duration_ticks=0),
    dict(pitch=60, start_tick=0, duration_ticks=1, velocity=0),
    dict(pitch=60, start_tick=0, duration_ticks=1, velocity=128),
    dict(pitch=60, start_tick=0, duration_ticks=1, channel=16),
])
def test_invalid_notes_are_refused(kwargs):
    with pytest.raises(SongError):
        Note(**kwargs)


def test_notes_are_immutable():
    n = Note(60, 0, 480)
    with pytest.raises(AttributeError):
        n.pitch = 61  # type: ignore[misc]
    assert n.moved(480, 2) == Note(62, 480, 480)


def test_tempo_map_through_changes():
    tm = TempoMap(480, [TempoChange(0, 500_000), TempoChange(960, 1_000_000)])
    assert tm.tick_to_seconds(960) == pytest.approx(1.0)
    assert tm.tick_to_seconds(1440) == pytest.approx(2.0)
    assert tm.seconds_to_tick(2.0) == pytest.approx(1440)
    assert tm.bpm_at(1000) == pytest.approx(60)
    assert TempoMap(480).bpm_at(0) == 120


@given(st.lists(st.builds(TempoChange, st.integers(0, 10_000), st.integers(100_000, 3_000_000)),
                max_size=6), st.integers(0, 50_000))
def test_tick_seconds_round_trip(changes, tick):
    tm = TempoMap(480, changes)
    assert tm.seconds_to_tick(tm.tick_to_seconds(tick)) == pytest.approx(tick, abs=1e-6)


def test_bars_and_beats_through_meter_changes():
    song = Song(ppq=480, time_signatures=[TimeSignature(0, 4, 4), TimeSignature(3840, 3, 4)])
    assert song.bar_beat_at(0) == (1, 1, 0)
    assert song.bar_beat_at(1920 + 480 + 10) == (2, 2, 10)
    assert song.bar_beat_at(3840) == (3, 1, 0)
    assert song.bar_beat_at(3840 + 1440) == (4, 1, 0)
    assert song.bar_starts(3840 + 1440) == [0, 1920, 3840, 5280]
    assert TimeSignature(0, 6, 8).ticks_per_bar(480) == 1440


def test_bad_time_signature_and_ppq():
    with pytest.raises(SongError):
        TimeSignature(0, 3, 3)
    with pytest.raises(SongError):
        Song(ppq=0)


def test_rescale_keeps_musical_positions():
    song = melody_song([Note(60, 480, 240), Note(62, 720, 240)], ppq=480)
    small = song.rescaled(96)
    assert [(n.start_tick, n.duration_ticks) for n in small.notes()] == [(96, 48), (144, 48)]
    assert small.tempo_map.ppq == 96 and song.copy().tracks[0].notes == song.tracks[0].notes


def test_grid_lines_in_4_4():
    lines = grid_lines([TimeSignature(0, 4, 4)], 480, 0, 1920, step=240)
    kinds = {ln.tick: ln.kind for ln in lines}
    assert kinds[0] == "bar" and kinds[1920] == "bar"
    assert kinds[480] == "beat" and kinds[240] == "step"
    assert [ln.bar for ln in lines if ln.kind == "bar"] == [1, 2]


def test_grid_lines_follow_a_meter_change_like_the_song_does():
    sigs = [TimeSignature(0, 4, 4), TimeSignature(3840, 3, 4), TimeSignature(7200, 6, 8)]
    song = Song(time_signatures=sigs)
    bars = [ln for ln in grid_lines(sigs, 480, 0, 20_000) if ln.kind == "bar"]
    assert [ln.tick for ln in bars] == song.bar_starts(20_000)
    for ln in bars:
        assert song.bar_beat_at(ln.tick) == (ln.bar, 1, 0)
    # a window in the middle numbers its bars the same way
    window = [ln for ln in grid_lines(sigs, 480, 5000, 9000) if ln.kind == "bar"]
    assert window == [ln for ln in bars if 5000 <= ln.tick <= 9000]


# ---------------------------------------------------------------------------------------
# melody_track: the track a melody model continues (and the Open dialog preselects)
# ---------------------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[2]
EXTERNAL = Path(__file__).resolve().parents[1] / "data" / "external"
SMILE = EXTERNAL / "mma--usr_share_doc_mma_examples_harmony_smile.mid"


def test_a_band_files_melody_is_its_solo_not_its_chords_or_drums():
    from engine.formats import midi_file_to_song

    song = midi_file_to_song(SMILE)  # Bass, Drum, Solo (in two-part harmony), Chord
    assert song.tracks[melody_track(song)].name == "Solo"


def test_chords_are_passed_over_and_drums_are_never_a_melody():
    chords = Track("Chords", notes=[Note(p, i * 480 + k * 5, 470) for i in range(16)
                                    for k, p in enumerate((60, 64, 67))])
    tune = Track("Tune", notes=[Note(67 + i % 5, i * 480, 480) for i in range(8)])
    drums = Track("Drums", 9, is_drum=True, notes=[Note(81, i * 120, 60, 100, 9)
                                                    for i in range(64)])
    song = Song(tracks=[chords, drums, tune])
    assert melody_track(song) == 2
    assert melody_track(Song(tracks=[chords, drums])) == 0  # chords only: still a choice
    assert melody_track(Song(tracks=[drums])) is None
    assert melody_track(Song(tracks=[Track("Empty")])) is None


def test_a_bass_under_a_tune_and_a_line_that_plays_now_and_then_are_not_the_melody():
    bass = Track("Bass", notes=[Note(36, i * 480, 480) for i in range(16)])
    tune = Track("Tune", notes=[Note(72, i * 240, 240) for i in range(24)])
    fills = Track("Fills", notes=[Note(90, 7680, 240)])  # high, but one note
    assert melody_track(Song(tracks=[bass, fills, tune])) == 2


def test_a_file_with_one_pitched_track_keeps_it_whatever_its_texture():
    """training/corpus.py reads a folder's MIDI files through melody_track: a tune on
    one track (beside drums or empty tracks) gives the same track as before."""
    from engine.formats import midi_file_to_song

    seen = 0
    for path in sorted(EXTERNAL.glob("*.mid")) + [ROOT / "assets" / "default_seed.mid"]:
        song = midi_file_to_song(path)
        pitched = [i for i, t in enumerate(song.tracks) if t.notes and not t.is_drum]
        if len(pitched) == 1:
            seen += 1
            assert melody_track(song) == pitched[0], path.name
    assert seen >= 5


# ---- pickups -----------------------------------------------------------------------------

def test_a_one_beat_pickup_is_bar_0_beat_4_and_the_bars_follow_it():
    sigs = pickup_signatures(480, TimeSignature(0, 4, 4), 480)
    assert sigs == [TimeSignature(0, 1, 4), TimeSignature(480, 4, 4)]
    song = Song(time_signatures=sigs)
    assert song.pickup_ticks == 480 and song.first_bar_number == 0
    assert song.bar_starts(4320) == [0, 480, 2400, 4320]
    assert [song.bar_beat_at(t) for t in (0, 240, 480, 1440, 2400)] == \
        [(0, 4, 0), (0, 4, 240), (1, 1, 0), (1, 3, 0), (2, 1, 0)]
    assert [song.bar_start_tick(b) for b in (0, 1, 2, 10)] == [0, 480, 2400, 480 + 9 * 1920]
    with pytest.raises(SongError, match="bar -1 is before the song's first bar, 0"):
        song.bar_start_tick(-1)
    # a bar's length is the metre's: the pickup belongs to the 4/4 bar it completes
    assert song.meter_at(0) == TimeSignature(480, 4, 4) and song.ticks_per_bar_at(0) == 1920
    assert song.time_signature_at(0) == TimeSignature(0, 1, 4)


def test_the_ruler_numbers_a_pickup_0_and_counts_its_beats_back_from_the_bar_line():
    """A dotted-quarter pickup in 4/4 (3/8 then 4/4): the beat line inside it falls
    where beat 4 of the full bar would, not a quarter after the pickup starts."""
    sigs = pickup_signatures(720, TimeSignature(0, 4, 4), 480)
    assert sigs == [TimeSignature(0, 3, 8), TimeSignature(720, 4, 4)]
    lines = grid_lines(sigs, 480, 0, 2640)
    assert [(line.tick, line.kind, line.bar) for line in lines] == [
        (0, "bar", 0), (240, "beat", 0), (720, "bar", 1), (1200, "beat", 1),
        (1680, "beat", 1), (2160, "beat", 1), (2640, "bar", 2)]
    assert Song(time_signatures=sigs).bar_beat_at(0) == (0, 3, 240)
    # from the middle of the song the numbers agree with the song's
    assert [(line.tick, line.bar) for line in grid_lines(sigs, 480, 5000, 7000)
            if line.kind == "bar"] == [(6480, 4)]
    assert Song(time_signatures=sigs).bar_beat_at(6480) == (4, 1, 0)


@pytest.mark.parametrize("sigs", [
    [TimeSignature(0, 4, 4)],
    [TimeSignature(0, 4, 4), TimeSignature(1920, 3, 4)],  # a full bar, then a new metre
    [TimeSignature(0, 2, 4), TimeSignature(1920, 4, 4)],  # two bars of 2/4
    [TimeSignature(0, 6, 8), TimeSignature(1440, 3, 8)],  # a shorter bar follows
])
def test_a_song_without_a_pickup_counts_bars_from_1(sigs):
    song = Song(time_signatures=sigs)
    assert song.pickup_ticks == 0 and song.first_bar_number == 1
    assert song.bar_beat_at(0) == (1, 1, 0)
    assert grid_lines(sigs, 480, 0, 0)[0].bar == 1


def test_a_pickup_no_time_signature_can_spell_is_left_out():
    assert pickup_signatures(160, TimeSignature(0, 4, 4), 480) == [TimeSignature(0, 4, 4)]
    assert pickup_signatures(0, TimeSignature(0, 3, 4), 480) == [TimeSignature(0, 3, 4)]
    assert pickup_signatures(120, TimeSignature(0, 6, 8), 480) == \
        [TimeSignature(0, 1, 16), TimeSignature(120, 6, 8)]


# ---- key signatures -----------------------------------------------------------------------

def test_key_signatures_are_checked_named_and_kept_by_copies():
    with pytest.raises(SongError, match="8 sharps"):
        KeySignature(0, 8)
    with pytest.raises(SongError, match="before the song"):
        KeySignature(-1, 0)
    assert [str(KeySignature(0, s, m)) for s, m in [(-7, False), (-2, True), (3, True),
                                                    (7, True), (0, False)]] == \
        ["Cb major", "G minor", "F# minor", "A# minor", "C major"]
    song = Song(key_signatures=[KeySignature(960, 1), KeySignature(0, 3, True),
                                KeySignature(960, 2)])
    assert song.key_signatures == [KeySignature(0, 3, True), KeySignature(960, 2)]
    assert song.copy().key_signatures == song.key_signatures
    assert song.rescaled(96).key_signatures == [KeySignature(0, 3, True), KeySignature(192, 2)]
