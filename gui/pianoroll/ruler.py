"""The bar/beat ruler above the grid; clicking or dragging in it moves the playhead."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen, QPolygonF, QWheelEvent
from PySide6.QtWidgets import QWidget

from engine.song import grid_lines
from gui.pianoroll import style
from gui.pianoroll.geometry import snap_tick

if TYPE_CHECKING:
    from gui.pianoroll.view import PianoRoll

MIN_LABEL_GAP_PX = 28.0


class Ruler(QWidget):
    """Bar numbers and beat ticks over the grid, and the playhead's marker."""

    def __init__(self, roll: PianoRoll) -> None:
        super().__init__(roll)
        self.roll = roll
        self.setFixedHeight(style.RULER_HEIGHT)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def tick_at(self, x: float) -> int:
        """The playhead tick for a click at ``x``: snapped to the grid like the notes."""
        return max(0, snap_tick(self.roll.geometry.x_to_tick(x), self.roll.snap_step()))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.roll.seek(self.tick_at(event.position().x()))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.roll.seek(self.tick_at(event.position().x()))

    def wheelEvent(self, event: QWheelEvent) -> None:
        self.roll.wheel(event, event.position().x(), None)

    def paintEvent(self, event: QPaintEvent) -> None:
        geo, doc = self.roll.geometry, self.roll.doc
        painter = QPainter(self)
        try:
            painter.fillRect(self.rect(), QColor("#1b1d22"))
            h = self.height()
            start, end = geo.visible_ticks(self.width())
            sigs = doc.time_signatures
            per_bar = min(ts.ticks_per_bar(doc.ppq) for ts in sigs)
            bar_px = geo.pixels_for_ticks(per_bar)
            every = 1  # label every n-th bar so that labels never overlap
            while bar_px * every < MIN_LABEL_GAP_PX:
                every *= 2
            show_beats = geo.pixels_for_ticks(min(ts.ticks_per_beat(doc.ppq) for ts in sigs)) >= 6
            lines = grid_lines(sigs, doc.ppq, start, end)
            painter.setPen(QPen(QColor("#c8ccd4"), 0))
            for line in lines:
                x = geo.tick_to_x(line.tick)
                if line.kind == "bar":
                    if (line.bar - 1) % every:
                        continue
                    painter.drawLine(QLineF(x, h * 0.35, x, h))
                    painter.drawText(QRectF(x + 3, 0, 60, h * 0.6),
                                     Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                                     str(line.bar))
                elif show_beats and every == 1:
                    painter.drawLine(QLineF(x, h * 0.7, x, h))
            x = geo.tick_to_x(self.roll.playhead_tick)
            if -6 <= x <= self.width() + 6:
                painter.setBrush(style.PLAYHEAD)
                painter.setPen(Qt.PenStyle.NoPen)
                painter.drawPolygon(QPolygonF([QPointF(x - 5, h * 0.4), QPointF(x + 5, h * 0.4),
                                               QPointF(x, h)]))
        finally:
            painter.end()
