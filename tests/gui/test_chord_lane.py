"""The chord lane driven like a user would: real mouse and key events on the shown lane.

Each test types, drags, double-clicks or presses Delete through qtbot and then looks at
the document's chord track, its undo stack (one step per gesture, named), and that
undo and redo bring the track back exactly.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt

from engine.song import Chord, Note, Song, Track
from gui.document import SongDocument
from gui.pianoroll.chords import DENSE_PX, LANE_HEIGHT
from gui.pianoroll.view import PianoRoll
from tests.gui.conftest import shown_roll

LEFT = Qt.MouseButton.LeftButton
NONE, CTRL = Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ControlModifier
CHORDS = [Chord(0, "C"), Chord(960, "Am"), Chord(1920, "F"), Chord(2880, "G7")]


@pytest.fixture
def chord_roll(qtbot, seed_song):
    song = Song(ppq=seed_song.ppq, tracks=seed_song.tracks, chords=list(CHORDS))
    doc = SongDocument(song)
    yield shown_roll(qtbot, doc)
    doc.undo_stack.clear()


def at(roll: PianoRoll, tick: float, dx: int = 0) -> QPoint:
    """The lane pixel at ``tick`` (``dx`` pixels to the side), half way down."""
    return QPoint(round(roll.geometry.tick_to_x(tick)) + dx, LANE_HEIGHT // 2)


def drag(qtbot, widget, start: QPoint, end: QPoint, steps: int = 4) -> None:
    qtbot.mousePress(widget, LEFT, NONE, start)
    for i in range(1, steps + 1):
        qtbot.mouseMove(widget, start + (end - start) * i / steps)
    qtbot.mouseRelease(widget, LEFT, NONE, end)


def check_one_step(doc: SongDocument, name: str, after: list[Chord]) -> None:
    """One undo step named ``name``; undo gives CHORDS back, redo ``after``."""
    assert doc.chords == after
    assert doc.undo_stack.count() == 1 and doc.undo_stack.undoText() == name
    doc.undo_stack.undo()
    assert doc.chords == CHORDS
    doc.undo_stack.redo()
    assert doc.chords == after
    assert doc.song().chords == after  # what Save writes


def test_the_lane_shows_each_chord_over_its_span(chord_roll):
    lane = chord_roll.chord_lane
    spans = lane.spans()
    assert [s.symbol for s in spans] == ["C", "Am", "F", "G7"]
    geo = chord_roll.geometry
    assert [(s.x0, s.x1) for s in spans[:3]] == [
        (geo.tick_to_x(a), geo.tick_to_x(b)) for a, b in ((0, 960), (960, 1920), (1920, 2880))]
    # the last chord lasts to the end of the bar where the song ends, and at least a bar
    assert spans[3].x1 == geo.tick_to_x(2880 + 1920)
    assert lane.isVisible() and lane.geometry().bottom() < chord_roll.grid.geometry().top()


def test_double_click_and_type_over_a_symbol(qtbot, chord_roll):
    lane, doc = chord_roll.chord_lane, chord_roll.doc
    qtbot.mouseDClick(lane, LEFT, NONE, at(chord_roll, 1200))
    assert lane.editor.isVisible() and lane.editor.text() == "Am"
    lane.editor.selectAll()
    qtbot.keyClicks(lane.editor, "dm7")  # a lower-case root reads as its capital
    qtbot.keyClick(lane.editor, Qt.Key.Key_Return)
    assert not lane.editor.isVisible()
    check_one_step(doc, "Change chord", [CHORDS[0], Chord(960, "Dm7"), *CHORDS[2:]])


def test_typing_while_a_chord_is_selected_opens_the_editor(qtbot, chord_roll):
    lane, doc = chord_roll.chord_lane, chord_roll.doc
    qtbot.mouseClick(lane, LEFT, NONE, at(chord_roll, 2000))
    assert lane.selected == 2
    qtbot.keyClick(lane, Qt.Key.Key_B, NONE, -1)  # "b": the first letter of the symbol
    assert lane.editor.isVisible() and lane.editor.hasFocus()
    qtbot.keyClicks(lane.editor, "b/D")
    qtbot.keyClick(lane.editor, Qt.Key.Key_Return)
    check_one_step(doc, "Change chord", [*CHORDS[:2], Chord(1920, "Bb/D"), CHORDS[3]])


def test_a_bad_symbol_says_why_and_changes_nothing(qtbot, chord_roll):
    lane, doc = chord_roll.chord_lane, chord_roll.doc
    said: list[str] = []
    lane.message.connect(said.append)
    qtbot.mouseDClick(lane, LEFT, NONE, at(chord_roll, 100))
    lane.editor.selectAll()
    qtbot.keyClicks(lane.editor, "Cmx")
    qtbot.keyClick(lane.editor, Qt.Key.Key_Return)
    assert doc.chords == CHORDS and doc.undo_stack.count() == 0
    assert len(said) == 1 and "'Cmx'" in said[0] and "could not read" in said[0]
    assert "unchanged" in said[0]


def test_escape_leaves_the_chord_as_it_was(qtbot, chord_roll):
    lane, doc = chord_roll.chord_lane, chord_roll.doc
    qtbot.mouseDClick(lane, LEFT, NONE, at(chord_roll, 100))
    qtbot.keyClicks(lane.editor, "E7")
    qtbot.keyClick(lane.editor, Qt.Key.Key_Escape)
    assert not lane.editor.isVisible()
    assert doc.chords == CHORDS and doc.undo_stack.count() == 0


def test_drag_a_chord_to_move_it_with_its_end(qtbot, chord_roll):
    doc = chord_roll.doc
    # Am (960-1920) dragged a quarter later: it starts at 1440 and F after it at 2400
    drag(qtbot, chord_roll.chord_lane, at(chord_roll, 1300), at(chord_roll, 1300 + 480))
    check_one_step(doc, "Move chord",
                   [CHORDS[0], Chord(1440, "Am"), Chord(2400, "F"), CHORDS[3]])


def test_a_move_stops_short_of_the_neighbours(qtbot, chord_roll):
    doc = chord_roll.doc
    drag(qtbot, chord_roll.chord_lane, at(chord_roll, 1300), at(chord_roll, 1300 + 3000))
    chords = doc.chords
    assert [c.symbol for c in chords] == ["C", "Am", "F", "G7"]  # the order stays
    assert chords[2].tick == CHORDS[3].tick - 1 and chords[1].tick == 960 + chords[2].tick - 1920


def test_drag_an_edge_to_resize_moving_the_next_chord(qtbot, chord_roll):
    doc, lane = chord_roll.doc, chord_roll.chord_lane
    edge = at(chord_roll, 960, -2)  # C's right edge
    assert lane.hit(edge.x()) == (0, "end")
    drag(qtbot, lane, edge, at(chord_roll, 480))
    check_one_step(doc, "Resize chord", [CHORDS[0], Chord(480, "Am"), *CHORDS[2:]])


def test_double_click_on_the_empty_lane_adds_a_chord(qtbot, chord_roll):
    lane, doc = chord_roll.chord_lane, chord_roll.doc
    empty = at(chord_roll, 5000)  # after the last chord's bar
    assert lane.hit(empty.x()) is None
    qtbot.mouseDClick(lane, LEFT, NONE, empty)
    assert lane.editor.isVisible() and lane.editor.text() == ""
    qtbot.keyClicks(lane.editor, "E7")
    qtbot.keyClick(lane.editor, Qt.Key.Key_Return)
    assert lane.selected == 4  # the new chord, ready to type over or delete
    check_one_step(doc, "Add chord", [*CHORDS, Chord(5040, "E7")])  # snapped to a 16th


def test_ctrl_double_click_inside_a_chord_splits_it(qtbot, chord_roll):
    lane, doc = chord_roll.chord_lane, chord_roll.doc
    qtbot.mouseDClick(lane, LEFT, CTRL, at(chord_roll, 2400))
    qtbot.keyClicks(lane.editor, "C")
    qtbot.keyClick(lane.editor, Qt.Key.Key_Return)
    check_one_step(doc, "Add chord", [*CHORDS[:3], Chord(2400, "C"), CHORDS[3]])


def test_delete_removes_the_selected_chord_not_the_notes(qtbot, chord_roll):
    lane, doc = chord_roll.chord_lane, chord_roll.doc
    doc.select_all()  # the roll's Delete would erase these
    notes = doc.notes()
    qtbot.mouseClick(lane, LEFT, NONE, at(chord_roll, 3000))
    assert lane.selected == 3 and lane.hasFocus()
    qtbot.keyClick(lane, Qt.Key.Key_Delete)
    assert doc.notes() == notes
    check_one_step(doc, "Delete chord", CHORDS[:3])
    assert lane.selected == 2  # the chord before it, ready for the next Delete


def test_undo_after_each_gesture_in_turn_gives_every_track_back(qtbot, chord_roll):
    lane, doc = chord_roll.chord_lane, chord_roll.doc
    tracks = [doc.chords]
    drag(qtbot, lane, at(chord_roll, 1300), at(chord_roll, 1300 + 240))
    tracks.append(doc.chords)
    drag(qtbot, lane, at(chord_roll, 960 + 240, -2), at(chord_roll, 720))
    tracks.append(doc.chords)
    qtbot.mouseClick(lane, LEFT, NONE, at(chord_roll, 100))
    qtbot.keyClick(lane, Qt.Key.Key_Delete)
    tracks.append(doc.chords)
    assert len({tuple(t) for t in tracks}) == 4 and doc.undo_stack.count() == 3
    for expected in reversed(tracks[:-1]):
        doc.undo_stack.undo()
        assert doc.chords == expected
    for expected in tracks[1:]:
        doc.undo_stack.redo()
        assert doc.chords == expected


def test_ten_thousand_chords_only_the_visible_are_painted(qtbot, chord_roll):
    doc, lane, geo = chord_roll.doc, chord_roll.chord_lane, chord_roll.geometry
    many = [Chord(i * 60, ("C", "Am", "F", "G7")[i % 4]) for i in range(10_000)]
    doc.load_song(Song(tracks=[Track(notes=[Note(60, 0, 480)])], chords=many))
    geo.px_per_tick = 80 / 480
    geo.scroll_x = geo.pixels_for_ticks(5_000 * 60)
    spans = lane.spans()
    assert 1 <= len(spans) <= geo.ticks_for_pixels(lane.width()) / 60 + 2
    assert spans[0].index >= 4_990 and all(s.x1 >= 0 and s.x0 <= lane.width() for s in spans)
    lane.repaint()  # paints without looking at the rest
    geo.scroll_x = 0.0  # the whole song in view: one chord stands for its neighbours
    chord_roll.zoom_time(lane.width() / geo.pixels_for_ticks(600_000), 0)
    spans = lane.spans()
    assert len(spans) <= lane.width() / DENSE_PX + 1 and spans[0].index == 0
    assert spans[-1].index >= 9_990 and all(a.x1 == b.x0 for a, b in zip(spans, spans[1:]))
    lane.repaint()


# ---- the window: Detect Chords, Play Chords, saving the chord track ----------------------

@pytest.fixture
def window(qtbot, library, isolated_settings):
    from tests.gui.test_app import make_window

    shown = make_window(qtbot, library)
    shown.activateWindow()
    qtbot.waitUntil(shown.isActiveWindow, timeout=5000)  # a window shortcut needs it
    return shown


def test_detect_chords_fills_the_track_in_one_undo_step(qtbot, window):
    from engine.encodings.chords import chord_track, detect_chords

    doc = window.doc
    assert doc.chord_count() == 0
    expected = chord_track(detect_chords(doc.song()))
    assert len(expected) >= 4
    qtbot.keyClick(window, Qt.Key.Key_D, CTRL | Qt.KeyboardModifier.ShiftModifier)
    assert doc.chords == expected and doc.undo_stack.undoText() == "Detect chords"
    assert window.statusBar().currentMessage().startswith(f"Detected {len(expected)} chords: ")
    assert [s.symbol for s in window.roll.chord_lane.spans()][:2] == [
        c.symbol for c in expected[:2]]
    doc.undo_stack.undo()
    assert doc.chord_count() == 0


def test_detect_chords_replaces_a_track_undoably(qtbot, window):
    doc = window.doc
    doc.set_chords([Chord(0, "F#m7b5")], "Set chords")
    window.chords.detect_action.trigger()
    assert doc.chords[0].symbol != "F#m7b5" and doc.undo_stack.undoText() == "Detect chords"
    assert "replace the 1 chords there before (Undo brings them back)" in \
        window.statusBar().currentMessage()
    doc.undo_stack.undo()
    assert doc.chords == [Chord(0, "F#m7b5")]


def test_detect_chords_says_why_it_cannot(qtbot, window):
    doc = window.doc
    doc.load_song(Song(tracks=[Track(notes=[Note(60, 480 * 100_001, 480)])]))
    assert not window.chords.detect()
    message = window.statusBar().currentMessage()
    assert message.startswith("Cannot detect chords:") and "100,000 beats" in message
    doc.load_song(Song(tracks=[Track(name="Drums", channel=9, is_drum=True,
                                     notes=[Note(36, 0, 120)])]))
    assert not window.chords.detect()
    assert window.statusBar().currentMessage() == \
        "There are no pitched notes to detect chords from."
    assert doc.chord_count() == 0 and doc.undo_stack.count() == 0


def test_a_bad_symbol_reaches_the_status_bar(qtbot, window):
    roll = window.roll
    roll.doc.set_chords([Chord(0, "C")])
    qtbot.mouseDClick(roll.chord_lane, LEFT, NONE, at(roll, 10))
    roll.chord_lane.editor.selectAll()
    qtbot.keyClicks(roll.chord_lane.editor, "Hm")
    qtbot.keyClick(roll.chord_lane.editor, Qt.Key.Key_Return)
    message = window.statusBar().currentMessage()
    assert "'Hm'" in message and "A to G" in message and message.endswith("unchanged.")


def test_the_chord_track_survives_save_and_open(qtbot, window, tmp_path):
    doc = window.doc
    chords = [Chord(0, "G"), Chord(960, "Em7"), Chord(1920, "C/E"), Chord(2880, "D7")]
    doc.set_chords(chords)
    path = tmp_path / "with-chords.mid"
    assert window.save_to(str(path))
    doc.load_song(Song(tracks=[Track()]))
    assert window.open_path(str(path), track=0, ask_to_save=False)
    assert doc.chords == chords


def test_play_chords_voices_the_track_on_a_channel_of_its_own(qtbot, seed_song):
    from gui.playback import chord_track_of, chord_voicing, with_chords
    from engine.encodings.chords import parse_chord

    assert chord_voicing(parse_chord("C")) == [48, 60, 64, 67]  # the root beneath
    assert chord_voicing(parse_chord("G7")) == [55, 59, 62, 65, 67]
    assert chord_voicing(parse_chord("C/E")) == [52, 60, 64, 67]  # the slash note beneath
    song = Song(ppq=seed_song.ppq, tracks=seed_song.tracks,
                chords=[Chord(0, "C"), Chord(2400, "G7")])
    track = chord_track_of(song)
    assert track.channel not in {t.channel for t in song.tracks} | {9}
    assert {n.channel for n in track.notes} == {track.channel}
    # C until G7, struck again on the bar line at 1920; G7 to the song's end
    assert sorted({(n.start_tick, n.end_tick) for n in track.notes}) == [
        (0, 1920), (1920, 2400), (2400, song.end_tick)]
    played = with_chords(song)
    assert played.tracks[:-1] == song.tracks and played.tracks[-1] == track
    assert with_chords(seed_song) is seed_song  # no chords, nothing added


def test_help_lists_the_chord_keys_and_gestures(qtbot, window):
    window.show_help()
    text = window.help_panel.text().lower()
    assert "ctrl+shift+d" in text and "detect chords" in text
    assert "chord lane" in text and "delete the selected chord" in text
    window.help_panel.close()


@pytest.mark.ports
def test_play_chords_sends_the_voiced_chords_through_a_real_port(
        qtbot, seed_song, isolated_settings, bridge, sink):
    from gui.panels.chords import ChordsController
    from gui.transport import Transport

    doc = SongDocument(Song(ppq=seed_song.ppq, tracks=seed_song.tracks,
                            chords=[Chord(0, "C"), Chord(1920, "G7")]))
    doc.set_tempo(480)
    controller = ChordsController(doc, bridge)
    transport = Transport(doc, bridge)
    assert bridge.set_output(sink.name)
    transport.play()  # Play Chords is off: the melody alone
    qtbot.waitUntil(lambda: not bridge.is_playing(), timeout=8000)
    ons = {(m.channel, m.note) for m in sink.settle(0.2) if m.type == "note_on" and m.velocity}
    assert {c for c, _ in ons} == {0}
    sink.received.clear()
    controller.play_action.trigger()  # on
    assert bridge.play_chords
    # back to the start: with the chords the song ends at G7's bar line, past where the
    # melody left the playhead (test_play_chords.py plays from there)
    transport.set_position(0)
    transport.play()
    qtbot.waitUntil(lambda: not bridge.is_playing(), timeout=8000)
    ons = {(m.channel, m.note) for m in sink.settle(0.2) if m.type == "note_on" and m.velocity}
    assert {(1, p) for p in (48, 60, 64, 67, 55, 59, 62, 65)} <= ons  # C, then G7
    assert {n for c, n in ons if c == 0} == {n.pitch for n in seed_song.tracks[0].notes}


# ---- Suggest Chords and Next Chord --------------------------------------------------------

def test_suggest_chords_keeps_the_suggestion_in_one_undo_step(qtbot, window):
    from engine.generation.progressions import suggest_chords

    doc = window.doc
    doc.set_chords([Chord(0, "F#m7b5")], "Set chords")
    qtbot.keyClick(window, Qt.Key.Key_H, CTRL | Qt.KeyboardModifier.AltModifier)
    dialog = window.chords.suggest_dialog
    assert dialog is not None and dialog.isVisible()
    expected = suggest_chords(doc.song(), "bar")
    assert dialog.chords == expected and expected
    assert expected[0].symbol in dialog.progression.text()
    dialog.per_combo.setCurrentIndex(dialog.per_combo.findData("half"))
    half = suggest_chords(doc.song(), "half")
    assert dialog.chords == half
    qtbot.mouseClick(dialog.keep_button, LEFT)
    assert not dialog.isVisible()
    assert doc.chords == half and doc.undo_stack.undoText() == "Suggest chords"
    assert window.statusBar().currentMessage().startswith(f"Kept {len(half)} suggested chords")
    doc.undo_stack.undo()
    assert doc.chords == [Chord(0, "F#m7b5")]


def test_next_chord_ranks_candidates_at_the_playhead_and_keeps_one(qtbot, window):
    from engine.generation.progressions import next_chords

    doc = window.doc
    doc.set_chords([Chord(0, "G")], "Set chords")
    window.transport.set_position(1920)  # bar 2
    qtbot.keyClick(window, Qt.Key.Key_N, CTRL | Qt.KeyboardModifier.AltModifier)
    dialog = window.chords.next_dialog
    assert dialog is not None and dialog.isVisible() and dialog.tick == 1920
    ranked = next_chords(doc.song(), 1920, 6)
    shown = [dialog.candidates.item(i).data(Qt.ItemDataRole.UserRole)
             for i in range(dialog.candidates.count())]
    assert shown == [s for s, _ in ranked] and len(shown) == 6
    assert "bar 2 beat 1, after G" in dialog.where.text()
    qtbot.waitExposed(dialog)
    rect = dialog.candidates.visualItemRect(dialog.candidates.item(1))
    qtbot.mouseClick(dialog.candidates.viewport(), LEFT, NONE, rect.center())  # auditions
    assert dialog.candidates.currentRow() == 1
    assert window.statusBar().currentMessage() == window.transport.unavailable  # no output
    qtbot.mouseClick(dialog.keep_button, LEFT)
    assert doc.chords == [Chord(0, "G"), Chord(1920, shown[1])]
    assert doc.undo_stack.undoText() == "Add chord" and not dialog.isVisible()
    doc.undo_stack.undo()
    assert doc.chords == [Chord(0, "G")]


def test_suggest_with_no_melody_says_so(qtbot, window):
    window.doc.load_song(Song(tracks=[Track()]))
    dialog = window.chords.show_suggest()
    assert dialog.chords == [] and not dialog.keep_button.isEnabled()
    assert window.statusBar().currentMessage().startswith("There is no melody")




@pytest.mark.ports
def test_suggest_plays_the_suggestion_voiced_through_a_real_port(
        qtbot, library, isolated_settings, bridge, sink):
    from gui.main_window import MainWindow
    from gui.playback import chord_voicing
    from engine.encodings.chords import parse_chord

    window = MainWindow(library=library, player=bridge)
    qtbot.addWidget(window, before_close_func=lambda w: w.doc.undo_stack.setClean())
    window.show()
    window.open_default_seed()
    window.doc.set_tempo(480)
    assert bridge.set_output(sink.name)
    dialog = window.chords.show_suggest()
    assert dialog.chords
    qtbot.mouseClick(dialog.play_button, LEFT)
    qtbot.waitUntil(lambda: not bridge.is_playing(), timeout=15000)
    ons = {(m.channel, m.note) for m in sink.settle(0.2) if m.type == "note_on" and m.velocity}
    channels = {t.channel for t in window.doc.tracks}
    chord_notes = {n for c, n in ons if c not in channels}
    assert set(chord_voicing(parse_chord(dialog.chords[0].symbol))) <= chord_notes
    assert window.doc.chord_count() == 0  # auditioning keeps nothing


# ---- Follow chords in the Generate panel ---------------------------------------------------

def test_follow_chords_reaches_the_settings_and_is_remembered(qtbot, doc, library,
                                                              isolated_settings):
    from gui.panels.generate import GeneratePanel

    first = GeneratePanel(doc, library)
    qtbot.addWidget(first)
    assert first.follow_combo.currentText() == "Off" and first.settings().follow_chords == "off"
    first.show()
    first.follow_combo.setFocus()
    qtbot.keyClick(first.follow_combo, Qt.Key.Key_Down)
    qtbot.keyClick(first.follow_combo, Qt.Key.Key_Down)
    assert first.settings().follow_chords == "strict"
    first.save_settings()
    second = GeneratePanel(doc, library)
    qtbot.addWidget(second)
    assert second.follow_chords() == "strict" and second.settings().follow_chords == "strict"


def test_strict_follow_puts_every_generated_beat_on_a_chord_tone(qtbot, doc, library,
                                                                 isolated_settings):
    from engine.encodings.chords import chord_at
    from gui.panels.generate import GeneratePanel

    panel = GeneratePanel(doc, library)
    qtbot.addWidget(panel)
    panel.select_model(next(m.name for m in library.models if m.architecture == "lstm"))
    chords = [Chord(0, "C"), Chord(2880, "F"), Chord(3840, "G7"), Chord(4800, "Am"),
              Chord(5760, "Dm7")]
    doc.set_chords(chords)
    panel.bars.setValue(2)
    panel.variations_spin.setValue(2)
    panel.set_follow_chords("strict")
    with qtbot.waitSignal(panel.generation_finished, timeout=180000):
        assert panel.generate()
    on_beats = [n for i in range(2) for n in panel.variation_notes(i)
                if n.start_tick % doc.ppq == 0]
    assert len(on_beats) >= 4, panel.messages.text()
    assert min(n.start_tick for n in on_beats) < 3840  # from the melody's end, not the chords'
    assert all(n.pitch % 12 in chord_at(chords, n.start_tick).pitch_classes for n in on_beats)
