"""Chord symbols (parser and printer), the song's chord track, reading and writing it
(MIDI markers, ABC quoted chords, MusicXML <harmony>), chord detection and
``main.py chords``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mido
import pytest

from engine.encodings.chords import (ChordSymbol, chord_at, chord_from_text, chord_track,
                                     detect_beat_chords, detect_chords, parse_chord)
from engine.errors import EncodingError, SongError
from engine.formats import load_song, midi_file_to_song, song_to_midi_bytes
from engine.song import Chord, Note, Song, TimeSignature, Track, melody_song
from tests.engine.builders import midi_bytes, off, on

ROOT = Path(__file__).resolve().parents[2]

# the symbols of the issue, and what they hold (pitch classes above C)
SYMBOLS = {
    "C": {0, 4, 7}, "Cm": {0, 3, 7}, "C7": {0, 4, 7, 10}, "Cmaj7": {0, 4, 7, 11},
    "Cm7": {0, 3, 7, 10}, "Cdim": {0, 3, 6}, "Cdim7": {0, 3, 6, 9},
    "Cm7b5": {0, 3, 6, 10}, "Caug": {0, 4, 8}, "Csus2": {0, 2, 7}, "Csus4": {0, 5, 7},
    "C6": {0, 4, 7, 9}, "C9": {0, 4, 7, 10, 2}, "C/E": {0, 4, 7},
}


@pytest.mark.parametrize("text", sorted(SYMBOLS))
def test_every_symbol_of_the_issue_reads_and_prints_back(text):
    chord = parse_chord(text)
    assert str(chord) == text
    assert chord.pitch_classes == SYMBOLS[text]
    assert parse_chord(str(chord)) == chord


@pytest.mark.parametrize("text,root,pcs", [
    ("Bbm7", "Bb", {10, 1, 5, 8}), ("F#m7b5", "F#", {6, 9, 0, 4}), ("Ebmaj7/G", "Eb", {3, 7, 10, 2}),
    ("Db", "Db", {1, 5, 8}), ("C#dim7", "C#", {1, 4, 7, 10}), ("Ab/C", "Ab", {8, 0, 3}),
    ("G♭", "Gb", {6, 10, 1}), ("Bb/D", "Bb", {10, 2, 5}),
])
def test_flats_and_sharps(text, root, pcs):
    chord = parse_chord(text)
    assert chord.root == root and chord.pitch_classes == pcs


def test_what_people_type_reads_as_the_canonical_symbol():
    for typed, canonical in [("Cmin7", "Cm7"), ("CM7", "Cmaj7"), ("C-7", "Cm7"),
                             ("Cø", "Cm7b5"), ("C°7", "Cdim7"), ("C+", "Caug"),
                             ("Csus", "Csus4"), ("C7(b9)", "C7(b9)"), ("C7b9", "C7(b9)"),
                             ("  Am  ", "Am")]:
        assert str(parse_chord(typed)) == canonical, typed
    assert parse_chord("C/E").bass == "E" and parse_chord("C/E").bass_pc == 4


@pytest.mark.parametrize("text,part", [
    ("H7", "'H'"), ("Cxyz", "'xyz'"), ("C/Q", "'Q'"), ("Am7%", "'%'"), ("", "empty"),
    ("7", "'7'"), ("C###", "'C###'"),
])
def test_a_symbol_it_cannot_read_names_the_part(text, part):
    with pytest.raises(EncodingError) as e:
        parse_chord(text)
    assert part in str(e.value)
    assert chord_from_text(text) is None


def test_the_families_analysts_count():
    families = {t: parse_chord(t).family for t in ("C", "Cm", "Cdim", "Caug", "C7", "Cmaj7",
                                                    "Cm7b5", "Cdim7")}
    assert families == {"C": "major", "Cm": "minor", "Cdim": "diminished",
                        "Caug": "augmented", "C7": "dominant seventh",
                        "Cmaj7": "other seventh", "Cm7b5": "other seventh",
                        "Cdim7": "other seventh"}
    with pytest.raises(EncodingError):
        ChordSymbol("C", "weird")


def test_a_symbol_transposes():
    assert str(parse_chord("C/E").transposed(3, flats=True)) == "Eb/G"
    assert str(parse_chord("Am7b5").transposed(1)) == "A#m7b5"


def test_a_key_struck_again_ends_the_note_before_it():
    # a sequencer re-strikes a string without a note-off: C E G ring on (as the reader
    # leaves them) while F A C are struck; the C-E-G notes struck again end the first
    ring = [Note(p, 0, 7680) for p in (48, 52, 55)] + [Note(p, 3840, 3840) for p in (48, 52, 55)]
    song = Song(tracks=[Track("Strings", notes=ring + [Note(p, 1920, 1920) for p in (53, 57, 60)])])
    assert [(d.bar, str(d.symbol)) for d in detect_chords(song)] == [(1, "C"), (2, "F"), (3, "C")]


# ---- the chord track in the song ------------------------------------------------------

def test_the_chord_track_is_part_of_the_song():
    song = melody_song([Note(60, 0, 480)])
    assert song.chords == []
    song.chords = [Chord(960, "G7"), Chord(0, "C")]
    twin = Song(ppq=song.ppq, tracks=song.tracks, tempo_map=song.tempo_map,
                time_signatures=song.time_signatures, chords=[Chord(960, "G7"), Chord(0, "C")])
    assert twin.chords == [Chord(0, "C"), Chord(960, "G7")]  # in time order
    copy = twin.copy()
    assert copy == twin and copy.chords is not twin.chords
    copy.chords.append(Chord(1920, "C"))
    assert copy != twin
    assert twin.rescaled(960).chords == [Chord(0, "C"), Chord(1920, "G7")]
    with pytest.raises(SongError):
        Chord(-1, "C")
    with pytest.raises(SongError):
        Chord(0, " ")


def test_chord_at_reads_the_track():
    chords = [Chord(0, "C"), Chord(960, "Am7")]
    assert chord_at(chords, 0) == parse_chord("C")
    assert str(chord_at(chords, 1000)) == "Am7"
    assert chord_at([Chord(480, "C")], 0) is None


# ---- MIDI -------------------------------------------------------------------------------

def _song_with_chords() -> Song:
    song = melody_song([Note(60, 0, 480), Note(64, 480, 480), Note(67, 960, 960)])
    song.chords = [Chord(0, "C"), Chord(960, "Am7"), Chord(1440, "Bb/D")]
    return song


def test_a_song_with_chords_survives_midi_save_and_open(tmp_path):
    song = _song_with_chords()
    back = midi_file_to_song(song_to_midi_bytes(song))
    assert back.chords == song.chords
    assert back.tracks[0].notes == song.tracks[0].notes
    # and again: the bytes are stable
    assert song_to_midi_bytes(back) == song_to_midi_bytes(song)


def test_a_song_without_chords_writes_no_marker():
    song = _song_with_chords()
    with_chords = song_to_midi_bytes(song)
    song.chords = []
    without = song_to_midi_bytes(song)
    assert b"\xff\x06" not in without and b"\xff\x06" in with_chords
    assert len(with_chords) > len(without)


def test_markers_and_text_events_that_are_chords_become_the_chord_track():
    data = midi_bytes([
        [mido.MetaMessage("marker", text="Dm7", time=0),
         mido.MetaMessage("marker", text="Verse", time=0),
         mido.MetaMessage("text", text="G7", time=960),
         mido.MetaMessage("text", text="Copyright 2024", time=0),
         mido.MetaMessage("marker", text="Cmaj7", time=960)],
        [on(62), off(62, 960), on(67), off(67, 960), on(60), off(60, 960)],
    ])
    song = midi_file_to_song(data)
    assert song.chords == [Chord(0, "Dm7"), Chord(960, "G7"), Chord(1920, "Cmaj7")]


# ---- scores ----------------------------------------------------------------------------

ABC = """X:1
T:Chords
M:4/4
L:1/4
K:C
"Am"A c e c|"Dm7"d f a f|"G7"G B d f|"C"c4|]
"""

MUSICXML = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 3.1 Partwise//EN"
  "http://www.musicxml.org/dtds/partwise.dtd">
<score-partwise version="3.1">
  <part-list><score-part id="P1"><part-name>Lead</part-name></score-part></part-list>
  <part id="P1">
    <measure number="1">
      <attributes><divisions>1</divisions><key><fifths>-1</fifths></key>
        <time><beats>4</beats><beat-type>4</beat-type></time>
        <clef><sign>G</sign><line>2</line></clef></attributes>
      <harmony><root><root-step>F</root-step></root><kind>major</kind></harmony>
      <note><pitch><step>F</step><octave>4</octave></pitch><duration>2</duration><type>half</type></note>
      <harmony><root><root-step>B</root-step><root-alter>-1</root-alter></root><kind>dominant</kind></harmony>
      <note><pitch><step>D</step><octave>5</octave></pitch><duration>2</duration><type>half</type></note>
    </measure>
    <measure number="2">
      <harmony><root><root-step>G</root-step></root><kind>minor-seventh</kind>
        <bass><bass-step>C</bass-step></bass></harmony>
      <note><pitch><step>G</step><octave>4</octave></pitch><duration>4</duration><type>whole</type></note>
    </measure>
  </part>
</score-partwise>
"""


def test_an_abc_tune_opens_with_its_quoted_chords(tmp_path):
    path = tmp_path / "chords.abc"
    path.write_text(ABC)
    song = load_song(path)
    assert [(c.tick, c.symbol) for c in song.chords] == [
        (0, "Am"), (1920, "Dm7"), (3840, "G7"), (5760, "C")]
    assert song.note_count == 13  # the symbols are not notes
    # and they survive MIDI
    assert midi_file_to_song(song_to_midi_bytes(song)).chords == song.chords


def test_a_musicxml_score_opens_with_its_harmony(tmp_path):
    path = tmp_path / "chords.musicxml"
    path.write_text(MUSICXML)
    song = load_song(path)
    assert [(c.tick, c.symbol) for c in song.chords] == [
        (0, "F"), (960, "Bb7"), (1920, "Gm7/C")]
    assert song.note_count == 3


# ---- detection ---------------------------------------------------------------------------

def _block_chords(bars: list[list[str]], ppq: int = 480, meter=(4, 4), pickup: int = 0,
                  drums: bool = True) -> Song:
    """Bars of chords played as a bass note and a close voicing, each chord an even
    share of its bar; drums on every beat."""
    per_bar = meter[0] * ppq * 4 // meter[1]
    bass, upper, kit = [], [], []
    t = pickup
    for bar in bars:
        length = per_bar // len(bar)
        for text in bar:
            chord = parse_chord(text)
            root = chord.bass_pc
            bass.append(Note(36 + root, t, length))
            for i in chord.intervals:
                upper.append(Note(60 + (chord.root_pc + i) % 12, t, length))
            t += length
        for b in range(meter[0]):
            kit.append(Note(42, t - per_bar + b * ppq, 120, channel=9))
    tracks = [Track("Piano", notes=sorted(upper, key=Note.sort_key)),
              Track("Bass", channel=1, program=33, notes=bass)]
    if drums:
        tracks.append(Track("Drums", channel=9, is_drum=True, notes=kit))
    sigs = [TimeSignature(0, *meter)]
    if pickup:
        sigs = [TimeSignature(0, pickup // ppq, 4), TimeSignature(pickup, *meter)]
    return Song(ppq=ppq, tracks=tracks, time_signatures=sigs)


def test_a_chord_a_bar_is_named_once_a_bar():
    song = _block_chords([["C"], ["Am"], ["F", "G7"], ["C"]])
    found = [(d.bar, d.beat, str(d.symbol)) for d in detect_chords(song)]
    assert found == [(1, 1, "C"), (2, 1, "Am"), (3, 1, "F"), (3, 3, "G7"), (4, 1, "C")]


def test_every_quality_detection_knows_is_found_on_the_beat():
    chords = ["Dm7", "G7", "Cmaj7", "Bm7b5", "E7", "Am", "C#dim7", "Dm", "Ebaug", "Bbdim"]
    song = _block_chords([chords[i:i + 4] for i in range(0, len(chords), 4)])
    found = [d.symbol for _, d in zip(chords, detect_chords(song))]
    assert [s.root_pc for s in found] == [parse_chord(c).root_pc for c in chords]
    assert [s.quality for s in found] == [parse_chord(c).quality for c in chords]


def test_the_bass_picks_the_root_of_an_ambiguous_chord():
    # C and E over A are A minor, over C they are C major: the bass decides
    song = Song(tracks=[Track("Upper", notes=[Note(p, 0, 1920) for p in (60, 64)]),
                        Track("Bass", channel=1, notes=[Note(33, 0, 1920)])])
    assert str(detect_chords(song)[0].symbol) == "Am"
    song.tracks[1].notes = [Note(36, 0, 1920)]
    assert str(detect_chords(song)[0].symbol) == "C"


def test_a_pickup_is_bar_zero_and_silence_before_the_music_is_no_chord():
    song = _block_chords([["C"], ["G7"], ["C"]], pickup=480, drums=False)
    song.tracks[0].notes = [Note(p, 0, 480) for p in (62, 67, 71)] + song.tracks[0].notes
    song.tracks[1].notes.insert(0, Note(43, 0, 480))
    found = detect_chords(song)
    assert (found[0].bar, found[0].beat) == (0, 4)
    assert [str(d.symbol) for d in found][:3] == ["G", "C", "G7"]
    late = Song(tracks=[Track("X", notes=[Note(60, 1920, 1920), Note(64, 1920, 1920),
                                          Note(67, 1920, 1920)])])
    beats = detect_beat_chords(late)
    assert all(symbol is None for tick, symbol in beats if tick < 1920)
    assert [(d.bar, str(d.symbol)) for d in detect_chords(late)] == [(2, "C")]


def test_roots_are_spelled_for_the_key():
    from engine.song import KeySignature

    def named(pitches, sharps, minor):
        song = Song(tracks=[Track("X", notes=[Note(p, 0, 1920) for p in pitches])],
                    key_signatures=[KeySignature(0, sharps, minor)])
        return str(detect_chords(song)[0].symbol)

    assert named((54, 57, 60), -2, True) == "F#dim"  # G minor's leading note
    assert named((54, 58, 61), -2, False) == "Gb"  # in B flat major
    assert named((51, 55, 58), 0, False) == "Eb"
    assert named((51, 54, 57), 4, False) == "D#dim"  # E major's leading note
    # with no key signature, the estimated key spells them
    song = Song(tracks=[Track("X", notes=[Note(p, i * 1920, 1920) for i, c in
                                          enumerate([(66, 70, 73), (71, 75, 78), (61, 65, 68)])
                                          for p in c])])
    assert [str(d.symbol) for d in detect_chords(song)] == ["F#", "B", "C#"]


def test_nothing_to_detect():
    assert detect_chords(Song()) == []
    drums = Song(tracks=[Track("Drums", channel=9, is_drum=True, notes=[Note(36, 0, 480)])])
    assert detect_chords(drums) == []
    # a chord track in a song with no other notes: nothing to detect, the track stays
    only = Song(chords=[Chord(0, "C")])
    assert detect_chords(only) == [] and only.chords == [Chord(0, "C")]
    assert midi_file_to_song(song_to_midi_bytes(only)).chords == [Chord(0, "C")]


def test_ten_thousand_chord_changes_are_named_and_kept():
    # how long it takes is bench/chords.py's and bench/pianoroll_paint.py's to say: a test
    # on a shared machine asserts what it finds, not how soon
    bars = [[c] for _, c in zip(range(10_000), ["C", "Am", "F", "G7"] * 2500)]
    song = _block_chords(bars, drums=False)
    found = detect_chords(song)
    song.chords = chord_track(found)
    back = midi_file_to_song(song_to_midi_bytes(song))
    assert len(found) == 10_000 and back.chords == song.chords


def test_a_hostile_song_is_refused_with_a_sentence_not_hours():
    from engine.errors import LimitError

    with pytest.raises(LimitError, match="too long to name its chords"):
        detect_chords(Song(tracks=[Track("X", notes=[Note(60, 0, 2**31 - 10)])]))
    drones = [Note(i % 128, i * 480, 480 * 100, channel=i // 128 % 16)
              for i in range(60_000)]
    with pytest.raises(LimitError, match="too many or too long"):  # counted before any work
        detect_chords(Song(tracks=[Track("X", notes=drones)]))


def test_detection_agrees_with_an_analysed_bach_chorale():
    """One of music21's human analyses (bench/chords.py measures all of them)."""
    pytest.importorskip("music21")
    sys.path.insert(0, str(ROOT))
    from bench import chords as bench

    name, analysis, where = bench.analysis_pairs("bach chorales")[3]
    song = bench.load_score(where)
    beats, agree, roots = bench.compare(song, bench.analysed_chords(analysis, song))
    assert beats > 30
    assert agree / beats >= 0.8 and roots / beats >= 0.9, (name, beats, agree, roots)


# ---- main.py chords ----------------------------------------------------------------------

def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)


def test_main_chords_prints_bars_and_json(tmp_path):
    path = tmp_path / "song.mid"
    path.write_bytes(song_to_midi_bytes(_block_chords([["C"], ["Am"], ["F", "G7"], ["C"]])))
    done = run("chords", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["bar   1: C", "bar   2: Am", "bar   3: F  G7@3",
                                        "bar   4: C"]
    done = run("chords", str(path), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        {"bar": 1, "beat": 1, "symbol": "C"}, {"bar": 2, "beat": 1, "symbol": "Am"},
        {"bar": 3, "beat": 1, "symbol": "F"}, {"bar": 3, "beat": 3, "symbol": "G7"},
        {"bar": 4, "beat": 1, "symbol": "C"}]


def test_main_chords_reads_the_files_own_track_and_says_what_is_wrong(tmp_path):
    path = tmp_path / "tune.abc"
    path.write_text(ABC)
    done = run("chords", str(path), "--track-chords", "--json")
    assert done.returncode == 0, done.stderr
    assert [r["symbol"] for r in json.loads(done.stdout)] == ["Am", "Dm7", "G7", "C"]
    done = run("chords", str(tmp_path / "missing.mid"))
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "missing.mid" in done.stderr and "no such file" in done.stderr


# a chord of every kind the MusicXML export writes, extensions and slash basses included
EXPORTED = ["C", "Am7", "Bb/D", "F#m7b5", "Ebmaj7", "G7(b9)", "Cadd9", "Dsus4", "Edim7",
            "Caug", "C6", "Cm6", "C9", "Dm9", "F13", "Gsus2", "Bbmmaj7", "A7sus4", "C#m",
            "Gb7(#11)", "C7(b5)", "Cm11", "Abmaj9", "C13", "G/B"]


@pytest.mark.parametrize("suffix", [".musicxml", ".mxl"])
def test_the_chord_track_survives_musicxml_export_and_open(tmp_path, suffix):
    from engine.formats.export import export_song

    chords = [Chord(i * 960, s) for i, s in enumerate(EXPORTED)]
    chords.append(Chord(len(EXPORTED) * 960 + 480, "D7"))  # mid-bar, in the last bar
    notes = [Note(60 + i % 12, i * 480, 480) for i in range(2 * len(EXPORTED) + 2)]
    song = Song(tracks=[Track("Melody", notes=notes), Track("Bass", notes=[Note(40, 0, 960)])],
                chords=chords)
    path = tmp_path / f"chords{suffix}"
    export_song(song, path)
    back = load_song(path)
    assert [(c.tick, c.symbol) for c in back.chords] == [(c.tick, c.symbol) for c in chords]
    assert len(back.tracks) == 2  # the harmony is the first part's, never a part of its own


def test_the_chord_track_survives_abc_export_and_open(tmp_path):
    """ABC writes the chord track as quoted chords where each chord starts: on a note,
    inside a held note (split and tied there) and inside a rest; the tune reopens with
    the same chords and the same notes (the seed's melody)."""
    from engine.formats.export import export_song

    song = midi_file_to_song(ROOT / "assets" / "default_seed.mid")
    melody = song.tracks[0].notes
    chords = [Chord(i * 960 + (240 if i % 3 == 1 else 0), s) for i, s in enumerate(EXPORTED)
              if i * 960 < max(n.end_tick for n in melody)]
    song = Song(ppq=song.ppq, tracks=[Track("Melody", notes=list(melody))],
                time_signatures=song.time_signatures, key_signatures=song.key_signatures,
                tempo_map=song.tempo_map, chords=chords)
    path = tmp_path / "chords.abc"
    export_song(song, path)
    text = path.read_text()
    assert '"Am7"' in text and '"G7(b9)"' in text
    back = load_song(path)
    scale = back.ppq / song.ppq
    assert [(c.tick, c.symbol) for c in back.chords] == \
        [(round(c.tick * scale), c.symbol) for c in chords]
    # the same notes (a split note tied back into one); notation rounds their ends
    assert [(n.pitch, n.start_tick) for n in back.tracks[0].notes] == \
        [(n.pitch, round(n.start_tick * scale)) for n in melody]


def test_a_chord_struck_a_little_early_or_late_belongs_to_its_beat():
    """A played or humanised file strikes a bar's chord a few ticks around the beat:
    the notes count for the beat they are heard on, so each bar is its one chord."""
    late = [0, 12, -10, 25]  # ticks from the beat, per bar
    charts = [(60, 64, 67), (57, 60, 64), (53, 57, 60), (55, 59, 62, 65)]
    notes = []
    for bar, (tones, shift) in enumerate(zip(charts, late)):
        for beat in range(4):
            start = max(bar * 1920 + beat * 480 + shift, 0)
            notes += [Note(p, start, 470) for p in tones]
        notes.append(Note(tones[0] - 24, max(bar * 1920 + shift, 0), 1900))
    song = Song(tracks=[Track("Band", notes=notes)])
    assert [str(d.symbol) for d in detect_chords(song)] == ["C", "Am", "F", "G7"]
