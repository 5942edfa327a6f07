"""The keyboard down the left of the piano roll: shows the rows' pitches, sounds them.

It only reports presses (``key_pressed``/``key_released``); the app decides how to
sound a pitch, so this widget needs no MIDI port.  Dragging along the keys slides
from one pitch to the next like a glissando.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen, QWheelEvent
from PySide6.QtWidgets import QWidget

from gui.pianoroll import style
from gui.pianoroll.grid import BLACK_KEYS

# ``roll`` below is the gui.pianoroll.view.PianoRoll this part belongs to (typed Any:
# the view imports its parts, and a part never imports the view)

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def pitch_name(pitch: int) -> str:
    """'C4' for 60 (the MIDI convention in which middle C is C4)."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


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
        geo = self.roll.geometry
        painter = QPainter(self)
        try:
            painter.fillRect(self.rect(), QColor("#f2f2f2"))
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
        finally:
            painter.end()
