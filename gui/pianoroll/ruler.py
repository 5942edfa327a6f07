"""The bar/beat ruler above the grid.

A click or drag moves the playhead (and clears the time range); a drag with Shift held
selects a time range, snapped to the roll's grid as notes are, which Fill regenerates;
a double-click selects the bar under the mouse.  Bars are numbered as the score numbers
them: a pickup (a short first bar) is bar 0.  The range is view state, kept by the
roll (:meth:`PianoRoll.time_range`), and painted as a band over the ruler and the grid.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen, QPolygonF, QWheelEvent
from PySide6.QtWidgets import QWidget

from engine.song import grid_lines, pickup_ticks_of
from gui.pianoroll import style
from gui.pianoroll.geometry import snap_tick

# ``roll`` below is the gui.pianoroll.view.PianoRoll this part belongs to (typed Any:
# the view imports its parts, and a part never imports the view)

MIN_LABEL_GAP_PX = 28.0


class Ruler(QWidget):
    """Bar numbers and beat ticks over the grid, and the playhead's marker."""

    def __init__(self, roll: Any) -> None:
        super().__init__(roll)
        self.roll = roll
        self.setFixedHeight(style.RULER_HEIGHT)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._range_anchor: int | None = None  # the snapped press of a Shift drag

    def tick_at(self, x: float) -> int:
        """The playhead tick for a click at ``x``: snapped to the grid like the notes."""
        return max(0, snap_tick(self.roll.geometry.x_to_tick(x), self.roll.snap_step()))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        """Shift: start selecting a time range; else move the playhead, clear the range."""
        if event.button() != Qt.MouseButton.LeftButton:
            return
        tick = self.tick_at(event.position().x())
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        self._range_anchor = tick if shift else None
        self.roll.set_time_range(None)
        if not shift:
            self.roll.seek(tick)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            tick = self.tick_at(event.position().x())
            if self._range_anchor is not None:
                self.roll.set_time_range(self._range_anchor, tick)
            else:
                self.roll.seek(tick)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._range_anchor = None

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        """Select the whole bar under the mouse (after the first click moved the playhead)."""
        if event.button() == Qt.MouseButton.LeftButton:
            self.roll.select_bar(max(0, int(self.roll.geometry.x_to_tick(event.position().x()))))

    def wheelEvent(self, event: QWheelEvent) -> None:
        self.roll.wheel(event, event.position().x(), None)

    def marks(self) -> list[tuple[int, str, str | None]]:
        """What the ruler draws over the visible ticks: ``(tick, kind, label)`` for each
        bar line (labelled with its number, or None where labels would overlap) and,
        zoomed in far enough, each beat.  A pickup bar is bar 0, labelled where it is
        wide enough for its number."""
        geo, doc = self.roll.geometry, self.roll.doc
        start, end = geo.visible_ticks(self.width())
        sigs = doc.time_signatures
        pickup = pickup_ticks_of(sigs, doc.ppq)
        per_bar = min(ts.ticks_per_bar(doc.ppq) for ts in (sigs[1:] if pickup else sigs))
        bar_px = geo.pixels_for_ticks(per_bar)
        every = 1  # label every n-th bar so that labels never overlap
        while bar_px * every < MIN_LABEL_GAP_PX:
            every *= 2
        show_beats = geo.pixels_for_ticks(min(ts.ticks_per_beat(doc.ppq) for ts in sigs)) >= 6
        out: list[tuple[int, str, str | None]] = []
        for line in grid_lines(sigs, doc.ppq, start, end):
            if line.kind == "bar":
                if line.bar == 0:
                    fits = geo.pixels_for_ticks(pickup) >= MIN_LABEL_GAP_PX
                    out.append((line.tick, "bar", "0" if fits else None))
                elif not (line.bar - 1) % every:
                    out.append((line.tick, "bar", str(line.bar)))
            elif show_beats and every == 1:
                out.append((line.tick, "beat", None))
        return out

    def paintEvent(self, event: QPaintEvent) -> None:
        geo = self.roll.geometry
        painter = QPainter(self)
        try:
            painter.fillRect(self.rect(), QColor("#1b1d22"))
            h = self.height()
            paint_time_range(painter, self.roll, h)
            painter.setPen(QPen(QColor("#c8ccd4"), 0))
            for tick, kind, label in self.marks():
                x = geo.tick_to_x(tick)
                if kind == "bar":
                    painter.drawLine(QLineF(x, h * 0.35, x, h))
                    if label is not None:
                        painter.drawText(QRectF(x + 3, 0, 60, h * 0.6),
                                         Qt.AlignmentFlag.AlignLeft
                                         | Qt.AlignmentFlag.AlignVCenter, label)
                else:
                    painter.drawLine(QLineF(x, h * 0.7, x, h))
            x = geo.tick_to_x(self.roll.playhead_tick)
            if -6 <= x <= self.width() + 6:
                painter.setBrush(style.PLAYHEAD)
                painter.setPen(Qt.PenStyle.NoPen)
                painter.drawPolygon(QPolygonF([QPointF(x - 5, h * 0.4), QPointF(x + 5, h * 0.4),
                                               QPointF(x, h)]))
        finally:
            painter.end()


def paint_time_range(painter: QPainter, roll: Any, height: float) -> None:
    """The roll's time range as a translucent band with edges, ``height`` pixels tall
    (the ruler and the grid both paint it, so they agree)."""
    selected = roll.time_range()
    if selected is None:
        return
    x0, x1 = (roll.geometry.tick_to_x(t) for t in selected)
    painter.fillRect(QRectF(x0, 0, x1 - x0, height), style.BAND_FILL)
    painter.setPen(QPen(style.BAND_EDGE, 0))
    painter.drawLines([QLineF(x, 0, x, height) for x in (x0, x1)])
