"""MIDI reading and writing, on files built in memory."""

from __future__ import annotations

import io
import struct

import mido
import pytest
from hypothesis import given, settings, strategies as st

from engine.errors import ContinuoError, MidiFileError
from engine.formats import midi_file_to_song, song_to_midi_bytes, song_to_midi_file
from engine.song import KeySignature, Note, Song, TempoChange, TempoMap, TimeSignature, Track
from tests.engine.builders import make_track, midi_bytes, off, on


def tuples(song):
    return sorted((n.pitch, n.start_tick, n.duration_ticks, n.velocity, n.channel)
                  for n in song.notes())


def test_type0_with_several_channels_splits_into_tracks():
    data = midi_bytes([[
        mido.MetaMessage("track_name", name="Piano", time=0),
        mido.Message("program_change", program=5, channel=0),
        on(60), on(36, channel=9), off(60, 480), off(36, 0, channel=9),
    ]], type_=0)
    song = midi_file_to_song(data)
    assert tuples(song) == [(36, 0, 480, 100, 9), (60, 0, 480, 100, 0)]
    drums = [t for t in song.tracks if t.is_drum]
    assert len(drums) == 1 and drums[0].channel == 9
    piano = [t for t in song.tracks if not t.is_drum][0]
    assert piano.program == 5 and piano.name.startswith("Piano")


def test_velocity_zero_note_on_is_a_note_off():
    data = midi_bytes([[on(64, 0, 90), off(64, 240, as_zero_velocity=True)]])
    assert tuples(midi_file_to_song(data)) == [(64, 0, 240, 90, 0)]


def test_running_status_is_read():
    # note_on 60, then note_on 62 and the offs with the status byte left out
    events = bytes([0x00, 0x90, 60, 100,  # delta 0, note on 60
                    0x00, 62, 100,        # running status: note on 62
                    0x83, 0x60, 60, 0,    # delta 480: note on 60 vel 0
                    0x00, 62, 0,          # running status: note on 62 vel 0
                    0x00, 0xFF, 0x2F, 0x00])
    data = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(events)) + events
    assert tuples(midi_file_to_song(data)) == [(60, 0, 480, 100, 0), (62, 0, 480, 100, 0)]


def test_overlapping_notes_of_one_pitch_pair_first_in_first_out():
    data = midi_bytes([[on(60, 0), on(60, 240), off(60, 240), off(60, 240)]])
    assert tuples(midi_file_to_song(data)) == [(60, 0, 480, 100, 0), (60, 240, 480, 100, 0)]


def test_note_open_at_track_end_stops_there():
    data = midi_bytes([[on(60, 0), on(67, 480), mido.MetaMessage("end_of_track", time=480)]])
    assert tuples(midi_file_to_song(data)) == [(60, 0, 960, 100, 0), (67, 480, 480, 100, 0)]


def test_zero_length_note_becomes_one_tick():
    data = midi_bytes([[on(60, 0), off(60, 0)]])
    assert tuples(midi_file_to_song(data)) == [(60, 0, 1, 100, 0)]


def test_tempo_changes_and_time_signatures_in_any_track_and_any_ppq():
    data = midi_bytes([
        [mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0),
         mido.MetaMessage("set_tempo", tempo=600_000, time=0),
         mido.MetaMessage("set_tempo", tempo=400_000, time=288)],
        [on(60, 0), off(60, 96), mido.MetaMessage("time_signature", numerator=6,
                                                   denominator=8, time=192)],
        [],  # an empty track
    ], ppq=96)
    song = midi_file_to_song(data)
    assert song.ppq == 96
    assert song.tempo_map.changes == [TempoChange(0, 600_000), TempoChange(288, 400_000)]
    assert song.time_signatures == [TimeSignature(0, 3, 4), TimeSignature(288, 6, 8)]
    assert song.tempo_map.tick_to_seconds(288) == pytest.approx(1.8)
    assert song.tempo_map.tick_to_seconds(384) == pytest.approx(1.8 + 0.4)


def test_written_file_is_type1_with_conductor_names_and_programs(tmp_path):
    song = Song(ppq=240, tracks=[Track("Lead", 2, 73, notes=[Note(72, 0, 240, 80, 2)]),
                                 Track("Kit", 9, 0, True, [Note(38, 240, 60, 110, 9)])],
                tempo_map=TempoMap(240, [TempoChange(0, 400_000), TempoChange(480, 500_000)]),
                time_signatures=[TimeSignature(0, 3, 4)])
    path = tmp_path / "out.mid"
    song_to_midi_file(song, path)
    mid = mido.MidiFile(path)
    assert mid.type == 1 and mid.ticks_per_beat == 240 and len(mid.tracks) == 3
    metas = [m.type for m in mid.tracks[0]]
    assert metas.count("set_tempo") == 2 and "time_signature" in metas
    names = [m.name for t in mid.tracks[1:] for m in t if m.type == "track_name"]
    assert names == ["Lead", "Kit"]
    programs = [(m.channel, m.program) for t in mid.tracks for m in t if m.type == "program_change"]
    assert programs == [(2, 73), (9, 0)]
    again = midi_file_to_song(path)
    assert tuples(again) == tuples(song) and again.tempo_map == song.tempo_map


def test_repeated_note_is_not_cut_by_its_own_restart():
    song = Song(tracks=[make_track([(60, 0, 480), (60, 480, 480)])])
    assert tuples(midi_file_to_song(song_to_midi_bytes(song))) == tuples(song)


@pytest.mark.parametrize("data, words", [
    (b"", "too short"),
    (b"RIFF" + b"\0" * 20, "RIFF"),
    (b"hello, this is text, not music", "not a MIDI file"),
    (b"MThd" + struct.pack(">IHHH", 6, 1, 1, 480) + b"MTrk" + struct.pack(">I", 100) + b"\x00\x90",
     "ends in the middle"),
    (b"MThd" + struct.pack(">IHHH", 6, 2, 1, 480) + b"MTrk" + struct.pack(">I", 4) + b"\x00\xff\x2f\x00",
     "type 2"),
    (b"MThd" + struct.pack(">IHHh", 6, 0, 1, -7936) + b"MTrk" + struct.pack(">I", 4) + b"\x00\xff\x2f\x00",
     "SMPTE"),
])
def test_bad_files_raise_a_clear_error_naming_the_file(tmp_path, data, words):
    path = tmp_path / "bad.mid"
    path.write_bytes(data)
    with pytest.raises(MidiFileError) as info:
        midi_file_to_song(path)
    assert "bad.mid" in str(info.value) and words in str(info.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(MidiFileError, match="nope.mid: there is no such file"):
        midi_file_to_song(tmp_path / "nope.mid")
    with pytest.raises(ContinuoError, match="folder"):
        midi_file_to_song(tmp_path)


# ---- property: random song -> MIDI -> song is the identity ------------------------------

def _note(channel: int):
    return st.builds(Note, pitch=st.integers(0, 127), start_tick=st.integers(0, 20_000),
                     duration_ticks=st.integers(1, 4_000), velocity=st.integers(1, 127),
                     channel=st.just(channel))


@st.composite
def songs(draw):
    ppq = draw(st.sampled_from([24, 96, 120, 384, 480, 960, 1001]))
    tracks = []
    used = draw(st.lists(st.integers(0, 15), min_size=0, max_size=4, unique=True))
    for ch in used:
        notes = draw(st.lists(_note(ch), max_size=25))
        # one voice per pitch: overlapping notes of one pitch are ambiguous in MIDI itself
        by_pitch: dict[int, list[Note]] = {}
        kept = []
        for n in sorted(notes, key=Note.sort_key):
            last = by_pitch.get(n.pitch)
            if last and n.start_tick < last[-1].end_tick:
                continue
            by_pitch.setdefault(n.pitch, []).append(n)
            kept.append(n)
        tracks.append(Track(f"T{ch}", ch, draw(st.integers(0, 127)), ch == 9, kept))
    tempos = draw(st.lists(st.builds(TempoChange, st.integers(0, 30_000),
                                     st.integers(200_000, 2_000_000)), max_size=4))
    sigs = draw(st.lists(st.builds(TimeSignature, st.integers(0, 30_000), st.integers(1, 13),
                                   st.sampled_from([2, 4, 8, 16])), max_size=3))
    keys = draw(st.lists(st.builds(KeySignature, st.integers(0, 30_000), st.integers(-7, 7),
                                   st.booleans()), max_size=3))
    return Song(ppq=ppq, tracks=tracks, tempo_map=TempoMap(ppq, tempos), time_signatures=sigs,
                key_signatures=keys)


@settings(max_examples=150, deadline=None)
@given(songs())
def test_song_midi_song_is_identity(song):
    again = midi_file_to_song(song_to_midi_bytes(song))
    assert again.ppq == song.ppq
    assert tuples(again) == tuples(song)
    assert again.tempo_map == song.tempo_map
    assert again.time_signatures == song.time_signatures
    assert again.key_signatures == song.key_signatures
    assert [(t.channel, t.program, t.is_drum, t.name) for t in again.tracks] == \
        [(t.channel, t.program, t.is_drum, t.name) for t in song.tracks]


@settings(max_examples=150, deadline=None)
@given(songs())
def test_the_writer_encodes_as_mido_does(song):
    """Our direct encoder against mido's writer: mido reads our bytes and writes them
    again (running status, meta events, end of track) byte for byte."""
    import io

    data = song_to_midi_bytes(song)
    again = io.BytesIO()
    mido.MidiFile(file=io.BytesIO(data)).save(file=again)
    assert again.getvalue() == data


def test_a_track_name_outside_latin1_is_written_with_question_marks():
    song = Song(tracks=[Track("Ωmega Ärger", 0, 0, False, [Note(60, 0, 480)])])
    assert midi_file_to_song(song_to_midi_bytes(song)).tracks[0].name == "?mega Ärger"


def test_key_signatures_are_read_and_written_back():
    """A file's key signatures (F# minor, then A major in the second bar, in a note
    track as some programs write them) are kept, and saved again where they were."""
    data = midi_bytes([
        [mido.MetaMessage("key_signature", key="F#m", time=0),
         on(66), off(66, 480), mido.MetaMessage("key_signature", key="A", time=1440),
         on(69), off(69, 480)],
    ])
    song = midi_file_to_song(data)
    assert song.key_signatures == [KeySignature(0, 3, True), KeySignature(1920, 3, False)]
    assert [str(k) for k in song.key_signatures] == ["F# minor", "A major"]
    saved = mido.MidiFile(file=io.BytesIO(song_to_midi_bytes(song)))
    keys, tick = [], 0
    for msg in saved.tracks[0]:
        tick += msg.time
        if msg.type == "key_signature":
            keys.append((tick, msg.key))
    assert keys == [(0, "F#m"), (1920, "A")]
    assert midi_file_to_song(song_to_midi_bytes(song)).key_signatures == song.key_signatures


def test_a_pickup_is_written_as_a_short_first_bar_and_read_back():
    song = Song(tracks=[make_track([(67, 0, 480), (72, 480, 1920)])],
                time_signatures=[TimeSignature(0, 1, 4), TimeSignature(480, 4, 4)])
    saved = mido.MidiFile(file=io.BytesIO(song_to_midi_bytes(song)))
    sigs, tick = [], 0
    for msg in saved.tracks[0]:
        tick += msg.time
        if msg.type == "time_signature":
            sigs.append((tick, msg.numerator, msg.denominator))
    assert sigs == [(0, 1, 4), (480, 4, 4)]
    again = midi_file_to_song(song_to_midi_bytes(song))
    assert again.pickup_ticks == 480 and again.bar_beat_at(0) == (0, 4, 0)
    assert again.bar_beat_at(480) == (1, 1, 0)
