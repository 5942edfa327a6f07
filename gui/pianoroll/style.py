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

# Each track has a colour of its own, as in a DAW, so that parts can be told apart; the
# active track's notes are painted in it (its generated notes orange, as everywhere),
# the other tracks' in the same colour dimmed towards the background, beneath them.
TRACK_COLOURS = tuple(QColor(c) for c in (
    "#4a90d9",  # blue
    "#4fb36b",  # green
    "#a67bd8",  # violet
    "#d9668f",  # rose
    "#36b5b0",  # teal
    "#a3c43f",  # lime
    "#d95757",  # red
    "#bfa77a",  # sand
))
GENERATED_FILL = QColor("#e8963d")
OTHER_TRACK_DIM = 0.5  # how far another track's colour goes towards the background
MUTED_DIM = 0.75  # ... and a muted one's (the active track, muted, as far as another's)
SELECTED_LIGHT = 0.55  # how far a selected note's colour goes towards white
WHITE = QColor("#ffffff")


def mix(a: QColor, b: QColor, share: float) -> QColor:
    """``a`` moved ``share`` of the way to ``b``."""
    return QColor(round(a.red() + (b.red() - a.red()) * share),
                  round(a.green() + (b.green() - a.green()) * share),
                  round(a.blue() + (b.blue() - a.blue()) * share))


def track_colour(track: int) -> QColor:
    """The colour of track ``track`` (0-based), the palette repeating after eight."""
    return QColor(TRACK_COLOURS[track % len(TRACK_COLOURS)])


NOTE_FILL = {SEED: track_colour(0), GENERATED: GENERATED_FILL}  # the first track, active
NOTE_FILL_SELECTED = {k: mix(v, WHITE, SELECTED_LIGHT) for k, v in NOTE_FILL.items()}
NOTE_EDGE = QColor("#10141a")
NOTE_EDGE_SELECTED = QColor("#ffffff")
LOUDNESS_DARKER = (160, 125, 100)  # QColor.darker() per loudness level: soft, medium, loud


def loudness(velocity: int) -> int:
    """0 (soft, up to 48), 1 (medium, up to 84) or 2 (loud): notes are shaded by it."""
    return 0 if velocity <= 48 else 1 if velocity <= 84 else 2


def note_fill(origin: str, selected: bool, level: int, track: int = 0,
              active: bool = True, muted: bool = False) -> QColor:
    """Fill of a note: its track's colour (generated notes of the active track orange),
    dimmed on a track that is not the active one or is muted (a muted track that is not
    the active one further still), lighter when selected, darker when soft."""
    if active and not muted:
        base = GENERATED_FILL if origin == GENERATED else track_colour(track)
    else:
        dim = MUTED_DIM if muted and not active else OTHER_TRACK_DIM
        base = mix(track_colour(track), BACKGROUND_WHITE_ROW, dim)
    if selected:
        base = mix(base, WHITE, SELECTED_LIGHT)
    return base.darker(LOUDNESS_DARKER[level])


PREVIEW_FILL = QColor(232, 150, 61, 90)
PREVIEW_EDGE = QColor(255, 208, 138, 200)
GHOST_FILL = QColor(255, 255, 255, 60)  # where dragged notes were / will go

KEYBOARD_WIDTH = 56
RULER_HEIGHT = 24
VELOCITY_HEIGHT = 72
