"""Colours and sizes shared by the piano roll's parts, kept in one place so they agree."""

from __future__ import annotations

from PySide6.QtGui import QColor

from gui.document import GENERATED, SEED

BACKGROUND_WHITE_ROW = QColor("#2b2f36")
BACKGROUND_BLACK_ROW = QColor("#23262c")
SCALE_TINT = QColor(90, 150, 120, 45)  # rows of the current key's scale
TONIC_TINT = QColor(90, 160, 120, 70)
BAR_LINE = QColor("#8a909c")
BEAT_LINE = QColor("#4d535e")
STEP_LINE = QColor("#363a42")
ROW_LINE = QColor("#1d2025")
PLAYHEAD = QColor("#ff5a4f")
BAND_FILL = QColor(120, 170, 255, 50)
BAND_EDGE = QColor(120, 170, 255, 200)

OTHER_TRACK = "other track"  # notes of tracks other than the active one, dimmed
NOTE_FILL = {SEED: QColor("#4a90d9"), GENERATED: QColor("#e8963d"),
             OTHER_TRACK: QColor("#6b7078")}
NOTE_FILL_SELECTED = {SEED: QColor("#a9d0ff"), GENERATED: QColor("#ffd08a"),
                      OTHER_TRACK: QColor("#c4c8ce")}
NOTE_EDGE = QColor("#10141a")
NOTE_EDGE_SELECTED = QColor("#ffffff")
LOUDNESS_DARKER = (160, 125, 100)  # QColor.darker() per loudness level: soft, medium, loud


def loudness(velocity: int) -> int:
    """0 (soft, up to 48), 1 (medium, up to 84) or 2 (loud): notes are shaded by it."""
    return 0 if velocity <= 48 else 1 if velocity <= 84 else 2


def note_fill(origin: str, selected: bool, level: int) -> QColor:
    """Fill of a note: its origin's colour, lighter when selected, darker when soft."""
    base = (NOTE_FILL_SELECTED if selected else NOTE_FILL)[origin]
    return base.darker(LOUDNESS_DARKER[level])


PREVIEW_FILL = QColor(232, 150, 61, 90)
PREVIEW_EDGE = QColor(255, 208, 138, 200)
GHOST_FILL = QColor(255, 255, 255, 60)  # where dragged notes were / will go

KEYBOARD_WIDTH = 56
RULER_HEIGHT = 24
VELOCITY_HEIGHT = 72
