"""The keyboard down the left of the piano roll: shows the rows' pitches, sounds them.

It only reports presses (``key_pressed``/``key_released``); the app decides how to
sound a pitch, so this widget needs no MIDI port.  Dragging along the keys slides
from one pitch to the next like a glissando.

When the active track is a drum track its rows are drum sounds, not pitches: the
keyboard widens and names each row of the General MIDI percussion map (27-87, "Bass
Drum 1", "Acoustic Snare", ...; ``engine.live.gm.percussion_name``), greys the rows
outside it, and a row's tooltip names it at any zoom.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QRectF, Qt, Signal
from PySide6.QtGui import (QColor, QFont, QHelpEvent, QMouseEvent, QPainter, QPaintEvent, QPen,
                           QWheelEvent)
from PySide6.QtWidgets import QToolTip, QWidget

from engine.live.gm import percussion_name
from gui.pianoroll import style
from gui.pianoroll.grid import BLACK_KEYS

# ``roll`` below is the gui.pianoroll.view.PianoRoll this part belongs to (typed Any:
# the view imports its parts, and a part never imports the view)

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


DRUM_KEYBOARD_WIDTH = 132  # wide enough for "Acoustic Bass Drum" in the small font
DRUM_ROW = QColor("#f7f7f7")
DRUM_ROW_ALTERNATE = QColor("#e6e9ee")  # every other drum row, so a name lines up with its row
NO_DRUM_ROW = QColor("#b9bcc2")  # a note outside the percussion map: no GM drum sounds


def pitch_name(pitch: int) -> str:
    """'C4' for 60 (the MIDI convention in which middle C is C4)."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def row_name(pitch: int, drums: bool) -> str:
    """What a row is called: 'C4' for 60, or on a drum track 'Acoustic Snare' for 38 (a
    row outside the percussion map: its note name and 'no GM drum')."""
    if not drums:
        return pitch_name(pitch)
    return percussion_name(pitch) or f"{pitch_name(pitch)} (no GM drum)"


class Keyboard(QWidget):
    """Piano keys beside the grid rows; pressing one reports its pitch (see module doc)."""

    key_pressed = Signal(int)
    key_released = Signal(int)

    def __init__(self, roll: Any) -> None:
        super().__init__(roll)
        self.roll = roll
        self.held: int | None = None
        self.setFixedWidth(style.KEYBOARD_WIDTH)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.drums = False
        doc = roll.doc
        for signal in (doc.active_track_changed, doc.tracks_changed, doc.song_replaced):
            signal.connect(self._follow_track)
        self._follow_track()

    def _follow_track(self, *_: Any) -> None:
        """Piano keys, or drum names when the active track is a drum track."""
        doc = self.roll.doc
        drums = bool(doc.tracks[doc.active_track].is_drum)
        if drums != self.drums:
            self.drums = drums
            self.setFixedWidth(DRUM_KEYBOARD_WIDTH if drums else style.KEYBOARD_WIDTH)
        self.update()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            pitch = self.roll.geometry.y_to_pitch(event.pos().y())
            if 0 <= pitch <= 127:
                QToolTip.showText(event.globalPos(), row_name(pitch, self.drums), self)
            return True
        return super().event(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._hold(self.roll.geometry.y_to_pitch(event.position().y()))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self.held is not None:
            self._hold(self.roll.geometry.y_to_pitch(event.position().y()))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._hold(None)

    def _hold(self, pitch: int | None) -> None:
        if pitch is not None and not 0 <= pitch <= 127:
            pitch = None if self.held is None else self.held
        if pitch == self.held:
            return
        if self.held is not None:
            self.key_released.emit(self.held)
        self.held = pitch
        if pitch is not None:
            self.key_pressed.emit(pitch)
        self.update()

    def wheelEvent(self, event: QWheelEvent) -> None:
        self.roll.wheel(event, None, event.position().y())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            painter.fillRect(self.rect(), QColor("#f2f2f2"))
            if self.drums:
                self._paint_drums(painter)
            else:
                self._paint_keys(painter)
        finally:
            painter.end()

    def _paint_keys(self, painter: QPainter) -> None:
        geo = self.roll.geometry
        low, high = geo.visible_pitches(self.height())
        w = self.width()
        show_names = geo.row_height >= 9
        for pitch in range(low, high + 1):
            y = geo.pitch_to_y(pitch)
            rect = QRectF(0, y, w, geo.row_height)
            black = pitch % 12 in BLACK_KEYS
            colour = (QColor("#ffb36b") if pitch == self.held
                      else QColor("#222") if black else QColor("#f7f7f7"))
            painter.fillRect(rect.adjusted(0, 0, -(w * 0.35 if black else 0), 0), colour)
            painter.setPen(QPen(QColor("#999"), 0))
            painter.drawLine(rect.bottomLeft(), rect.bottomRight())
            if show_names and pitch % 12 == 0:
                painter.setPen(QColor("#333"))
                painter.drawText(rect.adjusted(0, 0, -4, 0),
                                 Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                                 pitch_name(pitch))

    def _paint_drums(self, painter: QPainter) -> None:
        """One flat row per drum sound, each named (from 9-pixel rows up; the tooltip
        names it at any zoom)."""
        geo = self.roll.geometry
        low, high = geo.visible_pitches(self.height())
        w = self.width()
        show_names = geo.row_height >= 9
        font = QFont(painter.font())
        font.setPixelSize(max(8, min(11, int(geo.row_height) - 1)))
        painter.setFont(font)
        for pitch in range(low, high + 1):
            rect = QRectF(0, geo.pitch_to_y(pitch), w, geo.row_height)
            name = percussion_name(pitch) if 0 <= pitch <= 127 else None
            colour = (QColor("#ffb36b") if pitch == self.held
                      else NO_DRUM_ROW if name is None
                      else DRUM_ROW_ALTERNATE if pitch % 2 else DRUM_ROW)
            painter.fillRect(rect, colour)
            painter.setPen(QPen(QColor("#999"), 0))
            painter.drawLine(rect.bottomLeft(), rect.bottomRight())
            if show_names and name is not None:
                painter.setPen(QColor("#222"))
                painter.drawText(rect.adjusted(4, 0, -4, 0),
                                 Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                                 name)
