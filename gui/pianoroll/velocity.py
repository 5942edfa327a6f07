"""The velocity lane under the grid: one bar per note, drag a bar to change velocity.

Grabbing a bar of a selected note changes every selected note by the same amount;
grabbing any other bar changes that note alone.  Shift-dragging draws a line: every
note that starts between the press and the mouse gets the velocity of the line above
it (a crescendo in one stroke).  While dragging only the preview is painted; the
release pushes one "Change velocity" command.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QLineF, QRectF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen, QWheelEvent
from PySide6.QtWidgets import QWidget

from gui.pianoroll import style
from gui.pianoroll.selection import velocity_bar_at

# ``roll`` below is the gui.pianoroll.view.PianoRoll this part belongs to (typed Any:
# the view imports its parts, and a part never imports the view)

BAR_WIDTH = 4.0
MARGIN = 4.0  # pixels kept free above velocity 127 and below velocity 1


class VelocityLane(QWidget):
    """One bar per note start, as tall as its velocity (see the module docstring)."""

    def __init__(self, roll: Any) -> None:
        super().__init__(roll)
        self.roll = roll
        self._grab: tuple[int, float, dict[int, int]] | None = None  # anchor, press y, before
        self._y = 0.0
        self._line: tuple[float, float] | None = None  # Shift-drag: press x, press y
        self._x = 0.0
        self.setFixedHeight(style.VELOCITY_HEIGHT)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    # ---- velocity <-> y (the lane's only geometry; one axis, linear) -----------------
    def velocity_to_y(self, velocity: float) -> float:
        usable = self.height() - 2 * MARGIN
        return MARGIN + usable * (1 - (velocity - 1) / 126)

    def y_to_velocity(self, y: float) -> int:
        usable = max(1.0, self.height() - 2 * MARGIN)
        return min(127, max(1, round(1 + 126 * (1 - (y - MARGIN) / usable))))

    def preview(self) -> dict[int, int]:
        """id -> velocity the drag in progress would set."""
        if self._line is not None:
            return self._line_velocities()
        if self._grab is None:
            return {}
        anchor, _, before = self._grab
        delta = self.y_to_velocity(self._y) - before[anchor]
        return {i: min(127, max(1, v + delta)) for i, v in before.items()}

    def _line_velocities(self) -> dict[int, int]:
        """Velocities along the Shift-drag line for the notes that start under it."""
        assert self._line is not None
        geo, doc = self.roll.geometry, self.roll.doc
        (x0, y0), (x1, y1) = sorted([self._line, (self._x, self._y)])
        lo, hi = geo.tick_at(x0), geo.tick_at(x1)
        result = {}
        for note_id in doc.notes_in_range(lo, hi + 1):
            start = doc.note(note_id).start_tick
            if not lo <= start <= hi:
                continue
            x = geo.tick_to_x(start)
            t = 0.0 if x1 == x0 else (x - x0) / (x1 - x0)
            result[note_id] = self.y_to_velocity(y0 + t * (y1 - y0))
        return result

    def drop_stale_drag(self) -> None:
        """Forget a drag whose notes vanished under it (an undo, a New, a worker)."""
        if self._grab is not None and any(i not in self.roll.doc for i in self._grab[2]):
            self._grab = None
            self.update()

    # ---- mouse -----------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        doc = self.roll.doc
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self._line = (event.position().x(), event.position().y())
            self._x, self._y = self._line
            self.update()
            return
        note_id = velocity_bar_at(doc, self.roll.geometry, event.position().x())
        if note_id is None:
            return
        ids = doc.selection if note_id in doc.selection else {note_id}
        before = {i: doc.note(i).velocity for i in ids}
        self._grab = (note_id, event.position().y(), before)
        self._y = event.position().y()
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._grab is not None or self._line is not None:
            self._x, self._y = event.position().x(), event.position().y()
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        busy = self._grab is not None or self._line is not None
        if not busy or event.button() != Qt.MouseButton.LeftButton:
            return
        self._x, self._y = event.position().x(), event.position().y()
        new = self.preview()
        self._grab = self._line = None
        self.roll.doc.set_velocity(new)  # one command; a no-op when nothing changed
        self.update()

    def wheelEvent(self, event: QWheelEvent) -> None:
        self.roll.wheel(event, event.position().x(), None)

    # ---- painting --------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        geo, doc = self.roll.geometry, self.roll.doc
        painter = QPainter(self)
        try:
            painter.fillRect(self.rect(), QColor("#1b1d22"))
            painter.setPen(QPen(QColor("#3a3e46"), 0))
            for v in (32, 64, 96):
                y = self.velocity_to_y(v)
                painter.drawLine(0, int(y), self.width(), int(y))
            start, end = geo.visible_ticks(self.width())
            preview = self.preview()
            bottom = self.velocity_to_y(1) + 1
            # one bar per pixel column and look: zoomed out, many notes share a column and
            # only the tallest would show, so the others are not drawn at all
            tallest: dict[tuple[bool, int, str, bool], dict[int, int]] = {}
            left = start - geo.ticks_for_pixels(BAR_WIDTH)
            for note_id in doc.notes_in_range(start, end):
                note = doc.note(note_id)
                if note.start_tick < left:
                    continue
                column = round(geo.tick_to_x(note.start_tick))
                velocity = preview.get(note_id, note.velocity)
                track = doc.track_of(note_id)
                looks = tallest.setdefault((track == doc.active_track, track,
                                            doc.origin(note_id), note_id in doc.selection), {})
                if velocity > looks.get(column, 0):
                    looks[column] = velocity
            # the active track's bars over the others', selected bars on top
            for look in sorted(tallest, key=lambda k: (k[0], k[3])):
                is_active, track, origin, selected = look
                painter.setBrush(style.note_fill(origin, selected, 2, track, is_active,
                                                 track in doc.muted_tracks))
                painter.setPen(QPen(style.NOTE_EDGE, 0))
                rects = []
                for column, velocity in tallest[look].items():
                    y = self.velocity_to_y(velocity)
                    rects.append(QRectF(column, y, BAR_WIDTH, bottom - y))
                painter.drawRects(rects)
            if self._line is not None:
                painter.setPen(QPen(style.BAND_EDGE, 1))
                painter.drawLine(QLineF(*self._line, self._x, self._y))
        finally:
            painter.end()
