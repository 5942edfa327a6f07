"""A time range selected by a Shift drag in the piano roll's ruler, and Fill taking it.

Real mouse and key events on shown widgets (offscreen), and the real fill model through
the real worker and generation service.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt

from engine.song import Note, melody_song
from gui.pianoroll.view import PianoRoll
from tests.gui.test_fill import TPB, fill_library  # noqa: F401 - the shipped models, once

LEFT = Qt.MouseButton.LeftButton
SHIFT, NONE = Qt.KeyboardModifier.ShiftModifier, Qt.KeyboardModifier.NoModifier
SCALE = [60, 62, 64, 65, 67, 69, 71, 72]
FOUR_BARS = [Note(SCALE[i % 8], i * 480, 480) for i in range(16)]  # quarters, 4/4, 480 ppq


def x_of(roll: PianoRoll, tick: float) -> int:
    return round(roll.geometry.tick_to_x(tick))


def ruler_drag(qtbot, roll: PianoRoll, start_tick: float, end_tick: float, mods=SHIFT,
               steps: int = 5) -> None:
    """Press at ``start_tick`` in the ruler, move there in steps, release at ``end_tick``."""
    start, end = QPoint(x_of(roll, start_tick), 10), QPoint(x_of(roll, end_tick), 10)
    qtbot.mousePress(roll.ruler, LEFT, mods, start)
    for i in range(1, steps + 1):
        qtbot.mouseMove(roll.ruler, start + (end - start) * i / steps)
    qtbot.mouseRelease(roll.ruler, LEFT, mods, end)


def test_shift_drag_selects_a_range_snapped_to_the_grid(qtbot, roll, doc):
    playhead, depth = roll.playhead_tick, doc.undo_stack.count()
    with qtbot.waitSignal(roll.time_range_changed):
        ruler_drag(qtbot, roll, 1930, 1100)  # right to left, a little off the lines
    assert roll.time_range() == (1080, 1920)  # sixteenths: 1100 -> 1080, 1930 -> 1920
    assert roll.playhead_tick == playhead, "a Shift drag leaves the playhead alone"
    assert doc.undo_stack.count() == depth, "a range is view state, not an undo step"

    roll.set_snap("1/4")
    ruler_drag(qtbot, roll, 500, 2300)
    assert roll.time_range() == (480, 2400)


def test_plain_click_moves_the_playhead_and_clears_the_range(qtbot, roll):
    ruler_drag(qtbot, roll, 0, 1920)
    assert roll.time_range() == (0, 1920)
    with qtbot.waitSignal(roll.seek_requested) as seek:
        qtbot.mouseClick(roll.ruler, LEFT, NONE, QPoint(x_of(roll, 965), 10))
    assert seek.args == [960] and roll.playhead_tick == 960
    assert roll.time_range() is None

    ruler_drag(qtbot, roll, 480, 1440, mods=NONE)  # a plain drag still scrubs
    assert roll.playhead_tick == 1440 and roll.time_range() is None


def test_escape_clears_the_range_before_the_selection(qtbot, roll, doc):
    doc.select_all()
    ruler_drag(qtbot, roll, 480, 1440)
    roll.grid.setFocus()
    with qtbot.waitSignal(roll.time_range_changed) as changed:
        qtbot.keyClick(roll.grid, Qt.Key.Key_Escape)
    assert changed.args == [None] and roll.time_range() is None
    assert doc.selection, "the first Escape only clears the range"
    qtbot.keyClick(roll.grid, Qt.Key.Key_Escape)
    assert not doc.selection


def test_double_click_selects_the_bar(qtbot, roll, doc):
    qtbot.mouseDClick(roll.ruler, LEFT, NONE, QPoint(x_of(roll, 2500), 10))
    assert roll.time_range() == (1920, 3840)
    doc.set_time_signature(3, 4)
    qtbot.mouseDClick(roll.ruler, LEFT, NONE, QPoint(x_of(roll, 1500), 10))
    assert roll.time_range() == (1440, 2880)


def test_opening_a_song_clears_the_range(qtbot, roll, doc):
    ruler_drag(qtbot, roll, 0, 960)
    doc.load_song(melody_song(FOUR_BARS))
    assert roll.time_range() is None


@pytest.fixture
def window(qtbot, isolated_settings, fill_library):  # noqa: F811
    from gui.main_window import MainWindow

    window = MainWindow(library=fill_library, playback=False)
    qtbot.addWidget(window, before_close_func=lambda w: w.doc.undo_stack.setClean())
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    window.doc.load_song(melody_song(FOUR_BARS))
    window.roll.set_snap("1/16")
    yield window
    if window.panel.job is not None:
        window.panel.cancel()
        qtbot.waitUntil(lambda: window.panel.job is None, timeout=30000)


def test_fill_takes_the_range_and_keep_replaces_it_in_one_undo_step(qtbot, window):
    doc, panel, roll = window.doc, window.panel, window.roll
    panel.select_model("lstm-fill")
    panel.variations_spin.setValue(2)
    doc.set_selection([])
    ruler_drag(qtbot, roll, TPB + 10, 3 * TPB - 10)  # bars 2-3
    assert roll.time_range() == (TPB, 3 * TPB)
    assert window.statusBar().currentMessage().startswith("Bars 2-3 selected: Fill")
    window.grab().save("/tmp/ruler_range.png")

    before = dict(doc.notes())
    inside = {i for i, n in before.items() if TPB <= n.start_tick < 3 * TPB}
    with qtbot.waitSignal(panel.variations_ready, timeout=120000):
        window.generate_fill.trigger()
    qtbot.waitUntil(lambda: panel.job is None)
    assert panel.result.model == "lstm-fill"
    for i in range(2):
        assert all(TPB <= n.start_tick and n.end_tick <= 3 * TPB
                   for n in panel.variation_notes(i))

    chosen = panel.variation_notes(1)
    panel.variations.set_current_index(1)
    depth = doc.undo_stack.count()
    ids = panel.keep_variation()
    assert doc.undo_stack.count() == depth + 1 and doc.undo_stack.undoText() == "Fill"
    after = doc.notes()
    assert not inside & set(after), "every note that started inside the range is gone"
    assert all(after[i] == n for i, n in before.items() if i not in inside)
    assert sorted((after[i] for i in ids), key=Note.sort_key) == sorted(chosen,
                                                                          key=Note.sort_key)
    assert roll.time_range() == (TPB, 3 * TPB), "the range stays: fill it again at will"
    doc.undo_stack.undo()
    assert doc.notes() == before


def test_fill_with_nothing_selected_says_both_ways(qtbot, window):
    window.doc.set_selection([])
    assert not window.panel.fill()
    text = window.panel.messages.text()
    assert "Select the notes" in text and "Shift in the ruler" in text


def test_the_status_bar_names_the_range(qtbot, window):
    message = window.statusBar().currentMessage
    ruler_drag(qtbot, window.roll, TPB, 2 * TPB)
    assert message().startswith("Bar 2 selected")
    ruler_drag(qtbot, window.roll, TPB + 480, 2 * TPB + 960)
    assert message().startswith("From 2.2 to 3.3 (bar.beat) selected")


def test_a_range_wins_over_the_selected_notes(qtbot, window):
    doc = window.doc
    doc.select_all()
    assert window.panel.fills.selected_gap().start_tick == 0
    ruler_drag(qtbot, window.roll, 2 * TPB, 3 * TPB)
    gap = window.panel.fills.selected_gap()
    assert (gap.start_tick, gap.end_tick, gap.track) == (2 * TPB, 3 * TPB, doc.active_track)
