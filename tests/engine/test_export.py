"""Handing the music on (engine/formats/export.py, ``main.py convert``): MusicXML that
music21 and Continuo read back with the same notes, ABC that gives the same melody,
MIDI type 0 and one file per track, and WAV stems that add up to the whole song."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import wave
import zlib
from fractions import Fraction
from pathlib import Path

import mido
import numpy as np
import pytest

from engine.formats import load_song
from engine.formats.export import (export_song, notated_notes, song_to_abc,
                                   song_to_midi0_bytes, write_abc, write_musicxml)
from engine.resources import default_seed
from engine.song import KeySignature, Note, Song, TimeSignature, Track

REPO = Path(__file__).resolve().parents[2]


def _corpus() -> Path:
    import music21

    return Path(music21.__file__).parent / "corpus"


def _test_split(ids: list[str]) -> list[str]:
    """The models' test split (models/README.md): crc32 of the id mod 20 is 0."""
    return [i for i in ids if zlib.crc32(i.encode("utf-8")) % 20 == 0]


TEST_CHORALES = _test_split(sorted(p.relative_to(_corpus()).as_posix()
                                   for p in (_corpus() / "bach").glob("*.mxl")))


def _music21_notes(path: Path) -> list[tuple[int, int, Fraction, Fraction]]:
    """(part, MIDI pitch, start, length) in quarter notes, ties joined, as music21 reads
    the file."""
    import music21

    score = music21.converter.parse(str(path), forceSource=True).stripTies()
    out = []
    for index, part in enumerate(score.parts):
        for element in part.flatten().notes:
            start = Fraction(element.getOffsetInHierarchy(part))
            for pitch in element.pitches:
                out.append((index, pitch.midi, start, Fraction(element.quarterLength)))
    return sorted(set(out))


def _continuo_notes(song: Song) -> list[tuple[int, int, Fraction, Fraction]]:
    return sorted({(i, n.pitch, Fraction(n.start_tick, song.ppq),
                    Fraction(n.duration_ticks, song.ppq))
                   for i, t in enumerate(song.tracks) for n in t.notes})


def _round_trip(song: Song, path: Path) -> Song:
    """Write ``song`` as MusicXML; check music21's and Continuo's readings note for
    note against what the score should show; return Continuo's reading."""
    write_musicxml(song, path)
    expected = notated_notes(song)
    assert _music21_notes(path) == expected
    back = load_song(path)
    assert _continuo_notes(back) == expected
    assert [t.name for t in back.tracks] == [t.name for t in song.tracks]
    return back


# ---- MusicXML ------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".musicxml", ".mxl"])
def test_the_default_seed_round_trips_through_musicxml(tmp_path, suffix):
    import music21

    song = load_song(default_seed())
    path = tmp_path / f"seed{suffix}"
    back = _round_trip(song, path)
    # the written values: a quarter played 7/8 long is a quarter in the score
    assert (0, 67, Fraction(0), Fraction(1)) in notated_notes(song)
    score = music21.converter.parse(str(path))
    assert [p.partName for p in score.parts] == ["Melody", "Bass"]
    assert [str(k) for k in score.recurse().getElementsByClass("Key")][:1] == ["G major"]
    assert {ts.ratioString for ts in score.recurse().getElementsByClass("TimeSignature")} \
        == {"4/4"}
    marks = list(score.recurse().getElementsByClass("MetronomeMark"))
    assert marks and round(marks[0].number) == round(song.tempo_map.changes[0].bpm)
    assert back.key_signatures[0] == KeySignature(0, 1, False)


def test_notes_across_bar_lines_are_tied_and_overlaps_become_voices(tmp_path):
    import music21

    song = Song(ppq=480, time_signatures=[TimeSignature(0, 3, 4)], tracks=[
        Track("Piano", notes=[Note(60, 960, 960),  # from beat 3 over the bar line
                              Note(64, 0, 480), Note(67, 0, 480),  # a chord
                              Note(72, 0, 1440), Note(76, 480, 480)])])  # overlapping
    path = tmp_path / "tied.musicxml"
    _round_trip(song, path)
    score = music21.converter.parse(str(path))
    ties = [n.tie.type for n in score.recurse().notes if n.tie is not None]
    assert ties == ["start", "stop"]
    assert any(m.voices for m in score.recurse().getElementsByClass("Measure"))


@pytest.mark.slow
@pytest.mark.parametrize("chorale", TEST_CHORALES)
def test_every_test_chorale_round_trips_with_its_parts_pickup_and_key(tmp_path, chorale):
    song = load_song(_corpus() / chorale)
    assert len(song.tracks) >= 4
    back = _round_trip(song, tmp_path / (Path(chorale).stem + ".mxl"))
    assert back.pickup_ticks == song.pickup_ticks
    assert back.time_signatures == song.time_signatures
    if song.key_signatures:
        assert back.key_signatures[0] == song.key_signatures[0]


@pytest.mark.slow
def test_a_generated_poly_continuation_round_trips(tmp_path):
    out = tmp_path / "poly.mid"
    result = subprocess.run([sys.executable, "main.py", "generate", "--model", "poly-wavenet",
                             "--seed", str(default_seed()), "--bars", "4", "--rng-seed", "7",
                             "-o", str(out)], cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    song = load_song(out)
    assert song.note_count > load_song(default_seed()).note_count
    _round_trip(song, tmp_path / "poly.musicxml")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("mscore3") is None,
                    reason="MuseScore 3 (Debian: musescore3) is not installed")
def test_musescore_converts_the_export_to_pdf(tmp_path):
    xml = tmp_path / "seed.musicxml"
    write_musicxml(load_song(default_seed()), xml)
    pdf = tmp_path / "seed.pdf"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(["mscore3", "-o", str(pdf), str(xml)], env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert pdf.read_bytes()[:5] == b"%PDF-"


# ---- ABC -----------------------------------------------------------------------------
def _essen_test_tunes(every: int) -> list[tuple[str, str]]:
    """Every ``every``-th tune of the Essen test split: (its id, its ABC text alone, so
    that music21 parses one tune, not its whole collection)."""
    tunes = {}
    for path in sorted((_corpus() / "essenFolksong").glob("*.abc")):
        text = path.read_text(encoding="latin-1")
        chunks = re.split(r"(?m)^(?=X:)", text)
        for i, chunk in enumerate(c for c in chunks if c.startswith("X:")):
            tunes[f"{path.name}#{i}"] = chunk
    return [(i, tunes[i]) for i in _test_split(list(tunes))[::every]]


def _melody(song: Song, track: int = 0) -> list[tuple[int, Fraction, Fraction]]:
    return [(p, s, d) for t, p, s, d in notated_notes(song) if t == track]


@pytest.mark.slow
def test_abc_export_of_essen_test_tunes_reopens_with_the_same_melody(tmp_path):
    tunes = _essen_test_tunes(every=10)
    assert len(tunes) >= 40
    for tune_id, text in tunes:
        name = tune_id.replace(".abc#", "-")
        source = tmp_path / f"{name}.abc"
        source.write_text(text, encoding="latin-1")
        song = load_song(source)
        out = tmp_path / f"{name}-out.abc"
        write_abc(song, out)
        back = load_song(out)
        assert _melody(back) == _melody(song), (tune_id, out.read_text())
        assert back.meter_at(0) == song.meter_at(0) and back.pickup_ticks == song.pickup_ticks


def test_abc_has_metre_key_unit_length_and_a_chosen_track():
    song = load_song(default_seed())
    melody = song_to_abc(song).splitlines()
    assert melody[:6] == ["X:1", "T:Melody", "M:4/4", "L:1/8", "Q:1/4=96", "K:G"]
    assert melody[6].startswith("G2 B d e2 d2 |")
    bass = song_to_abc(song, track=1)
    assert "T:Bass" in bass and "G,,4" in bass
    six_eight = Song(time_signatures=[TimeSignature(0, 2, 4)],
                     key_signatures=[KeySignature(0, -1, True)],
                     tracks=[Track("Tune", notes=[Note(62, 0, 240), Note(70, 240, 240),
                                                  Note(73, 480, 480)])])
    text = song_to_abc(six_eight)
    assert "M:2/4" in text and "L:1/16" in text and "K:Dm" in text
    assert "D2 B2 ^c4" in text  # Bb from the key; C# the raised leading note


# ---- MIDI ----------------------------------------------------------------------------
def _all_notes(song: Song) -> list[tuple[int, int, int, int]]:
    return sorted((n.pitch, n.start_tick, n.duration_ticks, n.channel) for n in song.notes())


def test_midi_type_0_holds_every_track_in_one(tmp_path):
    song = load_song(REPO / "tests" / "data" / "external" /
                     "mma--usr_share_doc_mma_examples_harmony_smile.mid") \
        if (REPO / "tests" / "data" / "external").is_dir() else load_song(default_seed())
    data = song_to_midi0_bytes(song)
    midi = mido.MidiFile(file=io.BytesIO(data))
    assert midi.type == 0 and len(midi.tracks) == 1
    path = tmp_path / "zero.mid"
    export_song(song, path, midi_type=0)
    assert _all_notes(load_song(path)) == _all_notes(song)


def test_one_midi_file_per_track(tmp_path):
    song = load_song(default_seed())
    paths = export_song(song, tmp_path / "parts.mid", per_track=True)
    assert [p.name for p in paths] == ["parts-1-Melody.mid", "parts-2-Bass.mid"]
    for path, track in zip(paths, song.tracks):
        single = load_song(path)
        assert len(single.tracks) == 1
        assert sorted(single.tracks[0].notes, key=Note.sort_key) == track.sorted_notes()


# ---- WAV stems -----------------------------------------------------------------------
def _read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return frames.reshape(-1, w.getnchannels()).astype(np.float64) / 32767


def test_stems_are_one_per_track_the_same_length_and_add_up_to_the_song(tmp_path):
    song = load_song(default_seed())
    stems = export_song(song, tmp_path / "seed.wav", per_track=True)
    assert [p.name for p in stems] == ["seed-1-Melody.wav", "seed-2-Bass.wav"]
    whole_path = tmp_path / "whole.wav"
    export_song(song, whole_path)
    whole = _read_wav(whole_path)
    parts = [_read_wav(p) for p in stems]
    assert {len(p) for p in parts} == {len(whole)}
    total = sum(parts)
    rms = lambda x: float(np.sqrt(np.mean(x ** 2)))  # noqa: E731
    assert rms(parts[0]) > 0.001 and rms(parts[1]) > 0.001  # each stem has its music
    assert abs(20 * np.log10(rms(total) / rms(whole))) < 1.0


# ---- the command ---------------------------------------------------------------------
def test_convert_writes_by_suffix_and_refuses_an_unknown_one_in_a_line(tmp_path):
    for name in ("a.musicxml", "a.mxl", "a.abc", "a.mid"):
        result = subprocess.run([sys.executable, "main.py", "convert", str(default_seed()),
                                 str(tmp_path / name)], cwd=REPO, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        assert load_song(tmp_path / name).note_count > 0
    bad = subprocess.run([sys.executable, "main.py", "convert", str(default_seed()),
                          str(tmp_path / "a.pdf")], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1 and "a.pdf" in bad.stderr and ".musicxml" in bad.stderr
