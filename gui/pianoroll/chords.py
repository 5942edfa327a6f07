"""The chord lane above the grid: the song's chord symbols over their spans.

A chord lasts from its tick until the next chord (the last one to the end of the bar
where the song ends).  Click a chord to select it; double-click it, or type while it is
selected, to type over its symbol in an inline editor (Return keeps it, Escape leaves
it); a symbol that does not read leaves the chord as it was and the parser's sentence
goes to the status bar (:attr:`ChordLane.message`).  Drag a chord to move it (its end,
the next chord's start, moves with it); drag its right edge to resize it (the next
chord starts there).  Double-click the empty lane, or Ctrl+double-click inside a chord,
to add one there.  Delete removes the selected chord.  Every edit is one undo step of
the document (:class:`gui.commands.SetChords`); the lane plays nothing.

Times and pixels come from the roll's :class:`RollGeometry`, and only the chords whose
spans are in view are looked at (a bisection in the document), so 10,000 chord changes
paint as fast as ten.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QLineEdit, QWidget

from engine.errors import ContinuoError
from gui.pianoroll import style
from gui.pianoroll.geometry import snap_tick

# ``roll`` below is the gui.pianoroll.view.PianoRoll this part belongs to (typed Any:
# the view imports its parts, and a part never imports the view)

LANE_HEIGHT = 24
EDGE_GRAB_PX = 4.0  # this close to a chord's right edge, a press resizes it
MIN_TEXT_PX = 14.0  # a span narrower than this shows no symbol
DENSE_PX = 3.0  # chords in view narrower than this on average: one shown per this many px
BACKGROUND = QColor("#202329")
CHORD_FILL = (QColor("#3a4250"), QColor("#343b47"))  # alternate, so neighbours part
SELECTED_FILL = QColor("#5a6f94")
CHORD_EDGE = QColor("#6e7888")
TEXT = QColor("#e6e9ef")
# keys that edit the selected chord rather than fire a menu shortcut (Delete deletes
# notes in the grid, but here the chord)
_LANE_KEYS = {Qt.Key.Key_Delete, Qt.Key.Key_Backspace, Qt.Key.Key_Return, Qt.Key.Key_Enter,
              Qt.Key.Key_F2, Qt.Key.Key_Escape, Qt.Key.Key_Left, Qt.Key.Key_Right}
_TYPED_ROOTS = set("ABCDEFGabcdefg")


@dataclass(frozen=True, slots=True)
class Span:
    """A chord as the lane shows it: its index in the track and its pixels."""

    index: int
    x0: float
    x1: float
    symbol: str


@dataclass(slots=True)
class _Drag:
    kind: str  # "move" or "end"
    index: int
    press_x: float
    x: float


class ChordLane(QWidget):
    """The chord track over the roll's time axis (see the module docstring)."""

    message = Signal(str)  # a sentence for the status bar

    def __init__(self, roll: Any) -> None:
        super().__init__(roll)
        self.roll = roll
        self.selected: int | None = None
        self._drag: _Drag | None = None
        self._edit: tuple[str, int] | None = None  # ("change", index) or ("add", tick)
        self.editor = QLineEdit(self)
        self.editor.setObjectName("chord_editor")
        self.editor.hide()
        self.editor.installEventFilter(self)
        self.setFixedHeight(LANE_HEIGHT)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setToolTip("Chords: double-click to type one, drag to move, drag an edge to "
                        "resize, Delete to remove")
        roll.doc.chords_changed.connect(self._on_chords_changed)

    # ---- where chords are ------------------------------------------------------------
    def spans(self) -> list[Span]:
        """The chords in view, left to right, with their pixels.  Zoomed out so far
        that they average under :data:`DENSE_PX` pixels each, one chord every
        DENSE_PX pixels stands for its neighbours (reaching to the next one shown), so
        a whole song of 10,000 changes costs what the lane's width does."""
        doc, geo = self.roll.doc, self.roll.geometry
        if not doc.chord_count():
            return []
        start, end = geo.visible_ticks(self.width())
        indices = doc.chords_in_range(start, end)
        columns = int(self.width() / DENSE_PX) + 1
        if len(indices) <= columns:
            return [self.span_of(i) for i in indices]
        picked: list[int] = []
        for column in range(columns):
            i = doc.chord_index_at(int(geo.x_to_tick(column * DENSE_PX)))
            if i is not None and (not picked or picked[-1] != i):
                picked.append(i)
        spans = [self.span_of(i) for i in picked]
        return [Span(s.index, s.x0, nxt.x0, s.symbol) for s, nxt in zip(spans, spans[1:])
                ] + spans[-1:]

    def span_of(self, index: int) -> Span:
        doc, geo = self.roll.doc, self.roll.geometry
        return Span(index, geo.tick_to_x(doc.chord(index).tick),
                    geo.tick_to_x(doc.chord_end(index)), doc.chord(index).symbol)

    def hit(self, x: float) -> tuple[int, str] | None:
        """(index, "end") near a chord's right edge that has a next chord, (index,
        "body") inside a chord, None on the empty lane."""
        doc = self.roll.doc
        tick = self.roll.geometry.x_to_tick(x)
        index = doc.chord_index_at(int(tick)) if tick >= 0 else None
        if index is None:
            return None
        span = self.span_of(index)
        if x > span.x1:
            return None
        if index + 1 < doc.chord_count() and span.x1 - x <= EDGE_GRAB_PX:
            return index, "end"
        if index > 0 and x - span.x0 <= EDGE_GRAB_PX:  # the left edge is the last one's end
            return index - 1, "end"
        return index, "body"

    def tick_at(self, x: float) -> int:
        """The snapped tick under ``x``, as the grid snaps notes."""
        return max(0, snap_tick(self.roll.geometry.x_to_tick(x), self.roll.snap_step()))

    def _drag_delta(self, drag: _Drag) -> int:
        """Ticks a move drag moves its chord by: its start snapped to the grid."""
        start = self.roll.doc.chord(drag.index).tick
        moved = start + self.roll.geometry.ticks_for_pixels(drag.x - drag.press_x)
        return max(0, snap_tick(moved, self.roll.snap_step())) - start

    # ---- selection -------------------------------------------------------------------
    def select(self, index: int | None) -> None:
        if index is not None and not 0 <= index < self.roll.doc.chord_count():
            index = None
        if index != self.selected:
            self.selected = index
            self.update()

    def _on_chords_changed(self) -> None:
        self._drag = None
        self.select(self.selected)
        self.update()

    # ---- mouse -----------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        x = event.position().x()
        found = self.hit(x)
        self.select(None if found is None else found[0])
        if found is not None:
            self._drag = _Drag(kind="end" if found[1] == "end" else "move", index=found[0],
                               press_x=x, x=x)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        x = event.position().x()
        if self._drag is not None and event.buttons() & Qt.MouseButton.LeftButton:
            self._drag.x = x
            self.update()
            return
        found = self.hit(x)
        self.setCursor(Qt.CursorShape.SizeHorCursor if found and found[1] == "end"
                       else Qt.CursorShape.ArrowCursor)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        drag, self._drag = self._drag, None
        if drag is None or event.button() != Qt.MouseButton.LeftButton:
            return
        drag.x = event.position().x()
        if abs(drag.x - drag.press_x) < 2:  # a click, not a drag
            self.update()
            return
        if drag.kind == "move":
            self.roll.doc.move_chord(drag.index, self._drag_delta(drag))
        else:
            self.roll.doc.set_chord_end(drag.index, self.tick_at(drag.x))
        self.update()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        self._drag = None
        x = event.position().x()
        found = self.hit(x)
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if found is None or ctrl:
            self.start_add(self.tick_at(x))
        else:
            self.select(found[0])
            self.start_edit(found[0])

    def wheelEvent(self, event: Any) -> None:
        self.roll.wheel(event, event.position().x(), None)

    # ---- keys ------------------------------------------------------------------------
    def event(self, event: QEvent) -> bool:
        """Keys that edit the selected chord are the lane's, not a menu shortcut's."""
        if event.type() == QEvent.Type.ShortcutOverride and self.selected is not None:
            key_event: QKeyEvent = event  # type: ignore[assignment]
            plain = not key_event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
            if plain and (key_event.key() in _LANE_KEYS or key_event.text() in _TYPED_ROOTS):
                event.accept()
                return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, index = event.key(), self.selected
        if index is None:
            super().keyPressEvent(event)
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.roll.doc.delete_chord(index)
            self.select(min(index, self.roll.doc.chord_count() - 1)
                        if self.roll.doc.chord_count() else None)
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_F2):
            self.start_edit(index)
        elif key == Qt.Key.Key_Escape:
            self.select(None)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            step = 1 if key == Qt.Key.Key_Right else -1
            self.select(min(max(0, index + step), self.roll.doc.chord_count() - 1))
        elif event.text() and event.text() in _TYPED_ROOTS:
            self.start_edit(index, event.text())
        else:
            super().keyPressEvent(event)

    # ---- the inline editor -----------------------------------------------------------
    def start_edit(self, index: int, text: str | None = None) -> None:
        """Type over chord ``index`` (``text``: what was typed to start, else its symbol)."""
        self._edit = ("change", index)
        span = self.span_of(index)
        self._open_editor(span.x0, span.x1, span.symbol if text is None else text,
                          select_all=text is None)

    def start_add(self, tick: int) -> None:
        """Type a new chord at ``tick``."""
        self._edit = ("add", tick)
        x = self.roll.geometry.tick_to_x(tick)
        self._open_editor(x, x + 80, "", select_all=False)

    def _open_editor(self, x0: float, x1: float, text: str, select_all: bool) -> None:
        left = max(0, int(x0))
        self.editor.setGeometry(left, 0, max(64, min(int(x1), self.width()) - left),
                                self.height())
        self.editor.setText(text)
        if select_all:
            self.editor.selectAll()
        self.editor.show()
        self.editor.setFocus()

    def is_editing(self) -> bool:
        return self._edit is not None

    def commit_edit(self) -> None:
        """The editor's text as the chord (one undo step), or the parser's sentence."""
        edit, self._edit = self._edit, None
        text = self.editor.text()
        self._close_editor()
        if edit is None or not text.strip():
            return
        kind, where = edit
        doc = self.roll.doc
        if kind == "change" and where >= doc.chord_count():  # gone meanwhile (an undo)
            return
        try:
            if kind == "change":
                doc.change_chord(where, text)
            else:
                doc.add_chord(where, text)
                self.select(doc.chord_index_at(where))
        except ContinuoError as e:
            self.message.emit(f"{e}; the chord is unchanged." if kind == "change"
                              else f"{e}; no chord was added.")

    def cancel_edit(self) -> None:
        self._edit = None
        self._close_editor()

    def _close_editor(self) -> None:
        self.editor.hide()
        self.setFocus()
        self.update()

    def eventFilter(self, watched: Any, event: QEvent) -> bool:
        if watched is self.editor and self._edit is not None:
            key = event.key() if event.type() == QEvent.Type.KeyPress else None  # type: ignore[attr-defined]
            if key == Qt.Key.Key_Escape:
                self.cancel_edit()
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):  # not passed on to the lane
                self.commit_edit()
                return True
            if event.type() == QEvent.Type.FocusOut:  # clicked elsewhere: keep what is typed
                self.commit_edit()
        return super().eventFilter(watched, event)

    # ---- painting --------------------------------------------------------------------
    def drag_preview(self) -> Span | None:
        """Where the chord being dragged would go, in pixels (None when not dragging)."""
        drag = self._drag
        if drag is None or abs(drag.x - drag.press_x) < 2:
            return None
        doc, geo = self.roll.doc, self.roll.geometry
        chord = doc.chord(drag.index)
        if drag.kind == "move":
            d = self._drag_delta(drag)
            return Span(drag.index, geo.tick_to_x(chord.tick + d),
                        geo.tick_to_x(doc.chord_end(drag.index) + d), chord.symbol)
        return Span(drag.index, geo.tick_to_x(chord.tick),
                    geo.tick_to_x(max(chord.tick + 1, self.tick_at(drag.x))), chord.symbol)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            painter.fillRect(self.rect(), BACKGROUND)
            h, w = self.height(), self.width()
            for span in self.spans():
                fill = (SELECTED_FILL if span.index == self.selected
                        else CHORD_FILL[span.index % 2])
                self._paint_span(painter, span, fill, w, h)
            preview = self.drag_preview()
            if preview is not None:
                painter.setOpacity(0.6)
                self._paint_span(painter, preview, style.GHOST_FILL, w, h)
        finally:
            painter.end()

    @staticmethod
    def _paint_span(painter: QPainter, span: Span, fill: QColor, w: int, h: int) -> None:
        left, right = max(-1.0, span.x0), min(w + 1.0, span.x1)
        rect = QRectF(left, 1, max(1.0, right - left - 1), h - 2)
        painter.fillRect(rect, fill)
        painter.setPen(QPen(CHORD_EDGE, 0))
        painter.drawLine(int(span.x0), 1, int(span.x0), h - 1)
        if rect.width() >= MIN_TEXT_PX:
            painter.setPen(TEXT)
            painter.drawText(rect.adjusted(4, 0, -2, 0), Qt.AlignmentFlag.AlignLeft
                             | Qt.AlignmentFlag.AlignVCenter, span.symbol)


__all__ = ["ChordLane", "Span", "LANE_HEIGHT"]
