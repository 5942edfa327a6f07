"""The note grid: paints rows, lines and notes, and turns mouse gestures into edits.

A gesture (draw, move, resize, rubber band, right-button erase) keeps its state in a
:class:`Drag` while the button is down and only paints a preview; on release it makes
exactly one call on the document, which pushes one undo command.  Hit-testing goes
through :mod:`gui.pianoroll.selection` and the document's note index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import (
    QKeyEvent, QKeySequence, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPen,
    QPolygonF, QResizeEvent, QWheelEvent,
)
from PySide6.QtWidgets import QApplication, QWidget

from engine.live.gm import PERCUSSION_HIGH, PERCUSSION_LOW
from engine.song import Note, grid_lines
from gui.document import SEED
from gui.pianoroll import style
from gui.pianoroll.geometry import snap_tick
from gui.pianoroll.ruler import paint_time_range
from gui.pianoroll.selection import hit_test, notes_in_rect, toggled

# ``roll`` below is the gui.pianoroll.view.PianoRoll this part belongs to (typed Any:
# the view imports its parts, and a part never imports the view)

BLACK_KEYS = frozenset({1, 3, 6, 8, 10})
MIN_LINE_GAP_PX = 5.0  # closer lines than this are left out: they would only be grey
EDGE_SCROLL_MS = 30  # while a drag is outside the grid, scroll this often ...
EDGE_SCROLL_MAX_PX = 40.0  # ... by up to this much (half the overshoot)


@dataclass(slots=True)
class Drag:
    """One mouse gesture in progress."""

    kind: str  # "draw", "move", "resize", "band" or "erase"
    press_x: float
    press_y: float
    x: float
    y: float
    anchor: int | None = None  # the note grabbed (move, resize)
    ids: frozenset[int] = frozenset()  # the notes the gesture acts on
    base: frozenset[int] = frozenset()  # selection before a Ctrl rubber band
    erased: set[int] = field(default_factory=set)
    started: bool = False  # moved past the drag threshold
    button: Qt.MouseButton = Qt.MouseButton.LeftButton  # its release ends the gesture


DIAMOND_MAX_PX = 14.0  # a drum hit is a diamond as tall as its row, up to this
DIAMOND_MIN_PX = 5.0  # smaller, or ...
DIAMONDS_AT_MOST = 2000  # ... more of one look in the damaged area: small squares instead


def diamonds(rects: list[QRectF]) -> QPainterPath:
    """A diamond in each rectangle (a drum hit, drawn at its onset whatever its length)."""
    path = QPainterPath()
    for r in rects:
        c = r.center()
        path.addPolygon(QPolygonF([QPointF(r.left(), c.y()), QPointF(c.x(), r.top()),
                                   QPointF(r.right(), c.y()), QPointF(c.x(), r.bottom()),
                                   QPointF(r.left(), c.y())]))
    return path


class NoteGrid(QWidget):
    """The editing area of the piano roll (see the module docstring)."""

    def __init__(self, roll: Any) -> None:
        super().__init__(roll)
        self.roll = roll
        self.drag: Drag | None = None
        self.draw_velocity = 100
        self._sounding: int | None = None  # pitch reported by key_pressed, not yet released
        self._edge_timer = QTimer(self)
        self._edge_timer.setInterval(EDGE_SCROLL_MS)
        self._edge_timer.timeout.connect(self._edge_scroll)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(120, 80)

    # ---- gesture maths (what the preview paints and the release commits) -------------
    def move_delta(self) -> tuple[int, int]:
        """(d_tick, d_pitch) of the move in progress: the grabbed note's start snaps."""
        d = self.drag
        if d is None or not d.started or d.anchor is None:
            return 0, 0
        geo, doc = self.roll.geometry, self.roll.doc
        anchor = doc.note(d.anchor)
        raw = anchor.start_tick + geo.ticks_for_pixels(d.x - d.press_x)
        d_tick = snap_tick(raw, self.roll.snap_step(), "round") - anchor.start_tick
        d_pitch = geo.pitch_at(d.y) - geo.pitch_at(d.press_y)
        notes = [doc.note(i) for i in d.ids]
        d_tick = max(d_tick, -min(n.start_tick for n in notes))
        d_pitch = min(d_pitch, 127 - max(n.pitch for n in notes))
        d_pitch = max(d_pitch, -min(n.pitch for n in notes))
        return d_tick, d_pitch

    def resize_delta(self) -> int:
        """Ticks added to every grabbed note: the grabbed note's end snaps to the grid."""
        d = self.drag
        if d is None or not d.started or d.anchor is None:
            return 0
        anchor = self.roll.doc.note(d.anchor)
        step = self.roll.snap_step()
        raw_end = anchor.end_tick + self.roll.geometry.ticks_for_pixels(d.x - d.press_x)
        end = max(snap_tick(raw_end, step, "round"),
                  anchor.start_tick + max(1, round(step)))
        return end - anchor.end_tick

    def drawn_note(self) -> Note | None:
        """The note a draw gesture would add: a click draws the roll's note length (see
        :meth:`PianoRoll.draw_length`), a drag from the snapped press to the snapped
        mouse."""
        d = self.drag
        if d is None or d.kind != "draw":
            return None
        geo, step = self.roll.geometry, self.roll.snap_step()
        start = snap_tick(geo.x_to_tick(d.press_x), step, "floor")
        start = max(0, start)
        if d.started:
            end = snap_tick(geo.x_to_tick(d.x), step, "ceil")
            length = max(end - start, round(step) if step else self.roll.doc.ppq // 4, 1)
        else:
            length = self.roll.draw_length()
        return Note(geo.pitch_at(d.press_y), start, length, self.draw_velocity,
                    self.roll.doc.tracks[self.roll.doc.active_track].channel)

    def drop_stale_drag(self) -> None:
        """Forget a gesture whose notes vanished under it (an undo, a New, a worker)."""
        d, doc = self.drag, self.roll.doc
        if d is not None and ((d.anchor is not None and d.anchor not in doc)
                              or any(i not in doc for i in d.ids)):
            self.end_drag()

    def end_drag(self) -> None:
        """Forget the gesture in progress without committing it (Escape, stale notes)."""
        self.drag = None
        self._edge_timer.stop()
        if self._sounding is not None:
            self.roll.key_released.emit(self._sounding)
            self._sounding = None
        self.update()
        self.roll.velocity_lane.update()

    # ---- mouse -----------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        """Start a gesture: right erases, left on a note moves or resizes it (Ctrl:
        toggles it in the selection), left on empty grid draws (Shift/Ctrl: band)."""
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if self.drag is not None:
            return  # a second button during a gesture: the first one decides
        doc, geo = self.roll.doc, self.roll.geometry
        x, y = event.position().x(), event.position().y()
        mods = event.modifiers()
        ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
        shift = bool(mods & Qt.KeyboardModifier.ShiftModifier)
        hit = hit_test(doc, geo, x, y)
        if event.button() == Qt.MouseButton.RightButton:
            self.drag = Drag("erase", x, y, x, y, started=True,
                             button=Qt.MouseButton.RightButton)
            if hit:
                self.drag.erased.add(hit.note_id)
        elif event.button() != Qt.MouseButton.LeftButton:
            return
        elif hit and ctrl:
            doc.set_selection(toggled(doc.selection, hit.note_id))
        elif hit:
            if hit.note_id not in doc.selection:  # grabbed to move: a click makes it chosen
                doc.set_selection({hit.note_id}, deliberate=False)
            kind = "resize" if hit.part == "end" else "move"
            self.drag = Drag(kind, x, y, x, y, anchor=hit.note_id, ids=doc.selection)
        elif ctrl or shift:
            base = doc.selection if ctrl else frozenset()
            self.drag = Drag("band", x, y, x, y, base=base)
        else:
            self.drag = Drag("draw", x, y, x, y)
        self._audition(self.drag)
        self.update()

    def _audition(self, drag: Drag | None) -> None:
        """Let the app sound the pitch of a note as it is grabbed or drawn."""
        if drag is None or drag.kind not in ("draw", "move", "resize"):
            return
        pitch = (self.roll.doc.note(drag.anchor).pitch if drag.anchor is not None
                 else self.roll.geometry.pitch_at(drag.press_y))
        self._sounding = pitch
        self.roll.key_pressed.emit(pitch)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        x, y = event.position().x(), event.position().y()
        d = self.drag
        if d is None:
            self._set_hover_cursor(x, y)
            return
        d.x, d.y = x, y
        if (abs(x - d.press_x) + abs(y - d.press_y)) >= QApplication.startDragDistance():
            d.started = True
        if d.kind == "erase":
            hit = hit_test(self.roll.doc, self.roll.geometry, x, y)
            if hit:
                d.erased.add(hit.note_id)
        if self._overshoot() != (0.0, 0.0) and not self._edge_timer.isActive():
            self._edge_timer.start()
        self.update()
        self.roll.velocity_lane.update()

    def _overshoot(self) -> tuple[float, float]:
        """How far outside the grid the mouse of the drag in progress is, per axis."""
        d = self.drag
        if d is None:
            return 0.0, 0.0

        def past(v: float, size: int) -> float:
            return v if v < 0 else max(0.0, v - size)

        return past(d.x, self.width()), past(d.y, self.height())

    def _edge_scroll(self) -> None:
        """Scroll towards a drag that left the grid, so notes can go past the view."""
        dx, dy = self._overshoot()
        d = self.drag
        if d is None or (dx, dy) == (0.0, 0.0):
            self._edge_timer.stop()
            return
        limit = EDGE_SCROLL_MAX_PX
        moved_x, moved_y = self.roll.scroll_by(max(-limit, min(limit, dx / 2)),
                                               max(-limit, min(limit, dy / 2)))
        d.press_x -= moved_x  # the press stays on the same content as the view moves
        d.press_y -= moved_y
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        d, self.drag = self.drag, None
        if d is None or event.button() != d.button:
            self.drag = d
            return
        doc = self.roll.doc
        d.x, d.y = event.position().x(), event.position().y()
        self.drag = d  # the delta helpers read the finished gesture
        try:
            if d.kind == "move":
                d_tick, d_pitch = self.move_delta()
                if d_tick or d_pitch:
                    doc.move_notes(d.ids, d_tick, d_pitch)
                elif not d.started:
                    doc.set_selection({d.anchor})  # a click picks one note of a selection
            elif d.kind == "resize":
                if self.resize_delta():
                    doc.resize_notes(d.ids, self.resize_delta())
                elif not d.started:
                    doc.set_selection(d.ids)  # a click on the end selects, as on the body
            elif d.kind == "draw":
                note = self.drawn_note()
                if note is not None:
                    doc.add_notes([note], text="Draw note", select=True)
            elif d.kind == "band":
                doc.set_selection(d.base | notes_in_rect(doc, self.roll.geometry,
                                                          d.press_x, d.press_y, d.x, d.y))
            elif d.kind == "erase" and d.erased:
                doc.delete_notes(d.erased, text="Erase notes")
        finally:
            self.end_drag()

    def _set_hover_cursor(self, x: float, y: float) -> None:
        hit = hit_test(self.roll.doc, self.roll.geometry, x, y)
        shape = (Qt.CursorShape.SizeHorCursor if hit and hit.part == "end"
                 else Qt.CursorShape.SizeAllCursor if hit else Qt.CursorShape.CrossCursor)
        if self.cursor().shape() != shape:
            self.setCursor(shape)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.roll.grid_resized()

    def wheelEvent(self, event: QWheelEvent) -> None:
        self.roll.wheel(event, event.position().x(), event.position().y())

    # ---- keys ------------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Keys, also where the roll's actions are not reachable as shortcuts."""
        roll, key = self.roll, event.key()
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            roll.transpose_selection((12 if shift else 1) * (1 if key == Qt.Key.Key_Up else -1))
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            roll.shift_selection(-1 if key == Qt.Key.Key_Left else 1)
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            roll.delete_selection()
        elif key == Qt.Key.Key_Escape:
            if self.drag is not None:
                self.end_drag()
            else:
                roll.doc.set_selection(())
        elif event.matches(QKeySequence.StandardKey.SelectAll):
            roll.select_all()
        elif event.matches(QKeySequence.StandardKey.Copy):
            roll.copy()
        elif event.matches(QKeySequence.StandardKey.Cut):
            roll.cut()
        elif event.matches(QKeySequence.StandardKey.Paste):
            roll.paste()
        else:
            super().keyPressEvent(event)

    # ---- painting --------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        """Paint only the damaged area: a moving playhead repaints a strip, not the view."""
        area = QRectF(event.rect()).adjusted(-1, -1, 1, 1)
        painter = QPainter(self)
        try:
            painter.setClipRect(area)
            self._paint_rows(painter, area)
            paint_time_range(painter, self.roll, self.height())
            self._paint_lines(painter, area)
            self._paint_notes(painter, area)
            self._paint_overlay(painter)
        finally:
            painter.end()

    def _ticks_in(self, area: QRectF) -> tuple[int, int]:
        geo = self.roll.geometry
        return geo.tick_at(area.left()), geo.visible_ticks(area.right())[1]

    def _paint_rows(self, painter: QPainter, area: QRectF) -> None:
        geo = self.roll.geometry
        left, width = area.left(), area.width()
        scale = self.roll.doc.key.scale_pitch_classes
        tonic = self.roll.doc.key.tonic
        low, high = geo.y_to_pitch(area.bottom()), geo.y_to_pitch(area.top())
        low, high = max(0, low), min(127, high)
        painter.fillRect(area, style.BACKGROUND_BLACK_ROW)
        h = geo.row_height
        drums = self.roll.keyboard.drums  # rows of drum sounds: no keys, no key signature
        for pitch in range(low, high + 1):
            y = geo.pitch_to_y(pitch)
            if drums:
                painter.fillRect(QRectF(left, y, width, h), style.BACKGROUND_WHITE_ROW
                                 if PERCUSSION_LOW <= pitch <= PERCUSSION_HIGH
                                 else style.BACKGROUND_BLACK_ROW)
                continue
            pc = pitch % 12
            painter.fillRect(QRectF(left, y, width, h), style.BACKGROUND_BLACK_ROW
                             if pc in BLACK_KEYS else style.BACKGROUND_WHITE_ROW)
            if pc in scale:
                painter.fillRect(QRectF(left, y, width, h),
                                 style.TONIC_TINT if pc == tonic else style.SCALE_TINT)
        if h >= 6:
            painter.setPen(QPen(style.ROW_LINE, 0))
            painter.drawLines([QLineF(left, geo.pitch_to_y(p), area.right(), geo.pitch_to_y(p))
                               for p in range(low, high + 1)])

    def _paint_lines(self, painter: QPainter, area: QRectF) -> None:
        geo, doc = self.roll.geometry, self.roll.doc
        start, end = self._ticks_in(area)
        step = self.roll.snap_step()
        if geo.pixels_for_ticks(step) < MIN_LINE_GAP_PX:
            step = 0.0
        sigs = doc.time_signatures
        per_bar = min(ts.ticks_per_bar(doc.ppq) for ts in sigs)
        per_beat = min(ts.ticks_per_beat(doc.ppq) for ts in sigs)
        if geo.pixels_for_ticks(per_bar) < MIN_LINE_GAP_PX:
            return  # zoomed so far out that bar lines would fill the view
        show_beats = geo.pixels_for_ticks(per_beat) >= MIN_LINE_GAP_PX
        by_kind: dict[str, list[QLineF]] = {"step": [], "beat": [], "bar": []}
        h = self.height()
        for line in grid_lines(sigs, doc.ppq, start, end, step):
            if line.kind == "beat" and not show_beats:
                continue
            x = geo.tick_to_x(line.tick)
            by_kind[line.kind].append(QLineF(x, 0, x, h))
        for kind, colour in (("step", style.STEP_LINE), ("beat", style.BEAT_LINE),
                             ("bar", style.BAR_LINE)):
            if by_kind[kind]:
                painter.setPen(QPen(colour, 0))
                painter.drawLines(by_kind[kind])

    def _paint_notes(self, painter: QPainter, area: QRectF) -> None:
        """Notes in the damaged area only, batched by look into one drawRects call each."""
        roll, geo, doc = self.roll, self.roll.geometry, self.roll.doc
        start, end = self._ticks_in(area)
        low, high = geo.y_to_pitch(area.bottom()), geo.y_to_pitch(area.top())
        hidden = self._hidden_ids()
        selection = self._shown_selection()
        # one group per look: (active track?, track, origin, selected, loudness)
        groups: dict[tuple[bool, int, str, bool, int], list[QRectF]] = {}
        active, muted = doc.active_track, doc.muted_tracks  # a muted track's notes dimmed
        drums = {i for i, t in enumerate(doc.tracks) if t.is_drum}  # hits: a diamond each
        inset = 1.0 if geo.row_height >= 6 else 0.0
        hit = min(geo.row_height - inset, DIAMOND_MAX_PX)  # a drum hit's width and height
        for note_id in doc.notes_in_range(start, end, low, high):
            if note_id in hidden:
                continue
            note = doc.note(note_id)
            x, y, w, h = geo.note_rect(note.start_tick, note.duration_ticks, note.pitch)
            track = doc.track_of(note_id)
            look = (track == active, track, doc.origin(note_id), note_id in selection,
                    style.loudness(note.velocity))
            groups.setdefault(look, []).append(
                QRectF(x, y + (h - hit) / 2, hit, hit) if track in drums
                else QRectF(x, y + inset / 2, w, h - inset))
        # outlines only where a sixteenth is wide enough to show one: zoomed out they
        # would only darken the fill and double the drawing work
        outline = geo.pixels_for_ticks(doc.ppq / 4) >= 4 and geo.row_height >= 5
        # the other tracks first, the active track over them, selected notes on top
        for (is_active, track, origin, selected, loudness), rects in sorted(
                groups.items(), key=lambda kv: (kv[0][0], kv[0][3])):
            painter.setBrush(style.note_fill(origin, selected, loudness, track, is_active,
                                             track in muted))
            if outline:
                painter.setPen(QPen(style.NOTE_EDGE_SELECTED if selected else style.NOTE_EDGE, 0))
            else:
                painter.setPen(Qt.PenStyle.NoPen)
            if track in drums and hit >= DIAMOND_MIN_PX and len(rects) <= DIAMONDS_AT_MOST:
                painter.drawPath(diamonds(rects))  # else squares: as fast as any note
            else:
                painter.drawRects(rects)
        if roll.preview_notes:
            painter.setBrush(style.PREVIEW_FILL)
            painter.setPen(QPen(style.PREVIEW_EDGE, 0, Qt.PenStyle.DashLine))
            painter.drawRects([QRectF(*geo.note_rect(n.start_tick, n.duration_ticks, n.pitch))
                               for n in roll.preview_notes
                               if n.end_tick > start and n.start_tick < end])

    def _shown_selection(self) -> frozenset[int] | set[int]:
        """The selection as painted: a rubber band in progress shows what it would select."""
        d, doc = self.drag, self.roll.doc
        if d is not None and d.kind == "band" and d.started:
            return d.base | notes_in_rect(doc, self.roll.geometry, d.press_x, d.press_y, d.x, d.y)
        return doc.selection

    def _hidden_ids(self) -> frozenset[int] | set[int]:
        """Notes painted elsewhere (dragged) or not at all (being erased) this frame."""
        d = self.drag
        if d is None:
            return frozenset()
        if d.kind == "erase":
            return d.erased
        if d.kind in ("move", "resize") and d.started:
            return d.ids
        return frozenset()

    def _paint_overlay(self, painter: QPainter) -> None:
        geo, d = self.roll.geometry, self.drag
        if d is not None:
            ghosts = self._ghost_notes()
            if ghosts:
                painter.setBrush(style.note_fill(SEED, True, 2, self.roll.doc.active_track))
                painter.setPen(QPen(style.NOTE_EDGE_SELECTED, 0))
                painter.drawRects([QRectF(*geo.note_rect(n.start_tick, n.duration_ticks,
                                                         n.pitch)) for n in ghosts])
            if d.kind == "band":
                painter.setBrush(style.BAND_FILL)
                painter.setPen(QPen(style.BAND_EDGE, 0))
                painter.drawRect(QRectF(d.press_x, d.press_y, d.x - d.press_x,
                                        d.y - d.press_y).normalized())
        x = geo.tick_to_x(self.roll.playhead_tick)
        if 0 <= x <= self.width():
            painter.setPen(QPen(style.PLAYHEAD, 1))
            painter.drawLine(QLineF(x, 0, x, self.height()))

    def _ghost_notes(self) -> list[Note]:
        """Where the notes of the gesture in progress would land."""
        d, doc = self.drag, self.roll.doc
        if d is None:
            return []
        if d.kind == "draw":
            note = self.drawn_note()
            return [note] if note else []
        if d.kind == "move" and d.started:
            d_tick, d_pitch = self.move_delta()
            return [doc.note(i).moved(d_tick, d_pitch) for i in d.ids if i in doc]
        if d.kind == "resize" and d.started:
            delta = self.resize_delta()
            return [Note(n.pitch, n.start_tick, max(1, n.duration_ticks + delta), n.velocity)
                    for n in (doc.note(i) for i in d.ids if i in doc)]
        return []
