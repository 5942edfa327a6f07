"""What a new user meets first (issue 15): the seed Generate continues, where the result
shows, what Audition plays, Help and its keys, and the small things around them.

Driven through the shown main window with real mouse and key events where a user would
use them."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QToolBar

from engine.song import Note
from tests.gui.test_app import make_window, model_named

LEFT = Qt.MouseButton.LeftButton
NONE = Qt.KeyboardModifier.NoModifier
CTRL, SHIFT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier


def at(roll, tick: float, pitch: int) -> QPoint:
    geo = roll.geometry
    return QPoint(round(geo.tick_to_x(tick)) + 2, round(geo.pitch_to_y(pitch) + geo.row_height / 2))


def in_view(roll, notes) -> bool:
    """Every note wholly inside the grid's viewport."""
    geo, w, h = roll.geometry, roll.grid.width(), roll.grid.height()
    low, high = geo.visible_pitches(h)
    return all(geo.tick_to_x(n.start_tick) >= 0 and geo.tick_to_x(n.end_tick) <= w + 0.5
               and low <= n.pitch <= high for n in notes)


def active(qtbot, window):
    window.activateWindow()
    window.roll.grid.setFocus()
    qtbot.waitUntil(lambda: window.isActiveWindow())


def draw_note(qtbot, window, tick: int, pitch: int) -> int:
    """Click once on the empty grid; returns the drawn note's id."""
    before = set(window.doc.notes())
    qtbot.mouseClick(window.roll.grid, LEFT, NONE, at(window.roll, tick, pitch))
    (new,) = set(window.doc.notes()) - before
    return new


def test_a_song_opens_fitted_to_the_window(qtbot, library, isolated_settings):
    window = make_window(qtbot, library)
    assert in_view(window.roll, window.doc.notes().values())  # bar 4 is not cut off
    end = window.roll.geometry.visible_ticks(window.roll.grid.width())[1]
    assert end < 2 * window.doc.end_tick  # ... and the seed fills the view


def test_a_drawn_note_does_not_become_the_seed(qtbot, library, isolated_settings):
    window = make_window(qtbot, library)
    doc, panel = window.doc, window.panel
    whole = doc.song().tracks[doc.active_track].notes
    drawn = draw_note(qtbot, window, 960, 73)  # C#: the drawn note alone is not G major
    assert doc.selection == {drawn}  # drawn notes are selected, to move or delete them ...
    assert not panel.from_selection() and doc.seed_selection == frozenset()  # ... not seeds
    seed = panel._seed_song().tracks[doc.active_track].notes
    assert len(seed) == len(whole) + 1
    assert panel.key_combo.itemText(0) == "Auto"  # the seed changed: its key is not known
    # the default seed has two parts: a polyphonic model (when one is installed) continues
    # both, a melody model the active track
    if panel.is_polyphonic():
        assert "every part of the whole song" in panel.seed_label.text()
    else:
        assert f"the track {doc.tracks[doc.active_track].name!r}" in panel.seed_label.text()
    assert panel.generate_button.text() == "Generate"

    # a deliberate click on the note makes it the seed, and the panel says so
    qtbot.mouseClick(window.roll.grid, LEFT, NONE, at(window.roll, 980, 73))
    assert doc.seed_selection == {drawn} and panel.from_selection()
    assert "from the selection" in panel.seed_label.text()
    assert "from the selection" in panel.generate_button.text()
    assert panel.key_combo.itemText(0) == "Auto"

    # Escape selects nothing: the whole song again; Select All is deliberate too
    active(qtbot, window)
    qtbot.keyClick(window.roll.grid, Qt.Key.Key_Escape)
    assert not panel.from_selection()
    qtbot.keyClick(window.roll.grid, Qt.Key.Key_A, CTRL)
    assert doc.seed_selection == frozenset(doc.notes())

    # a pasted or undone-back note is not deliberate either
    doc.set_selection(())
    doc.undo_stack.undo()  # the drawn note goes
    doc.undo_stack.redo()  # ... and comes back selected
    assert doc.selection == {drawn} and not panel.from_selection()


def test_generate_shows_the_preview_fit_song_includes_it_and_audition_starts_at_the_seeds_last_bar(
        qtbot, library, isolated_settings):
    window = make_window(qtbot, library)
    doc, panel, roll = window.doc, window.panel, window.roll
    song_end = doc.end_tick
    draw_note(qtbot, window, 480, 74)  # drawn early in the song: not where it continues
    panel.select_model(model_named(library, "lstm"))
    panel.bars.setValue(4)
    panel.variations_spin.setValue(2)
    with qtbot.waitSignal(panel.generation_finished, timeout=120000):
        window.generate_run.trigger()
    assert panel.result is not None, panel.messages.text()
    assert panel.result.start_tick >= song_end  # the whole song was continued
    preview = roll.preview_notes
    assert preview and min(n.start_tick for n in preview) >= song_end
    assert in_view(roll, preview)  # the view went to the variation

    roll.scroll_to_tick(0)
    roll.actions["view_fit_song"].trigger()
    assert in_view(roll, preview) and in_view(roll, doc.notes().values())

    panel.variations.set_current_index(1)  # stepping keeps the variation in view
    assert in_view(roll, roll.preview_notes)

    played = []
    window.transport.play_song = lambda song, start=0, end=None, loop=False: played.append(
        (song, start))
    panel.variations.play_button.click()
    (song, start), = played
    bar = doc.song().ticks_per_bar_at(0)
    assert start == panel.result.start_tick - bar  # the seed's last bar ...
    lead_in = [n for n in song.notes() if n.start_tick < panel.result.start_tick]
    assert lead_in and min(n.start_tick for n in lead_in) >= start  # ... then the variation
    assert set(panel.variation_notes(1)) <= set(song.notes())

    # opening another song leaves no "100%" behind
    assert panel.progress.text() == "100%"
    window.doc.undo_stack.setClean()
    window.open_default_seed()
    assert panel.progress.text() == ""


def test_ctrl_y_and_ctrl_shift_z_redo(qtbot, library, isolated_settings):
    window = make_window(qtbot, library)
    doc = window.doc
    active(qtbot, window)
    doc.add_notes([Note(80, 0, 240)], text="Draw note")
    count = len(doc)
    for keys in ((Qt.Key.Key_Y, CTRL), (Qt.Key.Key_Z, CTRL | SHIFT)):
        qtbot.keyClick(window.roll.grid, Qt.Key.Key_Z, CTRL)
        assert len(doc) == count - 1
        qtbot.keyClick(window.roll.grid, *keys)
        assert len(doc) == count


def test_f1_opens_help_with_the_mouse_gestures_and_the_keys(qtbot, library, isolated_settings):
    window = make_window(qtbot, library)
    active(qtbot, window)
    qtbot.keyClick(window.roll.grid, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: window.help_panel is not None and window.help_panel.isVisible())
    text = window.help_panel.text().lower()
    for words in ("click on an empty place", "draws a note", "drag a note",
                  "right end of a note", "right-click", "deletes", "velocity lane",
                  "shift+drag", "ctrl+wheel", "ruler", "double-click a variation",
                  "from the selection"):
        assert words in text, words
    assert "ctrl+y" in text and "ctrl+shift+z" in text and "ctrl+g" in text
    window.help_panel.close()


def test_toolbar_about_and_menu_names(qtbot, library, isolated_settings):
    window = make_window(qtbot, library)
    from gui.toolbar import FixedActionButton

    buttons = window.findChildren(FixedActionButton)
    assert [b.text() for b in buttons] == ["Undo", "Redo"]
    undo = buttons[0]
    widths = [b.width() for b in buttons]
    play = window.transport.play_action
    tb = window.findChild(QToolBar, "main_toolbar")
    play_x = tb.widgetForAction(play).x()
    window.doc.add_notes([Note(80, 0, 240)], text="Keep a rather long variation name")
    QApplication.processEvents()
    assert [b.width() for b in buttons] == widths
    assert tb.widgetForAction(play).x() == play_x
    assert undo.isEnabled() and "Keep a rather long variation name" in undo.toolTip()
    undo.click()
    assert not undo.isEnabled()

    from gui.help import about_html, app_version

    text = about_html(library.models)
    assert app_version() in text and app_version() != "unknown"
    assert "TimGM6mb" in text and "Tim Brechbill" in text
    for m in library.models:
        if m.bits_per_note is not None:
            assert f"{m.bits_per_note:.3f} bits per note" in text
    assert window.dock.toggleViewAction().text().replace("&", "") != "Generate"
