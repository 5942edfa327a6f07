"""Files without the main window: reading, atomic writing, clips, recent files, the
drag-out mime data (read back with mido), and the tune / track choosers."""

from __future__ import annotations

import os
from pathlib import Path

import mido
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QInputDialog, QWidget

from engine.errors import ContinuoError
from engine.song import Note, Song, Track, melody_song
from gui import files
from tests.gui.conftest import TWO_TUNES_ABC, mido_notes, note_tuples


SONG_NOTES = [Note(62, 0, 240, 80), Note(66, 240, 240, 70), Note(69, 480, 960, 100),
              Note(62, 480, 960, 60)]


def test_drag_mime_data_holds_a_midi_file_that_mido_reads_back(qtbot):
    song = melody_song(SONG_NOTES, bpm=90, time_signature=(3, 4))
    mime = files.drag_mime_data(song, "my clip: v1?")
    urls = mime.urls()
    assert len(urls) == 1 and urls[0].isLocalFile()
    path = urls[0].toLocalFile()
    assert path.endswith(".mid") and os.path.exists(path)
    assert "?" not in os.path.basename(path) and ":" not in os.path.basename(path)
    assert mido_notes(path) == note_tuples(SONG_NOTES)
    mid = mido.MidiFile(path)
    tempos = [m.tempo for t in mid.tracks for m in t if m.type == "set_tempo"]
    assert tempos == [mido.bpm2tempo(90)]
    assert bytes(mime.data("audio/midi")) == open(path, "rb").read()


def test_drag_button_mime_data_comes_from_its_provider(qtbot):
    clip = files.clip_song([Note(60, 1920, 480, 90), Note(64, 2400, 480, 91)],
                           melody_song([]), "Clip")
    button = files.DragOutButton("Drag clip", lambda: (clip, "clip"))
    qtbot.addWidget(button)
    mime = button.mime_data()
    assert mido_notes(mime.urls()[0].toLocalFile()) == [(60, 0, 480, 90), (64, 480, 480, 91)]
    empty = files.DragOutButton("Drag", lambda: None)
    qtbot.addWidget(empty)
    assert empty.mime_data() is None


def test_clip_song_starts_at_zero_with_the_tempo_and_metre_of_its_song():
    like = melody_song([Note(60, 0, 480)], bpm=132, time_signature=(6, 8))
    clip = files.clip_song([Note(67, 3000, 100), Note(65, 2880, 120)], like)
    assert note_tuples(clip.tracks[0].notes) == [(65, 0, 120, 100), (67, 120, 100, 100)]
    assert round(clip.tempo_map.bpm_at(0)) == 132
    assert str(clip.time_signatures[0]) == "6/8"
    with pytest.raises(ContinuoError, match="no notes"):
        files.clip_song([], like)


def test_write_song_is_midi_adds_the_suffix_and_leaves_no_temporary_files(tmp_path):
    song = melody_song(SONG_NOTES)
    written = files.write_song(song, tmp_path / "tune")
    assert written == str(tmp_path / "tune.mid")
    assert os.listdir(tmp_path) == ["tune.mid"]
    assert note_tuples(files.read_song(written).tracks[0].notes) == note_tuples(SONG_NOTES)
    # overwrite in place
    files.write_song(melody_song(SONG_NOTES[:1]), written)
    assert os.listdir(tmp_path) == ["tune.mid"]
    assert mido_notes(written) == note_tuples(SONG_NOTES[:1])


def test_write_song_into_a_missing_folder_is_a_sentence(tmp_path):
    with pytest.raises(ContinuoError, match="tune.mid"):
        files.write_song(melody_song(SONG_NOTES), tmp_path / "nowhere" / "tune.mid")


def test_read_song_of_a_bad_file_names_the_file(tmp_path):
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd this is not really a midi file")
    with pytest.raises(ContinuoError, match="broken.mid"):
        files.read_song(bad)


def test_save_path_of_a_score_is_a_midi_file_beside_it():
    assert files.midi_path_for("/x/tune.abc") == "/x/tune.mid"
    assert files.midi_path_for("/x/song.MID") == "/x/song.MID"
    assert files.is_openable("/x/a.krn") and files.is_openable("/x/a.MusicXML")
    assert not files.is_openable("/x/a.wav")


def test_recent_files_most_recent_first_without_duplicates(isolated_settings, tmp_path):
    recent = files.RecentFiles()
    assert recent.paths() == []
    for i in range(12):
        recent.add(tmp_path / f"{i}.mid")
    recent.add(tmp_path / "3.mid")
    paths = recent.paths()
    assert len(paths) == files.MAX_RECENT
    assert paths[0] == str(tmp_path / "3.mid") and paths[1] == str(tmp_path / "11.mid")
    assert len(set(paths)) == len(paths)
    recent.remove(str(tmp_path / "3.mid"))
    assert str(tmp_path / "3.mid") not in files.RecentFiles().paths()
    recent.clear()
    assert files.RecentFiles().paths() == []


def _answer_next_item_dialog(choice: str) -> None:
    """Pick ``choice`` in the QInputDialog that the code under test is about to open."""
    def pick() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QInputDialog):
            QTimer.singleShot(20, pick)
            return
        dialog.setTextValue(choice)
        dialog.accept()
    QTimer.singleShot(0, pick)


def test_choosing_the_tune_of_a_multi_tune_abc_file(qtbot, tmp_path):
    path = tmp_path / "two.abc"
    path.write_text(TWO_TUNES_ABC)
    parent = QWidget()
    qtbot.addWidget(parent)
    _answer_next_item_dialog("2. Second Tune")
    tune = files.ask_tune(parent, str(path))
    assert tune == 1
    song = files.read_song(path, tune)
    assert str(song.time_signatures[0]) == "3/4"
    assert [n.pitch for n in song.tracks[0].notes][:3] == [62, 66, 69]


def test_choosing_the_melody_track(qtbot):
    song = Song(tracks=[Track("Bass", notes=[Note(40, 0, 480)]), Track("Empty"),
                        Track("Tune", notes=[Note(72, 0, 240), Note(74, 240, 240)])])
    parent = QWidget()
    qtbot.addWidget(parent)
    _answer_next_item_dialog("3. Tune (2 notes, 72-74)")
    assert files.ask_track(parent, song, default=0) == 2
    one = Song(tracks=[Track("Empty"), Track("Only", notes=[Note(60, 0, 10)])])
    assert files.ask_track(parent, one, default=0) == 1  # no question when there is no choice


def test_the_track_dialog_preselects_a_band_files_solo_and_offers_no_drums(qtbot):
    from engine.song import melody_track

    song = files.read_song(Path(__file__).resolve().parents[1] / "data" / "external"
                           / "mma--usr_share_doc_mma_examples_harmony_smile.mid")
    parent = QWidget()
    qtbot.addWidget(parent)
    shown: dict = {}

    def look_and_accept() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QInputDialog):
            QTimer.singleShot(20, look_and_accept)
            return
        shown["items"], shown["current"] = dialog.comboBoxItems(), dialog.textValue()
        dialog.accept()

    QTimer.singleShot(0, look_and_accept)
    chosen = files.ask_track(parent, song, melody_track(song))
    assert shown["current"].startswith("3. Solo")  # not "4. Chord"
    assert [item.split(" (")[0] for item in shown["items"]] == ["1. Bass", "3. Solo",
                                                                 "4. Chord"]
    assert song.tracks[chosen].name == "Solo"


def test_the_open_filter_and_drop_take_exactly_the_suffixes_of_the_formats_table():
    import re

    from engine.formats import READERS

    filters = files.OPEN_FILTER.split(";;")

    def patterns(text: str) -> list[str]:
        return re.fullmatch(r"[^()]+ \(([^()]*)\)", text).group(1).split()

    wanted = sorted(f"*{s}" for s in READERS)
    assert sorted(patterns(filters[0])) == wanted  # "Music files": every format at once
    assert sorted(p for f in filters[1:-1] for p in patterns(f)) == wanted  # one each
    assert filters[-1] == "All files (*)"
    # the text the dialog showed before it read the table
    assert files.OPEN_FILTER == ";;".join([
        "Music files (*.mid *.midi *.smf *.kar *.abc *.xml *.musicxml *.mxl *.krn)",
        "MIDI files (*.mid *.midi *.smf *.kar)", "ABC (*.abc)",
        "MusicXML (*.xml *.musicxml *.mxl)", "Humdrum kern (*.krn)", "All files (*)"])
    others = [".wav", ".txt", ".bak", ".json", ""]
    dropped = {s.lower() for s in [*READERS, *(s.upper() for s in READERS), *others]
               if files.is_openable(f"/x/song{s}")}
    assert dropped == set(READERS)
