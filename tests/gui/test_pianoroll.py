"""The piano roll driven like a user would: real mouse and key events on the shown widget.

Each test presses, drags and releases through qtbot on the real widgets and then looks
at the document: what notes it holds, what the undo stack says, and that undo/redo
bring the notes back exactly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QWheelEvent
from PySide6.QtWidgets import QApplication

from engine.formats import midi_file_to_song
from engine.song import Note
from gui.document import GENERATED, SEED
from gui.pianoroll import style
from gui.pianoroll.view import MIDI_MIME, NoteClipboard, PianoRoll

LEFT, RIGHT = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton
CTRL, SHIFT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
NONE = Qt.KeyboardModifier.NoModifier


def at(roll: PianoRoll, tick: float, pitch: int) -> QPoint:
    """The grid pixel in the middle of ``pitch``'s row at ``tick``."""
    geo = roll.geometry
    return QPoint(round(geo.tick_to_x(tick)), round(geo.pitch_to_y(pitch) + geo.row_height / 2))


def drag(qtbot, widget, start: QPoint, end: QPoint, button=LEFT, mods=NONE, steps: int = 4):
    qtbot.mousePress(widget, button, mods, start)
    for i in range(1, steps + 1):
        qtbot.mouseMove(widget, start + (end - start) * i / steps)
    qtbot.mouseRelease(widget, button, mods, end)


def id_of(doc, note: Note) -> int:
    return next(i for i, n in doc.notes().items() if n == note)


def check_undo_redo(doc, name: str, before: dict, after: dict) -> None:
    assert doc.undo_stack.count() == 1
    assert doc.undo_stack.undoText() == name
    doc.undo_stack.undo()
    assert doc.notes() == before
    doc.undo_stack.redo()
    assert doc.notes() == after


def test_draw_a_note_by_dragging_on_empty_grid(qtbot, roll, doc):
    before = doc.notes()
    drag(qtbot, roll.grid, at(roll, 3840 + 10, 72), at(roll, 4320 - 10, 72))
    added = set(doc.notes().values()) - set(before.values())
    assert added == {Note(72, 3840, 480)}
    (new_id,) = set(doc.notes()) - set(before)
    assert doc.selection == {new_id} and doc.origin(new_id) == SEED
    check_undo_redo(doc, "Draw note", before, doc.notes())


def test_a_click_on_empty_grid_draws_the_note_length_shown_beside_the_snap(qtbot, roll, doc):
    strip = roll.make_draw_strip()
    qtbot.addWidget(strip)
    assert roll.note_length == "1/4" and roll.note_length_box.currentText() == "1/4"
    before = doc.notes()
    qtbot.mouseClick(roll.grid, LEFT, NONE, at(roll, 3900, 70))  # snap 1/16, length 1/4
    assert set(doc.notes().values()) - set(before.values()) == {Note(70, 3840, 480)}
    check_undo_redo(doc, "Draw note", before, doc.notes())  # one click, one undo step
    roll.grid.setFocus()
    qtbot.keyClick(roll.grid, Qt.Key.Key_3)  # MuseScore's key for a sixteenth
    assert roll.note_length == "1/16" and roll.note_length_box.currentText() == "1/16"
    qtbot.keyClick(roll.grid, Qt.Key.Key_6)
    assert roll.note_length == "1/2"
    qtbot.mouseClick(roll.grid, LEFT, NONE, at(roll, 5800, 72))
    assert Note(72, 5760, 960) in doc.notes().values()
    roll.note_length_box.setCurrentIndex(roll.note_length_box.findData("snap"))
    roll.note_length_box.activated.emit(roll.note_length_box.currentIndex())
    roll.set_snap("1/8T")  # "Snap": one snap step, as before
    assert roll.snap_box.currentText() == "1/8T"
    qtbot.mouseClick(roll.grid, LEFT, NONE, at(roll, 7700, 74))
    assert Note(74, 7680, 160) in doc.notes().values()
    # a drag still draws as long as the drag
    drag(qtbot, roll.grid, at(roll, 9600 + 10, 76), at(roll, 9600 + 230, 76))
    assert Note(76, 9600, 320) in doc.notes().values()


def test_move_notes_by_dragging_with_snap(qtbot, roll, doc):
    before = doc.notes()
    note_id = id_of(doc, Note(62, 480, 480))
    # grab the middle of the note, drop it 1/16 + a bit later and two rows up
    drag(qtbot, roll.grid, at(roll, 720, 62), at(roll, 720 + 130, 64))
    assert doc.note(note_id) == Note(64, 600, 480)
    assert doc.selection == {note_id}
    check_undo_redo(doc, "Move notes", before, doc.notes())


def test_moving_a_selection_moves_all_of_it_in_one_step(qtbot, roll, doc):
    ids = [id_of(doc, Note(60, 0, 480)), id_of(doc, Note(62, 480, 480))]
    doc.set_selection(ids)
    before = doc.notes()
    drag(qtbot, roll.grid, at(roll, 700, 62), at(roll, 700 + 480, 62 - 12))
    assert [doc.note(i) for i in ids] == [Note(48, 480, 480), Note(50, 960, 480)]
    check_undo_redo(doc, "Move notes", before, doc.notes())


def test_resize_by_dragging_the_right_edge(qtbot, roll, doc):
    before = doc.notes()
    note_id = id_of(doc, Note(64, 960, 480))
    drag(qtbot, roll.grid, at(roll, 1440 - 6, 64), at(roll, 1440 + 240, 64))
    assert doc.note(note_id) == Note(64, 960, 720)
    check_undo_redo(doc, "Resize notes", before, doc.notes())


def test_resize_with_snap_off_follows_the_mouse(qtbot, roll, doc):
    roll.set_snap("off")
    note_id = id_of(doc, Note(64, 960, 480))
    px = roll.geometry.pixels_for_ticks
    start = at(roll, 1440, 64) - QPoint(2, 0)
    drag(qtbot, roll.grid, start, start + QPoint(round(px(100)), 0))
    assert abs(doc.note(note_id).duration_ticks - 580) <= 8  # within a pixel's worth


def test_right_click_erases_and_right_drag_erases_in_one_step(qtbot, roll, doc):
    before = doc.notes()
    qtbot.mouseClick(roll.grid, RIGHT, NONE, at(roll, 200, 60))
    assert Note(60, 0, 480) not in doc.notes().values()
    check_undo_redo(doc, "Erase notes", before, doc.notes())
    doc.undo_stack.undo()
    doc.undo_stack.clear()
    # a right-button sweep over the first three notes (C D E rise one row per note)
    qtbot.mousePress(roll.grid, RIGHT, NONE, at(roll, 200, 60))
    qtbot.mouseMove(roll.grid, at(roll, 700, 62))
    qtbot.mouseMove(roll.grid, at(roll, 1200, 64))
    qtbot.mouseRelease(roll.grid, RIGHT, NONE, at(roll, 1200, 64))
    assert len(doc) == 2
    check_undo_redo(doc, "Erase notes", before, doc.notes())


def test_delete_key_deletes_the_selection(qtbot, roll, doc):
    roll.grid.setFocus()
    ids = sorted(doc.notes())[:2]
    doc.set_selection(ids)
    before = doc.notes()
    qtbot.keyClick(roll.grid, Qt.Key.Key_Delete)
    assert not set(ids) & set(doc.notes())
    check_undo_redo(doc, "Delete notes", before, doc.notes())


def test_rubber_band_selects_the_notes_it_touches(qtbot, roll, doc):
    # from before the first note to the middle of the third, over pitches 59..63
    drag(qtbot, roll.grid, at(roll, -1, 63) + QPoint(2, 0), at(roll, 1100, 59), mods=SHIFT)
    expected = {id_of(doc, Note(60, 0, 480)), id_of(doc, Note(62, 480, 480))}
    assert doc.selection == expected
    assert doc.undo_stack.count() == 0  # selecting is not an edit
    # Ctrl keeps what was selected and adds the new band
    drag(qtbot, roll.grid, at(roll, 1500, 68), at(roll, 1800, 66), mods=CTRL)
    assert doc.selection == expected | {id_of(doc, Note(67, 1440, 480))}


def test_ctrl_click_toggles_and_plain_click_selects_one(qtbot, roll, doc):
    a, b = id_of(doc, Note(60, 0, 480)), id_of(doc, Note(64, 960, 480))
    qtbot.mouseClick(roll.grid, LEFT, NONE, at(roll, 200, 60))
    assert doc.selection == {a}
    qtbot.mouseClick(roll.grid, LEFT, CTRL, at(roll, 1200, 64))
    assert doc.selection == {a, b}
    qtbot.mouseClick(roll.grid, LEFT, CTRL, at(roll, 200, 60))
    assert doc.selection == {b}
    assert doc.undo_stack.count() == 0


def test_select_all_copy_and_paste_at_the_playhead(qtbot, roll, doc):
    roll.grid.setFocus()
    a, b = id_of(doc, Note(62, 480, 480)), id_of(doc, Note(64, 960, 480))
    doc.set_selection([a, b])
    qtbot.keyClick(roll.grid, Qt.Key.Key_C, CTRL)
    # the system clipboard holds a MIDI file of the clip, for other programs
    data = bytes(QApplication.clipboard().mimeData().data(MIDI_MIME).data())
    clip = midi_file_to_song(data).tracks[0].notes
    assert [(n.pitch, n.start_tick) for n in clip] == [(62, 0), (64, 480)]
    roll.set_playhead(7680)
    before = doc.notes()
    qtbot.keyClick(roll.grid, Qt.Key.Key_V, CTRL)
    pasted = {doc.note(i) for i in doc.selection}
    assert pasted == {Note(62, 7680, 480), Note(64, 8160, 480)}
    check_undo_redo(doc, "Paste", before, doc.notes())
    qtbot.keyClick(roll.grid, Qt.Key.Key_A, CTRL)
    assert doc.selection == set(doc.notes())


def test_cut_removes_and_paste_puts_back(qtbot, roll, doc):
    first = id_of(doc, Note(60, 0, 480))
    doc.set_selection([first])
    before = doc.notes()
    roll.cut()
    assert first not in doc and doc.undo_stack.undoText() == "Cut"
    roll.set_playhead(0)
    roll.paste()
    assert sorted(doc.notes().values(), key=Note.sort_key) == \
        sorted(before.values(), key=Note.sort_key)


def test_paste_takes_a_midi_file_another_program_copied(qtbot, roll, doc):
    from PySide6.QtCore import QMimeData
    from engine.formats import song_to_midi_bytes
    from engine.song import melody_song

    NoteClipboard.notes = []
    mime = QMimeData()
    mime.setData(MIDI_MIME, song_to_midi_bytes(melody_song([Note(50, 96, 48)], ppq=96)))
    QApplication.clipboard().setMimeData(mime)
    roll.set_playhead(1920)
    ids = roll.paste()
    assert [doc.note(i) for i in ids] == [Note(50, 1920, 240)]  # 96 ppq rescaled to 480


def test_arrow_keys_transpose_one_step_per_press(qtbot, roll, doc):
    roll.grid.setFocus()
    ids = sorted(doc.notes())[:2]
    doc.set_selection(ids)
    start = doc.notes()
    qtbot.keyClick(roll.grid, Qt.Key.Key_Up)
    assert [doc.note(i).pitch for i in ids] == [start[i].pitch + 1 for i in ids]
    qtbot.keyClick(roll.grid, Qt.Key.Key_Up, SHIFT)
    assert [doc.note(i).pitch for i in ids] == [start[i].pitch + 13 for i in ids]
    qtbot.keyClick(roll.grid, Qt.Key.Key_Down)
    assert doc.undo_stack.count() == 3 and doc.undo_stack.undoText() == "Transpose"
    qtbot.keyClick(roll.grid, Qt.Key.Key_Right)  # a snap step later
    assert [doc.note(i).start_tick for i in ids] == [start[i].start_tick + 120 for i in ids]
    for _ in range(4):
        doc.undo_stack.undo()
    assert doc.notes() == start


def test_velocity_drag_in_the_lane(qtbot, roll, doc):
    lane = roll.velocity_lane
    a, b = id_of(doc, Note(62, 480, 480)), id_of(doc, Note(64, 960, 480))
    before = doc.notes()
    x = round(roll.geometry.tick_to_x(480)) + 1
    drag(qtbot, lane, QPoint(x, round(lane.velocity_to_y(100))),
         QPoint(x, round(lane.velocity_to_y(40))))
    assert abs(doc.note(a).velocity - 40) <= 2 and doc.note(b).velocity == 100
    check_undo_redo(doc, "Change velocity", before, doc.notes())
    # a selected bar moves the whole selection by the same amount
    doc.undo_stack.undo()
    doc.undo_stack.clear()
    doc.set_selection([a, b])
    drag(qtbot, lane, QPoint(x, round(lane.velocity_to_y(100))),
         QPoint(x, round(lane.velocity_to_y(70))))
    assert doc.note(a).velocity == doc.note(b).velocity and abs(doc.note(a).velocity - 70) <= 2
    assert doc.undo_stack.count() == 1


def test_undo_and_redo_walk_a_session_of_gestures(qtbot, roll, doc):
    states = [doc.notes()]
    drag(qtbot, roll.grid, at(roll, 3850, 72), at(roll, 4300, 72))  # draw
    states.append(doc.notes())
    drag(qtbot, roll.grid, at(roll, 3900, 72), at(roll, 3900 + 480, 74))  # move it
    states.append(doc.notes())
    drag(qtbot, roll.grid, at(roll, 4800 - 6, 74), at(roll, 5280, 74))  # resize it
    states.append(doc.notes())
    qtbot.mouseClick(roll.grid, RIGHT, NONE, at(roll, 4500, 74))  # erase it
    states.append(doc.notes())
    assert [doc.undo_stack.text(i) for i in range(doc.undo_stack.count())] == \
        ["Draw note", "Move notes", "Resize notes", "Erase notes"]
    for state in reversed(states[:-1]):
        doc.undo_stack.undo()
        assert doc.notes() == state
    for state in states[1:]:
        doc.undo_stack.redo()
        assert doc.notes() == state


def wheel(widget, pos: QPoint, dy: int, mods=NONE) -> None:
    event = QWheelEvent(QPointF(pos), QPointF(widget.mapToGlobal(pos)), QPoint(0, 0),
                        QPoint(0, dy), Qt.MouseButton.NoButton, mods,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_ctrl_wheel_zooms_time_around_the_mouse_and_wheel_scrolls(qtbot, roll):
    geo = roll.geometry
    pos = QPoint(300, 100)
    tick = geo.x_to_tick(300)
    wheel(roll.grid, pos, 120, CTRL)
    assert geo.px_per_tick == pytest.approx(80 / 480 * 1.25)
    assert geo.x_to_tick(300) == pytest.approx(tick, abs=1)
    row = geo.row_height
    wheel(roll.grid, pos, -120, CTRL | SHIFT)
    assert geo.row_height == pytest.approx(row / 1.25)
    scroll_y = geo.scroll_y
    wheel(roll.grid, pos, -120)
    assert geo.scroll_y > scroll_y and roll.v_scroll.value() == round(geo.scroll_y)
    wheel(roll.grid, pos, -120, SHIFT)
    assert geo.scroll_x > 0 and roll.h_scroll.value() == round(geo.scroll_x)


def test_keyboard_reports_key_presses(qtbot, roll):
    kb = roll.keyboard
    y = round(roll.geometry.pitch_to_y(60) + roll.geometry.row_height / 2)
    with qtbot.waitSignal(roll.key_pressed) as pressed:
        qtbot.mousePress(kb, LEFT, NONE, QPoint(10, y))
    assert pressed.args == [60]
    with qtbot.waitSignal(roll.key_released) as released:
        qtbot.mouseRelease(kb, LEFT, NONE, QPoint(10, y))
    assert released.args == [60]


def test_ruler_click_moves_the_playhead_snapped(qtbot, roll):
    x = round(roll.geometry.tick_to_x(1930))
    with qtbot.waitSignal(roll.seek_requested) as seek:
        qtbot.mouseClick(roll.ruler, LEFT, NONE, QPoint(x, 10))
    assert seek.args == [1920] and roll.playhead_tick == 1920


def test_following_the_playhead_pages_the_view(qtbot, roll):
    roll.set_follow_playhead(True)
    far = round(roll.geometry.x_to_tick(roll.grid.width() * 3))
    roll.set_playhead(far)
    x = roll.geometry.tick_to_x(far)
    assert 0 <= x <= roll.grid.width() and roll.h_scroll.value() > 0
    roll.set_follow_playhead(False)
    roll.set_playhead(far * 3)
    assert roll.geometry.tick_to_x(far * 3) > roll.grid.width()


def pixel(roll: PianoRoll, tick: int, pitch: int) -> QColor:
    image = roll.grid.grab().toImage()
    p = at(roll, tick, pitch)
    return image.pixelColor(p.x(), p.y())


def test_seed_generated_selected_and_preview_notes_look_different(qtbot, roll, doc):
    gen = doc.insert_notes([Note(70, 0, 480)], 1920, GENERATED, "Keep variation")
    doc.set_selection([])
    assert pixel(roll, 200, 60) == style.NOTE_FILL[SEED]
    assert pixel(roll, 2100, 70) == style.NOTE_FILL[GENERATED]
    doc.set_selection(gen)
    assert pixel(roll, 2100, 70) == style.NOTE_FILL_SELECTED[GENERATED]
    empty = pixel(roll, 3000, 75)
    roll.set_preview_notes([Note(75, 2880, 480)])
    assert pixel(roll, 3000, 75) != empty
    roll.set_preview_notes(None)
    assert pixel(roll, 3000, 75) == empty


def test_drag_paints_a_preview_and_changes_nothing_until_release(qtbot, roll, doc):
    before = doc.notes()
    start, end = at(roll, 700, 62), at(roll, 700 + 960, 66)
    qtbot.mousePress(roll.grid, LEFT, NONE, start)
    qtbot.mouseMove(roll.grid, end)
    assert doc.notes() == before and doc.undo_stack.count() == 0
    assert pixel(roll, 1440 + 100, 66) == style.NOTE_FILL_SELECTED[SEED]  # the ghost
    qtbot.mouseRelease(roll.grid, LEFT, NONE, end)
    assert doc.undo_stack.count() == 1


def test_load_song_recentres_and_keeps_working(qtbot, roll, doc):
    from engine.song import melody_song

    doc.load_song(melody_song([Note(96, 0, 480)]))
    low, high = roll.geometry.visible_pitches(roll.grid.height())
    assert low <= 96 <= high
    qtbot.mouseClick(roll.grid, RIGHT, NONE, at(roll, 100, 96))
    assert len(doc) == 0


def test_many_paints_do_not_use_up_none(tmp_path):
    """PySide6 6.12.0 on Python 3.11 drops a reference to None on every void call,
    and the interpreter aborts with 'deallocating None' after some seconds of
    painting; pyproject.toml keeps PySide6 below 6.12 for that.  This guards it."""
    import subprocess
    import sys

    code = """if True:
        import os, sys
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from engine.song import Note, melody_song
        from gui.document import SongDocument
        from gui.pianoroll.view import PianoRoll
        doc = SongDocument(melody_song([Note(60 + i % 12, i * 120, 120) for i in range(400)]))
        roll = PianoRoll(doc)
        roll.resize(800, 500)
        before = sys.getrefcount(None)
        for _ in range(60):
            roll.grab()
        for _ in range(20000):
            roll.grid.update()
        print("ok", before)
    """
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, cwd=str(Path(__file__).resolve().parents[2]))
    assert result.returncode == 0, result.stderr[-500:]
    assert result.stdout.startswith("ok")


def test_grabbing_or_drawing_a_note_lets_the_app_sound_it(qtbot, roll):
    heard = []
    roll.key_pressed.connect(lambda p: heard.append(("on", p)))
    roll.key_released.connect(lambda p: heard.append(("off", p)))
    qtbot.mouseClick(roll.grid, LEFT, NONE, at(roll, 1200, 64))  # an existing note
    qtbot.mouseClick(roll.grid, LEFT, NONE, at(roll, 5000, 71))  # empty: draws
    assert heard == [("on", 64), ("off", 64), ("on", 71), ("off", 71)]


def test_a_drag_whose_note_is_undone_away_is_dropped(qtbot, roll, doc):
    drag(qtbot, roll.grid, at(roll, 3850, 72), at(roll, 4300, 72))  # draw a note
    qtbot.mousePress(roll.grid, LEFT, NONE, at(roll, 4000, 72))  # grab it
    qtbot.mouseMove(roll.grid, at(roll, 4500, 74))
    doc.undo_stack.undo()  # e.g. Ctrl+Z from a menu while the button is down
    assert roll.grid.drag is None
    roll.grid.grab()  # paints without the vanished note
    qtbot.mouseRelease(roll.grid, LEFT, NONE, at(roll, 4500, 74))
    assert doc.undo_stack.count() == 1 and doc.undo_stack.index() == 0


def test_snap_choices_and_a_wrong_one(qtbot, roll):
    with qtbot.waitSignal(roll.snap_changed) as changed:
        roll.set_snap("1/8T")
    assert changed.args == ["1/8T"] and roll.snap_step() == 160
    with pytest.raises(ValueError):
        roll.set_snap("1/3")


def test_the_key_s_scale_rows_are_tinted(qtbot, roll, doc):
    from engine.encodings import Key

    def row(pitch: int) -> QColor:
        return pixel(roll, 1700, pitch)  # an empty spot between grid lines

    assert doc.key == Key(0, False)
    e_in_c, f_sharp_in_c = row(64), row(66)
    doc.set_key(Key(6, False))  # F# major: F# joins the scale, E leaves it
    assert row(64) != e_in_c and row(66) != f_sharp_in_c
    doc.undo_stack.undo()
    assert row(64) == e_in_c and row(66) == f_sharp_in_c


def test_dragging_past_the_edge_scrolls_and_moves_the_note_out_of_view(qtbot, roll, doc):
    note_id = id_of(doc, Note(62, 480, 480))
    width = roll.grid.width()
    qtbot.mousePress(roll.grid, LEFT, NONE, at(roll, 700, 62))
    qtbot.mouseMove(roll.grid, at(roll, 1000, 62))
    outside = QPoint(width + 60, at(roll, 700, 62).y())
    qtbot.mouseMove(roll.grid, outside)
    qtbot.waitUntil(lambda: roll.geometry.scroll_x > 400, timeout=5000)
    qtbot.mouseRelease(roll.grid, LEFT, NONE, outside)
    moved = doc.note(note_id)
    assert moved.pitch == 62
    assert roll.geometry.tick_to_x(moved.start_tick) > width - 80  # followed the mouse
    assert moved.start_tick % 120 == 0  # still on the 1/16 grid
    assert doc.undo_stack.count() == 1


def test_escape_cancels_a_drag_without_an_edit(qtbot, roll, doc):
    released = []
    roll.key_released.connect(released.append)
    before = doc.notes()
    qtbot.mousePress(roll.grid, LEFT, NONE, at(roll, 700, 62))
    qtbot.mouseMove(roll.grid, at(roll, 1700, 66))
    qtbot.keyClick(roll.grid, Qt.Key.Key_Escape)
    qtbot.mouseRelease(roll.grid, LEFT, NONE, at(roll, 1700, 66))
    assert doc.notes() == before and doc.undo_stack.count() == 0
    assert released == [62]  # the auditioned note is let go
    qtbot.keyClick(roll.grid, Qt.Key.Key_Escape)  # a second Escape clears the selection
    assert doc.selection == frozenset()


def test_the_end_of_one_note_and_the_start_of_the_next_are_both_reachable(qtbot, roll, doc):
    a, b = doc.add_notes([Note(72, 3840, 480), Note(72, 4320, 480)])
    doc.undo_stack.clear()
    boundary = roll.geometry.tick_to_x(4320)
    y = at(roll, 4320, 72).y()
    drag(qtbot, roll.grid, QPoint(round(boundary) - 3, y), QPoint(round(boundary) - 3 + 40, y))
    assert doc.note(a).duration_ticks == 720 and doc.note(b).start_tick == 4320  # resized a
    doc.undo_stack.undo()
    drag(qtbot, roll.grid, QPoint(round(boundary) + 4, y), QPoint(round(boundary) + 4 + 40, y))
    assert doc.note(a).duration_ticks == 480 and doc.note(b).start_tick == 4560  # moved b


def test_a_second_button_does_not_end_or_restart_a_gesture(qtbot, roll, doc):
    note_id = id_of(doc, Note(62, 480, 480))
    qtbot.mousePress(roll.grid, LEFT, NONE, at(roll, 700, 62))
    qtbot.mouseMove(roll.grid, at(roll, 940, 62))
    qtbot.mousePress(roll.grid, RIGHT, NONE, at(roll, 940, 62))
    qtbot.mouseRelease(roll.grid, RIGHT, NONE, at(roll, 940, 62))
    assert doc.undo_stack.count() == 0 and roll.grid.drag is not None
    qtbot.mouseMove(roll.grid, at(roll, 1180, 62))
    qtbot.mouseRelease(roll.grid, LEFT, NONE, at(roll, 1180, 62))
    assert doc.note(note_id).start_tick == 960 and doc.undo_stack.count() == 1


def test_soft_notes_are_shaded_darker(qtbot, roll, doc):
    loud = pixel(roll, 200, 60)
    doc.set_velocity([id_of(doc, Note(60, 0, 480))], 30)
    soft = pixel(roll, 200, 60)
    assert loud == style.NOTE_FILL[SEED]
    assert soft.lightness() < loud.lightness()


def test_each_track_has_a_colour_of_its_own_and_the_active_one_stands_out(qtbot, roll, doc):
    from engine.song import Song, Track

    voices = [("Soprano", 72), ("Alto", 67), ("Tenor", 62), ("Bass", 55)]
    doc.load_song(Song(tracks=[Track(name, channel=i, notes=[Note(p, 0, 480, channel=i)])
                               for i, (name, p) in enumerate(voices)] +
                       [Track("lead", notes=[Note(60, 0, 480)]),
                        Track("bass", channel=1, notes=[Note(58, 0, 480, channel=1)])]))
    drawn = [pixel(roll, 200, p) for _, p in voices]
    assert drawn[0].name() == style.track_colour(0).name()  # the active track: its colour
    assert len({c.name() for c in drawn}) == 4  # four voices, four colours
    hues = [c.hslHue() for c in drawn]
    assert min(abs(a - b) for i, a in enumerate(hues) for b in hues[i + 1:]) >= 30
    for track, colour in enumerate(drawn[1:], 1):  # dimmed, in their own hue
        assert colour.name() == style.note_fill(SEED, False, 2, track, active=False).name()
        assert colour.lightness() < style.track_colour(track).lightness()
        assert abs(colour.hslHue() - style.track_colour(track).hslHue()) <= 6
    with qtbot.waitSignal(doc.active_track_changed):
        doc.active_track = 3
    assert pixel(roll, 200, 55).name() == style.track_colour(3).name()
    assert pixel(roll, 200, 72).name() == style.note_fill(SEED, False, 2, 0, False).name()
    assert pixel(roll, 200, 60).name() == style.note_fill(SEED, False, 2, 4, False).name()


def test_notes_of_other_tracks_are_dimmed(qtbot, roll, doc):
    from engine.song import Song, Track

    doc.load_song(Song(tracks=[Track("lead", notes=[Note(60, 0, 480)]),
                               Track("bass", channel=1, notes=[Note(62, 0, 480, channel=1)])]))
    assert pixel(roll, 200, 60) == style.NOTE_FILL[SEED]
    assert pixel(roll, 200, 62).name() == style.note_fill(SEED, False, 2, 1, False).name()
    with qtbot.waitSignal(doc.active_track_changed):
        doc.active_track = 1
    assert pixel(roll, 200, 60).name() == style.note_fill(SEED, False, 2, 0, False).name()
    assert pixel(roll, 200, 62).name() == style.track_colour(1).name()
    drag(qtbot, roll.grid, at(roll, 960, 64), at(roll, 1400, 64))  # drawn on the active track
    new = [i for i, n in doc.notes().items() if n.pitch == 64]
    assert doc.track_of(new[0]) == 1 and doc.note(new[0]).channel == 1


def test_a_rubber_band_shows_what_it_will_select_before_release(qtbot, roll, doc):
    qtbot.mousePress(roll.grid, LEFT, SHIFT, at(roll, 100, 61))
    qtbot.mouseMove(roll.grid, at(roll, 300, 59))
    assert doc.selection == frozenset()  # not selected yet ...
    shown = pixel(roll, 200, 60)  # ... but painted selected, under the band's tint
    assert shown.lightness() > style.NOTE_FILL[SEED].lightness() + 40
    qtbot.mouseRelease(roll.grid, LEFT, SHIFT, at(roll, 300, 59))
    assert doc.selection == {id_of(doc, Note(60, 0, 480))}


def test_fit_song_shows_every_note(qtbot, roll, doc):
    doc.add_notes([Note(40, 60_000, 480), Note(90, 100, 100)])
    roll.actions["view_fit_song"].trigger()
    start, end = roll.geometry.visible_ticks(roll.grid.width())
    low, high = roll.geometry.visible_pitches(roll.grid.height())
    assert start == 0 and end >= 60_480
    assert set(doc.notes_in_range(start, end, low, high)) == set(doc.notes())
    before = roll.geometry.px_per_tick
    roll.actions["view_zoom_in"].trigger()
    assert roll.geometry.px_per_tick == pytest.approx(before * 1.25)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_mouse_sessions_undo_back_to_the_start(qtbot, roll, doc, seed):
    """Any mix of draws, moves, resizes, erases, bands and velocity drags: each pushes
    at most one command, and undoing them all gives back the notes exactly."""
    import random

    rng = random.Random(seed)
    start = doc.notes()
    w, h = roll.grid.width(), roll.grid.height()
    lane = roll.velocity_lane
    for _ in range(25):
        count = doc.undo_stack.count()
        p0 = QPoint(rng.randrange(5, w - 5), rng.randrange(5, h - 5))
        p1 = p0 + QPoint(rng.randrange(-150, 150), rng.randrange(-60, 60))
        p1 = QPoint(min(max(p1.x(), 1), w - 1), min(max(p1.y(), 1), h - 1))
        kind = rng.choice(["left", "left", "right", "band", "lane", "key"])
        if kind == "left":
            drag(qtbot, roll.grid, p0, p1)
        elif kind == "right":
            drag(qtbot, roll.grid, p0, p1, button=RIGHT)
        elif kind == "band":
            drag(qtbot, roll.grid, p0, p1, mods=SHIFT)
        elif kind == "lane":
            x = p0.x()
            drag(qtbot, lane, QPoint(x, rng.randrange(2, lane.height() - 2)),
                 QPoint(x, rng.randrange(2, lane.height() - 2)))
        else:
            roll.grid.setFocus()
            qtbot.keyClick(roll.grid, rng.choice([Qt.Key.Key_Up, Qt.Key.Key_Down,
                                                  Qt.Key.Key_Left, Qt.Key.Key_Right]))
        assert doc.undo_stack.count() - count in (0, 1)
    assert doc.undo_stack.count() >= 5  # the session really edited
    while doc.undo_stack.canUndo():
        doc.undo_stack.undo()
    assert doc.notes() == start


def test_shift_drag_in_the_lane_draws_a_crescendo_in_one_step(qtbot, roll, doc):
    lane = roll.velocity_lane
    geo = roll.geometry
    ids = [id_of(doc, n) for n in (Note(60, 0, 480), Note(62, 480, 480), Note(64, 960, 480),
                                   Note(67, 1440, 480))]
    before = doc.notes()
    start = QPoint(round(geo.tick_to_x(0)), round(lane.velocity_to_y(20)))
    end = QPoint(round(geo.tick_to_x(1440)), round(lane.velocity_to_y(120)))
    drag(qtbot, lane, start, end, mods=SHIFT)
    velocities = [doc.note(i).velocity for i in ids]
    assert velocities == sorted(velocities) and velocities[0] <= 23 and velocities[-1] >= 117
    assert doc.note(id_of(doc, Note(60, 1920, 960))).velocity == 100  # past the line's end
    check_undo_redo(doc, "Change velocity", before, doc.notes())


def test_the_app_exits_cleanly_after_copying_to_the_system_clipboard():
    """A clip left on the clipboard used to crash the process at exit (SIGSEGV in a Qt
    exit handler after Python had finalized); the app releases it at aboutToQuit."""
    import subprocess
    import sys

    code = """if True:
        import os
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from engine.song import Note, melody_song
        from gui.document import SongDocument
        from gui.pianoroll.view import PianoRoll
        doc = SongDocument(melody_song([Note(60, 0, 480), Note(64, 480, 480)]))
        roll = PianoRoll(doc)
        roll.select_all()
        roll.copy()
        QTimer.singleShot(0, app.quit)
        app.exec()
    """
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, cwd=str(Path(__file__).resolve().parents[2]))
    assert result.returncode == 0, (result.returncode, result.stderr[-500:])


def test_a_new_song_opens_showing_several_bars(qtbot, roll, doc):
    from engine.song import Song, Track

    doc.load_song(Song(tracks=[Track(name="Melody")]))
    start, end = roll.geometry.visible_ticks(roll.grid.width())
    bar = doc.time_signature.ticks_per_bar(doc.ppq)
    assert start == 0 and 4 * bar <= end <= 5 * bar
    doc.load_song(Song(tracks=[Track(name="Melody", notes=[Note(60, 0, 480)])]))
    assert roll.geometry.visible_ticks(roll.grid.width())[1] >= 4 * bar  # one note: too
