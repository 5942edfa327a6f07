"""ABC, MusicXML and Humdrum **kern files through music21 (from music21's own corpus)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.encodings import DEFAULT_ENCODING
from engine.errors import ScoreFileError
from engine.formats import (list_score_tunes, load_song, midi_file_to_song, score_file_to_song,
                            song_to_midi_bytes)

music21 = pytest.importorskip("music21")
CORPUS = Path(music21.__file__).parent / "corpus"


def test_multi_tune_abc_each_tune_selectable():
    path = CORPUS / "essenFolksong" / "erk5.abc"
    tunes = list_score_tunes(path)
    assert len(tunes) == 27
    first, second = score_file_to_song(path, 0), score_file_to_song(path, 1)
    assert first.note_count > 10 and second.note_count > 10
    assert [n.pitch for n in first.notes()] != [n.pitch for n in second.notes()]
    with pytest.raises(ScoreFileError, match=f"no tune {len(tunes) + 1}"):
        score_file_to_song(path, len(tunes))


def test_the_formats_table_sends_to_music21_exactly_the_suffixes_it_parses():
    from engine.formats import READERS, SCORE_SUFFIXES, scores

    assert set(SCORE_SUFFIXES) == set(scores.SUFFIXES)
    assert all(READERS[s].read is score_file_to_song and READERS[s].has_tunes
               for s in SCORE_SUFFIXES)
    assert not any(f.has_tunes for s, f in READERS.items() if s not in SCORE_SUFFIXES)


def test_abc_tune_encodes_and_survives_midi():
    song = score_file_to_song(CORPUS / "essenFolksong" / "erk5.abc", 3)
    enc = DEFAULT_ENCODING.encode_notes(song.tracks[0].notes, song.ppq, closing_off=True)
    assert enc.report.dropped_below_top_line == 0 and len(enc.tokens) > 16
    again = midi_file_to_song(song_to_midi_bytes(song))
    assert [n.pitch for n in again.notes()] == [n.pitch for n in song.notes()]
    assert again.time_signatures == song.time_signatures


def test_musicxml_with_four_parts():
    song = load_song(CORPUS / "bach" / "bwv66.6.mxl")
    assert len(song.tracks) == 4 and all(t.notes for t in song.tracks)
    assert song.time_signatures[0].numerator == 4


def test_kern():
    song = load_song(CORPUS / "bach" / "bwv277.krn")
    assert song.note_count > 50


def test_ties_are_joined():
    path = CORPUS / "essenFolksong" / "erk5.abc"
    score = music21.converter.parse(str(path)).scores[0]
    tied = sum(1 for n in score.flatten().notes if n.tie is not None and n.tie.type == "start")
    song = score_file_to_song(path, 0)
    assert song.note_count == len(score.flatten().notes) - tied


def test_bad_score_file_names_the_file(tmp_path):
    bad = tmp_path / "broken.xml"
    bad.write_text("<score-partwise><part id='P1'><measure><note>")
    with pytest.raises(ScoreFileError, match="broken.xml"):
        score_file_to_song(bad)
    with pytest.raises(ScoreFileError, match="no such file"):
        score_file_to_song(tmp_path / "missing.abc")
