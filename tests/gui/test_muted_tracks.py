"""A muted track looks muted: its notes are drawn dimmed in the piano roll and the
velocity lane (further than another track's when it is not the active one), and the
strip's Mute button is lit while the active track is muted, its text kept. Driven with
real clicks on the shown window."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QToolButton

from engine.song import Note, Song, Track
from gui.document import SEED
from gui.pianoroll import style

LEFT = Qt.MouseButton.LeftButton
MELODY = [Note(p, i * 480, 480) for i, p in enumerate([72, 74, 76, 77, 79, 77, 76, 74])]
BASS = [Note(48, 0, 1920, channel=1), Note(53, 1920, 1920, channel=1)]
INNER = [Note(64, 0, 960, channel=2), Note(65, 960, 960, channel=2)]


def _fill_at(roll, note: Note):
    """The colour painted at the middle of ``note`` in the piano roll's grid (RGB)."""
    QApplication.processEvents()
    x, y, w, h = roll.geometry.note_rect(note.start_tick, note.duration_ticks, note.pitch)
    return roll.grid.grab().toImage().pixelColor(round(x + w / 2), round(y + h / 2)).rgb()


def _fill(track: int, active: bool, muted: bool, velocity: int = 100) -> int:
    return style.note_fill(SEED, False, style.loudness(velocity), track, active, muted).rgb()


def _lightness(rgb: int) -> int:
    return QColor(rgb).lightness()


def test_a_muted_track_is_drawn_dimmed_and_its_mute_lit(qtbot, library, isolated_settings):
    from tests.gui.test_app import make_window

    window = make_window(qtbot, library)
    doc, roll = window.doc, window.roll
    doc.load_song(Song(tracks=[Track("Melody", 0, 0, notes=MELODY),
                               Track("Bass", 1, 32, notes=BASS),
                               Track("Inner", 2, 0, notes=INNER)]))
    mute = window.track_strip.findChild(QToolButton, "track_mute_button")
    unlit = mute.grab().toImage()
    # other tracks than the active one: dimmed half way
    assert _fill_at(roll, BASS[0]) == _fill(1, False, False)
    assert _fill_at(roll, INNER[0]) == _fill(2, False, False)

    doc.active_track = 1
    qtbot.mouseClick(mute, LEFT)  # the bass muted, and active
    assert doc.muted_tracks == {1} and mute.isChecked() and mute.text() == "Mute"
    assert mute.grab().toImage() != unlit  # lit
    assert _fill_at(roll, BASS[0]) == _fill(1, True, True) == _fill(1, False, False)
    assert _fill_at(roll, MELODY[0]) == _fill(0, False, False)

    doc.active_track = 0  # the muted bass is not the active track: dimmer than the inner
    assert not mute.isChecked() and mute.text() == "Mute"
    muted, other = _fill_at(roll, BASS[0]), _fill_at(roll, INNER[0])
    assert muted == _fill(1, False, True) and other == _fill(2, False, False)
    assert _lightness(muted) < _lightness(_fill(1, False, False))
    assert _fill_at(roll, MELODY[0]) == _fill(0, True, False)  # the active track, bright

    doc.undo_stack.undo()  # unmuted: as before
    assert _fill_at(roll, BASS[0]) == _fill(1, False, False)
    doc.undo_stack.setClean()


def test_the_velocity_lane_dims_a_muted_track_too(qtbot, library, isolated_settings):
    from tests.gui.test_app import make_window

    window = make_window(qtbot, library)
    doc, roll = window.doc, window.roll
    doc.load_song(Song(tracks=[Track("Melody", 0, 0, notes=MELODY)]))
    lane = roll.velocity_lane
    QApplication.processEvents()
    x = round(roll.geometry.tick_to_x(MELODY[2].start_tick)) + 1
    bright = lane.grab().toImage().pixelColor(QPoint(x, lane.height() - 4)).rgb()
    doc.set_track_muted(0, True)
    QApplication.processEvents()
    dimmed = lane.grab().toImage().pixelColor(QPoint(x, lane.height() - 4)).rgb()
    assert bright == style.note_fill(SEED, False, 2, 0, True).rgb()
    assert dimmed == style.note_fill(SEED, False, 2, 0, True, True).rgb()
    doc.undo_stack.setClean()
