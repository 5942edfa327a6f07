"""The whole main window: default seed, generate with each model through the worker,
keep, save, reopen; bad files; drag out; drop in; the unsaved-changes prompt; layout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import mido
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from engine.song import Note
from gui import files
from gui.document import GENERATED, SEED
from tests.gui.conftest import ARCHITECTURES, TWO_TUNES_ABC, mido_notes, note_tuples


def model_named(library, architecture):
    return next(m.name for m in library.models if m.architecture == architecture)


def make_window(qtbot, library, path=None, playback=False):
    """A main window; without playback unless asked (the synth takes seconds to start,
    and only the transport tests need it)."""
    from gui.main_window import MainWindow

    window = MainWindow(library=library, playback=playback)
    # pytest-qt closes the window after the test: a failed test must not hang on the
    # unsaved-changes prompt
    qtbot.addWidget(window, before_close_func=lambda w: w.doc.undo_stack.setClean())
    window.show()
    if path is None:
        window.open_default_seed()
    else:
        assert window.open_path(str(path), tune=0, track=0)
    return window


@pytest.fixture
def window(qtbot, library, isolated_settings):
    return make_window(qtbot, library)


def generate(qtbot, window, architecture, library, bars=2, variations=3):
    panel = window.panel
    panel.select_model(model_named(library, architecture))
    panel.bars.setValue(bars)
    panel.variations_spin.setValue(variations)
    with qtbot.waitSignal(panel.generation_finished, timeout=120000):
        window.generate_run.trigger()
    assert panel.result is not None, panel.messages.text()
    assert panel.variations.count() == variations


def test_the_app_opens_with_the_default_seed(qtbot, isolated_settings):
    from gui.app import create_main_window, make_application

    make_application()
    w = create_main_window(None)
    qtbot.addWidget(w, before_close_func=lambda w: w.doc.undo_stack.setClean())
    assert len(w.doc.notes()) > 8
    assert all(w.doc.origin(i) == SEED for i in w.doc.notes())
    assert w.doc.file_path is None and not w.doc.is_modified()
    assert w.windowTitle() == "Untitled[*] - Continuo"
    assert w.panel.key_combo.itemText(0) == "Auto"  # until Generate has found the key
    names = {a.objectName() for a in w.findChildren(type(w.file_open))}
    assert {"file_new", "file_open", "file_save", "file_save_as", "file_export_selection",
            "edit_undo", "edit_redo", "generate_run", "generate_keep",
            "transport_play"} <= names
    assert w.generate_run.shortcut().toString() == "Ctrl+G"
    assert w.transport.play_action.shortcut().toString() == "Space"


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_generate_keep_save_and_reopen_gives_the_same_notes(qtbot, window, library,
                                                            architecture, tmp_path):
    seed = note_tuples(window.doc.notes().values())
    generate(qtbot, window, architecture, library)
    window.panel.variations.set_current_index(2)
    kept = window.panel.variation_notes(2)
    window.generate_keep.trigger()
    assert window.edit_undo.text().replace("&", "") == "Undo Keep variation"
    assert window.doc.is_modified() and window.isWindowModified()
    generated = [n for i, n in window.doc.notes().items() if window.doc.origin(i) == GENERATED]
    assert note_tuples(generated) == note_tuples(kept)
    before = note_tuples(window.doc.notes().values())
    assert before == sorted(seed + note_tuples(kept))

    path = tmp_path / "continued.mid"
    assert window.save_to(str(path))
    assert not window.doc.is_modified()
    assert window.windowTitle() == "continued.mid[*] - Continuo"
    assert mido_notes(path) == before

    reopened = make_window(qtbot, library, path)
    assert note_tuples(reopened.doc.notes().values()) == before
    assert round(reopened.doc.tempo_bpm, 3) == round(window.doc.tempo_bpm, 3)
    assert files.RecentFiles().paths()[0] == str(path)


def test_open_a_bad_file_shows_the_message_and_keeps_the_document(qtbot, window, tmp_path):
    before = window.doc.notes()
    window.doc.move_notes(list(before)[:1], 0, 1)  # an unsaved edit that must survive
    window.doc.undo_stack.setClean()
    before = window.doc.notes()
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00this is a wave file, not MIDI")
    assert not window.open_path(str(bad))
    assert "broken.mid" in window.last_error
    box = window._error_box
    assert box is not None and box.isVisible() and "broken.mid" in box.text()
    assert "Traceback" not in box.text()
    assert window.doc.notes() == before
    assert window.doc.file_path is None
    box.close()
    assert not window.open_path(str(tmp_path / "missing.abc"))
    assert "missing.abc" in window.last_error
    assert window.doc.notes() == before


def test_export_audio_renders_the_song_with_the_synth_to_a_wav(qtbot, window, tmp_path):
    import wave

    import numpy as np

    song = window.doc.song()
    path = tmp_path / "seed.wav"
    assert window.export_audio_to(str(path))
    with wave.open(str(path)) as w:
        rate, frames, channels = w.getframerate(), w.getnframes(), w.getnchannels()
        pcm = np.frombuffer(w.readframes(frames), dtype="<i2").astype(np.float64) / 32767
    assert rate == 44_100 and channels == 2
    seconds = song.tempo_map.tick_to_seconds(song.end_tick)
    assert frames / rate == pytest.approx(seconds + 1.0, abs=0.05)  # the song and a tail
    assert np.sqrt(np.mean(pcm ** 2)) > 0.005  # not silence
    assert "Exported seed.wav" in window.statusBar().currentMessage()
    # a folder that is not there: one sentence naming the file, nothing written
    assert not window.export_audio_to(str(tmp_path / "missing" / "x.wav"))
    assert "x.wav" in window.last_error and "cannot be written" in window.last_error
    window._error_box.close()


def test_export_as_writes_each_format_that_reads_back(qtbot, window, tmp_path):
    """File > Export As: MusicXML, ABC (the active track), MIDI type 0, MIDI per track,
    WAV stems; each read back by Continuo (or by its file's own header)."""
    import wave

    import mido

    from engine.formats import load_song as read_song
    from gui import files

    song = window.doc.song()
    names = {a.objectName() for a in window.file_exports}
    assert names == {f"file_export_{kind}" for kind in files.EXPORTS}
    pitched = [t for t in song.tracks if t.notes]

    assert window.export_as_to("musicxml", str(tmp_path / "seed.musicxml"))
    back = read_song(tmp_path / "seed.musicxml")
    assert sorted(n.pitch for n in back.notes()) == sorted(n.pitch for n in song.notes())
    assert "Exported seed.musicxml (MusicXML)" in window.statusBar().currentMessage()

    window.doc.active_track = 0
    assert window.export_as_to("abc", str(tmp_path / "seed.abc"))
    abc = read_song(tmp_path / "seed.abc")
    assert [n.pitch for n in abc.notes()] == [n.pitch for n in song.tracks[0].sorted_notes()]

    assert window.export_as_to("midi0", str(tmp_path / "seed0.mid"))
    assert mido.MidiFile(tmp_path / "seed0.mid").type == 0

    assert window.export_as_to("midi_tracks", str(tmp_path / "parts.mid"))
    parts = sorted(tmp_path.glob("parts*.mid"))
    assert len(parts) == len(pitched)
    assert "Exported" in window.statusBar().currentMessage()

    assert window.export_as_to("stems", str(tmp_path / "stems.wav"))
    stems = sorted(tmp_path.glob("stems*.wav"))
    assert len(stems) == len(pitched)
    lengths = set()
    for stem in stems:
        with wave.open(str(stem)) as w:
            lengths.add(w.getnframes())
    assert len(lengths) == 1  # every stem as long as the song

    # a folder that is not there: one sentence, nothing written
    assert not window.export_as_to("abc", str(tmp_path / "missing" / "x.abc"))
    assert "x.abc" in window.last_error
    window._error_box.close()


def test_drag_out_the_generated_clip_and_the_song(qtbot, window, library):
    generate(qtbot, window, "lstm", library, bars=1, variations=2)
    window.panel.variations.set_current_index(1)
    variation = window.panel.variation_notes(1)
    mime = window.drag_clip.mime_data()
    first = min(n.start_tick for n in variation)
    assert mido_notes(mime.urls()[0].toLocalFile()) == note_tuples(
        [n.moved(-first, 0) for n in variation])
    song_mime = window.drag_song.mime_data()
    assert mido_notes(song_mime.urls()[0].toLocalFile()) == note_tuples(
        window.doc.notes().values())


def test_drop_a_file_on_the_window_opens_it(qtbot, window, tmp_path):
    from engine.formats import song_to_midi_file
    from engine.song import melody_song

    path = tmp_path / "dropped.mid"
    notes = [Note(60, 0, 240, 70), Note(64, 240, 240, 80), Note(67, 480, 480, 90)]
    song_to_midi_file(melody_song(notes), path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(lambda: window.doc.file_path == str(path), timeout=5000)
    assert note_tuples(window.doc.notes().values()) == note_tuples(notes)
    assert window.windowTitle() == "dropped.mid[*] - Continuo"


def _answer_question(button: QMessageBox.StandardButton) -> None:
    def answer() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, answer)
            return
        box.button(button).click()
    QTimer.singleShot(0, answer)


def test_new_asks_about_unsaved_changes(qtbot, window):
    ids = list(window.doc.notes())
    window.doc.delete_notes(ids[:3])
    _answer_question(QMessageBox.StandardButton.Cancel)
    window.file_new.trigger()
    assert len(window.doc.notes()) == len(ids) - 3 and window.doc.is_modified()
    _answer_question(QMessageBox.StandardButton.Discard)
    window.file_new.trigger()
    assert len(window.doc.notes()) == 0 and not window.doc.is_modified()


def test_export_selection_writes_only_the_selection(qtbot, window, tmp_path):
    chosen = sorted(window.doc.notes().items(), key=lambda kv: kv[1].start_tick)[3:7]
    window.doc.set_selection([i for i, _ in chosen])
    out = tmp_path / "sel.mid"
    assert window.export_selection_to(str(out))
    first = chosen[0][1].start_tick
    assert mido_notes(out) == note_tuples([n.moved(-first, 0) for _, n in chosen])


def test_tempo_and_metre_edits_are_undoable_and_position_reads_bars_beats(qtbot, window):
    t = window.transport
    t.tempo.setValue(132.0)
    assert round(window.doc.tempo_bpm) == 132
    assert window.edit_undo.text() != "Undo"
    window.edit_undo.trigger()
    assert round(window.doc.tempo_bpm) == 96
    assert t.tempo.value() == 96.0
    t.numerator.setValue(3)
    assert str(window.doc.time_signature) == "3/4"
    t.set_position(window.doc.ppq * 7)
    assert t.position_label.text() == "3:2"


def test_window_layout_and_generate_settings_are_restored(qtbot, library, isolated_settings):
    first = make_window(qtbot, library)
    first.resize(700, 520)  # inside the offscreen screen (800x600), so nothing is clamped
    first.dock.hide()
    first.panel.bars.setValue(9)
    first.close()
    second = make_window(qtbot, library)
    assert (second.size().width(), second.size().height()) == (700, 520)
    assert not second.dock.isVisible()
    assert second.panel.bars.value() == 9
    second.doc.undo_stack.setClean()


@pytest.fixture
def playing_window(qtbot, library, isolated_settings):
    return make_window(qtbot, library, playback=True)


def test_without_playback_play_is_disabled_and_says_why(qtbot, window):
    t = window.transport
    assert not t.play_action.isEnabled()
    assert "Playback" in t.play_action.toolTip()
    t.play()  # Space while disabled: a message, no crash
    assert not t.is_playing()


def test_play_moves_the_playhead_and_stop_stops(qtbot, playing_window):
    window = playing_window
    t = window.transport
    if not t.can_play():
        pytest.skip(t.unavailable)
    t.play_action.trigger()
    qtbot.waitUntil(lambda: t.position() > 0 and window.roll.playhead_tick == t.position(),
                    timeout=10000)
    assert t.is_playing() and t.play_action.isChecked()
    t.play_action.trigger()
    qtbot.waitUntil(lambda: not t.is_playing(), timeout=5000)
    assert not t.play_action.isChecked()


def test_a_variation_can_be_auditioned_with_the_player(qtbot, playing_window, library):
    window = playing_window
    t = window.transport
    if not t.can_play():
        pytest.skip(t.unavailable)
    generate(qtbot, window, "lstm", library, bars=1, variations=2)
    song = window.panel.variation_song(0)
    variation = window.panel.variation_notes(0)
    assert set(variation) <= set(song.tracks[0].notes)  # the variation with its lead-in
    assert min(n.start_tick for n in song.tracks[0].notes) < min(n.start_tick for n in variation)
    with qtbot.waitSignal(t.playing_changed, timeout=10000):
        window.panel.variations.play_button.click()
    assert t.is_playing()
    t.stop()
    qtbot.waitUntil(lambda: not t.is_playing(), timeout=5000)


def test_loop_range_is_the_selection_or_else_the_song(qtbot, window):
    t = window.transport
    assert t.loop_range() == (0, window.doc.end_tick)
    chosen = sorted(window.doc.notes().items(), key=lambda kv: kv[1].start_tick)[2:5]
    window.doc.set_selection([i for i, _ in chosen])
    assert t.loop_range() == (chosen[0][1].start_tick, max(n.end_tick for _, n in chosen))


UNGUARDED_DRIVER = """
import os, subprocess, sys
sys.path.insert(0, {repo!r})
from PySide6.QtCore import QEventLoop, QTimer
from gui.app import make_application
from gui.main_window import MainWindow

app = make_application(["continuo"])
window = MainWindow(playback=False)
window.open_default_seed()
panel = window.panel
panel.bars.setValue(1)
panel.variations_spin.setValue(1)
loop = QEventLoop()
panel.generation_finished.connect(loop.quit)
QTimer.singleShot(60000, loop.quit)
panel.generate()
loop.exec()
children = subprocess.run(["pgrep", "-P", str(os.getpid()), "-f", "engine.generation.service"],
                          capture_output=True, text=True).stdout.split()
print("children", len(children), "variations", panel.variations.count(), flush=True)
window.doc.undo_stack.setClean()
window.close()
"""


@pytest.mark.skipif(shutil.which("pgrep") is None, reason="needs pgrep to count processes")
def test_a_script_without_a_main_guard_starts_exactly_one_generator_child(tmp_path,
                                                                          library):
    """The generator child must not re-run the parent's script (multiprocessing's spawn
    does, and an unguarded script then opened a window per child, recursively)."""
    if library.folders[0] != Path(__file__).resolve().parents[2] / "models":
        pytest.skip("the driver uses the shipped models")
    script = tmp_path / "driver.py"
    script.write_text(UNGUARDED_DRIVER.format(repo=str(Path(__file__).resolve().parents[2])))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path))
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert "children 1 variations 1" in done.stdout, done.stdout + done.stderr[-2000:]


def test_ctrl_g_in_the_piano_roll_generates(qtbot, window, library):
    window.panel.select_model(model_named(library, "lstm"))
    window.panel.bars.setValue(1)
    window.panel.variations_spin.setValue(1)
    window.activateWindow()
    window.roll.grid.setFocus()
    qtbot.waitUntil(lambda: window.isActiveWindow())
    with qtbot.waitSignal(window.panel.generation_finished, timeout=120000):
        qtbot.keyClick(window.roll.grid, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    assert window.panel.variations.count() == 1


def long_abc(path, bars):
    """A real ABC tune of ``bars`` bars of eighths: music21 takes about a second for
    200 bars here."""
    body = " ".join(["cdef gabc' | c'bag fedc |"] * (bars // 2))
    path.write_text(f"X:1\nT:Long\nM:4/4\nL:1/8\nK:C\n{body}\n")
    return path


def test_a_slow_score_is_read_while_the_window_keeps_running(qtbot, window, tmp_path,
                                                             monkeypatch):
    """music21 runs on a helper thread while the GUI thread's event loop runs and shows
    a "Reading" dialog.  Proved without counting timer ticks (a busy machine decides how
    many there are): the parse is watched, and it does not return until the GUI thread
    has shown the dialog while the parse was still running, which a parse on the GUI
    thread could never see (it would wait the full 30 s and the test fails)."""
    import threading

    from PySide6.QtWidgets import QProgressDialog

    from engine.formats import scores

    path = long_abc(tmp_path / "long.abc", 200)
    parse = scores._parse_score_uncached
    parsing, shown = threading.Event(), threading.Event()
    threads, seen = [], []

    def watched_parse(*args, **kwargs):
        threads.append(threading.current_thread())
        parsing.set()
        try:
            parsed = parse(*args, **kwargs)
            shown.wait(30)  # until the GUI thread has shown the dialog meanwhile
            return parsed
        finally:
            parsing.clear()

    def tick():
        dialog = window.findChild(QProgressDialog)
        if parsing.is_set() and dialog is not None and dialog.isVisible():
            seen.append(dialog.labelText())
            shown.set()

    monkeypatch.setattr(scores, "_parse_score_uncached", watched_parse)
    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    assert window.open_path(str(path), tune=0, track=0)
    timer.stop()
    assert window.doc.song().note_count == 1600
    assert threads and threads[0] is not threading.main_thread()
    assert shown.is_set() and "Reading long.abc" in seen[0]


def test_reading_a_slow_score_can_be_cancelled_and_keeps_the_document(qtbot, window,
                                                                     tmp_path):
    from PySide6.QtWidgets import QProgressDialog, QPushButton

    before = window.doc.notes()
    title = window.windowTitle()
    path = long_abc(tmp_path / "cancel-me.abc", 200)

    def cancel_when_shown():
        dialog = window.findChild(QProgressDialog)
        if dialog is not None and dialog.isVisible():
            dialog.findChild(QPushButton, "").click()  # its Cancel button
        else:
            QTimer.singleShot(10, cancel_when_shown)

    QTimer.singleShot(10, cancel_when_shown)
    assert not window.open_path(str(path), tune=0, track=0)
    assert window.doc.notes() == before and window.windowTitle() == title
    assert "Opening cancel-me.abc was cancelled" in window.statusBar().currentMessage()
    assert window.last_error == ""  # a choice, not an error


def test_an_abc_tune_opens_as_an_untitled_midi_song_and_is_listed_as_recent(qtbot, window,
                                                                             tmp_path):
    path = tmp_path / "two.abc"
    path.write_text(TWO_TUNES_ABC)
    assert window.open_path(str(path), tune=1, track=0)
    assert [n.pitch for n in sorted(window.doc.notes().values(),
                                    key=lambda n: n.start_tick)][:3] == [62, 66, 69]
    assert str(window.doc.time_signature) == "3/4"
    assert window.doc.file_path is None  # Save must not write MIDI bytes into the .abc
    assert window.windowTitle() == "two.mid[*] - Continuo"
    window._fill_recent_menu()
    assert window.recent_menu.actions()[0].text() == str(path)
    assert path.read_text() == TWO_TUNES_ABC


def test_undo_and_redo_replace_a_status_they_make_false(qtbot, window, library):
    generate(qtbot, window, "lstm", library, bars=1, variations=2)
    window.panel.variations.set_current_index(1)
    window.generate_keep.trigger()
    bar = window.statusBar()
    assert bar.currentMessage().startswith("Kept variation 2")
    window.edit_undo.trigger()
    assert "Kept" not in bar.currentMessage() and "Undo removes it" not in bar.currentMessage()
    assert bar.currentMessage() == "Undid Keep variation."
    assert not any(window.doc.origin(i) == GENERATED for i in window.doc.notes())
    window.edit_redo.trigger()
    assert bar.currentMessage() == "Redid Keep variation."


def test_the_tempo_box_follows_the_tempo_map_at_the_playhead(qtbot, window):
    """smile.mid plays one beat at 120 BPM, then 166: the box shows the tempo where the
    playhead is, says what comes next, and an edit changes the tempo in force there."""
    smile = Path(__file__).resolve().parents[1] / "data" / "external" / \
        "mma--usr_share_doc_mma_examples_harmony_smile.mid"
    assert window.open_path(str(smile), track=2)
    t, doc = window.transport, window.doc
    beat = doc.ppq
    assert t.tempo.value() == 120.0
    assert t.tempo_note.isVisibleTo(window) and t.tempo_note.text() == "then 166 at 1:2"
    assert "120 at 1:1, 166 at 1:2" in t.tempo.toolTip()
    t.set_position(4 * beat)  # bar 2, where the song plays
    assert t.tempo.value() == 166.0 and t.tempo_note.text() == "since 1:2"
    t.tempo.setValue(150.0)  # the tempo from beat 2 on; the first beat keeps its 120
    assert [round(c.bpm) for c in doc.tempo_changes] == [120, 150]
    assert window.edit_undo.text().replace("&", "") == "Undo Change tempo"
    window.edit_undo.trigger()
    assert [round(c.bpm) for c in doc.tempo_changes] == [120, 166]
    assert t.tempo.value() == 166.0
    t.set_position(0)
    assert t.tempo.value() == 120.0
    window.open_default_seed()  # one tempo: no note
    assert not t.tempo_note.isVisibleTo(window) and t.tempo.toolTip() == ""


def test_the_drawn_note_length_is_in_the_toolbar_and_remembered(qtbot, library,
                                                                 isolated_settings):
    from PySide6.QtWidgets import QComboBox, QToolBar

    first = make_window(qtbot, library)
    box = first.findChild(QComboBox, "roll_note_length")
    assert box is not None and box.currentText() == "1/4" and box.isVisibleTo(first)
    toolbar = first.findChild(QToolBar, "track_toolbar")
    assert toolbar.isAncestorOf(box) and toolbar.isAncestorOf(
        first.findChild(QComboBox, "roll_snap"))  # beside the snap
    box.setCurrentIndex(box.findData("1/8"))
    box.activated.emit(box.currentIndex())
    assert first.roll.note_length == "1/8" and first.roll.draw_length() == 240
    first.close()
    second = make_window(qtbot, library)
    assert second.roll.note_length == "1/8"
    assert second.findChild(QComboBox, "roll_note_length").currentText() == "1/8"
    quarter = second.roll.actions["edit_length_1/4"]
    assert quarter.shortcut().toString() == "5" and not quarter.isChecked()
    assert second.roll.actions["edit_length_1/8"].isChecked()  # checked in Edit's menu
    quarter.trigger()
    assert second.roll.note_length == "1/4" and quarter.isChecked()
    second.doc.undo_stack.setClean()


def test_a_pickup_bar_leaves_the_metre_box_showing_and_changing_the_songs_metre(qtbot,
                                                                               window):
    from engine.song import Song, TimeSignature, Track

    window.doc.load_song(Song(tracks=[Track(notes=[Note(67, 0, 480), Note(72, 480, 1920)])],
                              time_signatures=[TimeSignature(0, 1, 4),
                                               TimeSignature(480, 4, 4)]))
    t = window.transport
    assert window.doc.pickup_ticks == 480
    assert (t.numerator.value(), t.denominator.currentData()) == (4, 4)  # not 1/4
    assert "pickup of 1 beat" in t.numerator.toolTip()
    t.numerator.setValue(3)  # 3/4 from bar 1; the pickup stays a beat long
    assert [str(ts) for ts in window.doc.time_signatures] == ["1/4", "3/4"]
    assert window.doc.time_signatures[1].tick == 480
    window.edit_undo.trigger()
    assert [str(ts) for ts in window.doc.time_signatures] == ["1/4", "4/4"]
    assert t.numerator.value() == 4
