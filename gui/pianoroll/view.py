"""PianoRoll: keyboard, ruler, note grid, velocity lane and scroll bars around one geometry.

The parts share one :class:`RollGeometry` (zoom and scroll) and one
:class:`SongDocument`; this class wires them together and offers the editing
operations the app puts in its menus (as methods and as the QActions in
:attr:`PianoRoll.actions`).  It holds no notes of its own: everything it edits goes
through the document, one undo command per gesture.
"""

from __future__ import annotations

from typing import Iterable

from PySide6.QtCore import QEvent, QMimeData, QObject, QRect, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QWheelEvent
from PySide6.QtWidgets import (QApplication, QComboBox, QGridLayout, QHBoxLayout, QLabel,
                               QScrollBar, QVBoxLayout, QWidget)

from engine.errors import ContinuoError
from engine.formats import midi_file_to_song, song_to_midi_bytes
from engine.song import Note, grid_lines, melody_song
from gui.document import SEED, SongDocument
from gui.pianoroll.geometry import (DEFAULT_NOTE_LENGTH, NOTE_LENGTH_KEYS, NOTE_LENGTH_NAMES,
                                    NOTE_LENGTHS, SNAP_CHOICES, RollGeometry,
                                    note_length_ticks, snap_step_ticks)
from gui.pianoroll.chords import ChordLane
from gui.pianoroll.grid import NoteGrid
from gui.pianoroll.keyboard import Keyboard
from gui.pianoroll.ruler import Ruler
from gui.pianoroll.velocity import VelocityLane

MIDI_MIME = "audio/midi"
ZOOM_STEP = 1.25  # per wheel notch
FOLLOW_RIGHT = 0.85  # when following, flip the page once the playhead passes this fraction
FOLLOW_LEFT = 0.1  # ... and put it back at this fraction
FIT_MAX_ROW_PX = 16.0  # Fit Song makes rows no taller than this
OPEN_FIT_MAX_BARS = 16  # a song opens fitted to the window, up to this many bars of it
OPEN_FIT_MIN_BARS = 4  # ... and at least this many: a new song shows bars to draw in
REVEAL_MARGIN = 0.05  # a revealed preview keeps this fraction of the width free each side


def release_clipboard() -> None:
    """Take our data off the system clipboard.

    The clipboard owns the QMimeData we hand it; left there, Qt deletes it from a C++
    exit handler after Python has finalized, and shiboken then crashes the process
    (SIGSEGV at exit, seen with PySide6 6.11).  So it goes before Python does."""
    clipboard = QApplication.clipboard()
    mime = clipboard.mimeData()
    ours = NoteClipboard._midi  # noqa: SLF001 - the clip this process put there
    if mime is not None and ours and bytes(mime.data(MIDI_MIME).data()) == ours:
        clipboard.clear()


def release_clipboard_at_quit() -> None:
    app = QApplication.instance()
    if app is not None and not app.property("continuo_clipboard_hook"):
        app.setProperty("continuo_clipboard_hook", True)
        app.aboutToQuit.connect(release_clipboard)


class NoteClipboard:
    """Copied notes (relative to tick 0), shared by every roll in the process.

    The notes also go to the system clipboard as a MIDI file, so that a DAW can paste
    them; a MIDI file that some other program put there is pasted too.
    """

    notes: list[Note] = []
    _midi: bytes = b""

    @classmethod
    def put(cls, notes: list[Note], ppq: int) -> None:
        cls.notes = list(notes)
        cls._midi = song_to_midi_bytes(melody_song(notes, ppq=ppq, name="Clip"))
        mime = QMimeData()
        mime.setData(MIDI_MIME, cls._midi)
        QApplication.clipboard().setMimeData(mime)
        release_clipboard_at_quit()

    @classmethod
    def get(cls, ppq: int) -> list[Note]:
        mime = QApplication.clipboard().mimeData()
        if mime is not None and mime.hasFormat(MIDI_MIME):
            data = bytes(mime.data(MIDI_MIME).data())
            if data and data != cls._midi:
                try:
                    song = midi_file_to_song(data).rescaled(ppq)
                except ContinuoError:
                    return list(cls.notes)
                notes = sorted(song.notes(), key=Note.sort_key)
                first = notes[0].start_tick if notes else 0
                return [n.moved(-first, 0) for n in notes]
        return list(cls.notes)


class PianoRoll(QWidget):
    """The piano-roll editor (see the module docstring)."""

    key_pressed = Signal(int)  # a key of the keyboard went down: sound this pitch
    key_released = Signal(int)
    seek_requested = Signal(int)  # the user clicked the ruler: move playback here
    snap_changed = Signal(str)
    note_length_changed = Signal(str)
    time_range_changed = Signal(object)  # (start, end) ticks of the ruler's range, or None

    def __init__(self, doc: SongDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.geometry = RollGeometry(ppq=doc.ppq)
        self.snap = "1/16"
        self.note_length = DEFAULT_NOTE_LENGTH  # what a click on the grid draws
        self.playhead_tick = 0
        self.follow_playhead = False
        self.preview_notes: list[Note] | None = None
        self._time_range: tuple[int, int] | None = None

        self.grid = NoteGrid(self)
        self.keyboard = Keyboard(self)
        self.ruler = Ruler(self)
        self.chord_lane = ChordLane(self)  # the chord track, under the ruler
        self.velocity_lane = VelocityLane(self)
        self.h_scroll = QScrollBar(Qt.Orientation.Horizontal, self)
        self.v_scroll = QScrollBar(Qt.Orientation.Vertical, self)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        header = QVBoxLayout()  # the ruler, then the chord lane, over the grid
        header.setSpacing(0)
        header.addWidget(self.ruler)
        header.addWidget(self.chord_lane)
        layout.addLayout(header, 0, 1)
        chords_label = QLabel("Chords", self)
        chords_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        chords_label.setFixedSize(self.keyboard.width(), self.chord_lane.height())
        layout.addWidget(chords_label, 0, 0, Qt.AlignmentFlag.AlignBottom)
        layout.addWidget(self.keyboard, 1, 0)
        layout.addWidget(self.grid, 1, 1)
        layout.addWidget(self.v_scroll, 1, 2)
        layout.addWidget(self.velocity_lane, 2, 1)
        lane_label = QLabel("Velocity", self)
        lane_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lane_label.setFixedWidth(self.keyboard.width())
        layout.addWidget(lane_label, 2, 0)
        layout.addWidget(self.h_scroll, 3, 1)
        layout.setRowStretch(1, 1)
        layout.setColumnStretch(1, 1)

        self.keyboard.key_pressed.connect(self.key_pressed)
        self.keyboard.key_released.connect(self.key_released)
        self.h_scroll.valueChanged.connect(self._on_h_scroll)
        self.v_scroll.valueChanged.connect(self._on_v_scroll)
        doc.changed.connect(self._on_changed)
        doc.selection_changed.connect(self._repaint_notes)
        doc.song_replaced.connect(self._on_song_replaced)
        doc.active_track_changed.connect(self._repaint_notes)
        self.actions = self._make_actions()
        self.setFocusProxy(self.grid)  # focusing the roll lets its keys work at once
        self.grid.installEventFilter(self)  # Escape clears the time range first
        self._centred = False
        self._fit_on_resize = False  # an opened song stays fitted until the user zooms/scrolls

    # ---- actions for menus -----------------------------------------------------------
    def _make_actions(self) -> dict[str, QAction]:
        specs = [
            ("edit_select_all", "Select &All", QKeySequence.StandardKey.SelectAll,
             self.select_all),
            ("edit_copy", "&Copy", QKeySequence.StandardKey.Copy, self.copy),
            ("edit_cut", "Cu&t", QKeySequence.StandardKey.Cut, self.cut),
            ("edit_paste", "&Paste at Playhead", QKeySequence.StandardKey.Paste, self.paste),
            ("edit_delete", "&Delete", QKeySequence.StandardKey.Delete, self.delete_selection),
            ("edit_transpose_up", "Transpose &Up", None, lambda: self.transpose_selection(1)),
            ("edit_transpose_down", "Transpose Do&wn", None,
             lambda: self.transpose_selection(-1)),
            ("edit_octave_up", "Octave Up", None, lambda: self.transpose_selection(12)),
            ("edit_octave_down", "Octave Down", None, lambda: self.transpose_selection(-12)),
            ("view_zoom_in", "Zoom &In", QKeySequence.StandardKey.ZoomIn,
             lambda: self.zoom_time(ZOOM_STEP)),
            ("view_zoom_out", "Zoom &Out", QKeySequence.StandardKey.ZoomOut,
             lambda: self.zoom_time(1 / ZOOM_STEP)),
            ("view_fit_song", "&Fit Song", None, lambda: self.fit_song()),
        ]
        keys = {length: key for key, length in NOTE_LENGTH_KEYS.items()}
        specs += [(f"edit_length_{length}", f"Draw {NOTE_LENGTH_NAMES[length].capitalize()}"
                   + (" Notes" if length != "snap" else ""), keys.get(length),
                   lambda _=False, length=length: self.set_note_length(length))
                  for length in NOTE_LENGTHS]
        actions = {}
        for name, text, shortcut, slot in specs:
            action = QAction(text, self)
            action.setObjectName(name)
            if shortcut is not None:
                action.setShortcut(shortcut)
                action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.triggered.connect(slot)
            self.addAction(action)
            actions[name] = action
        # the note lengths are a choice of one, checked in the menu
        self.note_length_group = QActionGroup(self)
        for length in NOTE_LENGTHS:
            action = actions[f"edit_length_{length}"]
            action.setCheckable(True)
            action.setChecked(length == self.note_length)
            self.note_length_group.addAction(action)
        self.note_length_changed.connect(
            lambda length: self.actions[f"edit_length_{length}"].setChecked(True))
        return actions

    # ---- editing operations ----------------------------------------------------------
    def select_all(self) -> None:
        self.doc.select_all()

    def delete_selection(self) -> None:
        self.doc.delete_notes(self.doc.selection)

    def copy(self) -> None:
        notes = self.doc.copy_notes(self.doc.selection)
        if notes:
            NoteClipboard.put(notes, self.doc.ppq)

    def cut(self) -> None:
        if self.doc.selection:
            self.copy()
            self.doc.delete_notes(self.doc.selection, text="Cut")

    def paste(self) -> list[int]:
        """Paste the clipboard at the playhead; the pasted notes become the selection."""
        notes = NoteClipboard.get(self.doc.ppq)
        if not notes:
            return []
        return self.doc.insert_notes(notes, self.playhead_tick, SEED, "Paste")

    def transpose_selection(self, semitones: int) -> None:
        self.doc.transpose(self.doc.selection, semitones)

    def shift_selection(self, steps: int) -> None:
        """Move the selection in time by whole snap steps (a sixteenth when snap is off)."""
        step = self.snap_step() or self.doc.ppq / 4
        self.doc.move_notes(self.doc.selection, round(steps * step), 0)

    # ---- snap, playhead, preview -----------------------------------------------------
    def set_snap(self, snap: str) -> None:
        if snap not in SNAP_CHOICES:
            raise ValueError(f"snap {snap!r} is not one of {', '.join(SNAP_CHOICES)}")
        if snap != self.snap:
            self.snap = snap
            self.snap_changed.emit(snap)
            self.grid.update()

    def snap_step(self) -> float:
        return snap_step_ticks(self.snap, self.doc.ppq)

    def set_note_length(self, length: str) -> None:
        """The length a click on the grid draws: one of NOTE_LENGTHS ("snap": one snap
        step)."""
        if length not in NOTE_LENGTHS:
            raise ValueError(f"note length {length!r} is not one of {', '.join(NOTE_LENGTHS)}")
        if length != self.note_length:
            self.note_length = length
            self.note_length_changed.emit(length)

    def draw_length(self) -> int:
        """Ticks of the note a click draws: the note length, or one snap step (a 16th
        with snap off) when the length is "snap"."""
        ticks = note_length_ticks(self.note_length, self.doc.ppq)
        if ticks <= 0:
            step = self.snap_step()
            ticks = round(step) if step else self.doc.ppq // 4
        return max(1, ticks)

    def make_draw_strip(self, parent: QWidget | None = None) -> QWidget:
        """Snap and Note length boxes for a toolbar, following the roll both ways."""
        strip = QWidget(parent)
        layout = QHBoxLayout(strip)
        layout.setContentsMargins(6, 0, 6, 0)
        snap_box, length_box = QComboBox(strip), QComboBox(strip)
        snap_box.setObjectName("roll_snap")
        length_box.setObjectName("roll_note_length")
        for choice in SNAP_CHOICES:
            snap_box.addItem(choice, choice)
        for length in NOTE_LENGTHS:
            length_box.addItem("Snap" if length == "snap" else length, length)
            length_box.setItemData(length_box.count() - 1, NOTE_LENGTH_NAMES[length],
                                   Qt.ItemDataRole.ToolTipRole)
        snap_box.setToolTip("Where notes start and end when drawn, moved or resized")
        keys = ", ".join(f"{k} {NOTE_LENGTH_NAMES[v]}" for k, v in NOTE_LENGTH_KEYS.items())
        length_box.setToolTip(f"The length a click on the grid draws (a drag draws as long "
                              f"as the drag). Keys in the roll: {keys}")

        def show_snap(snap: str) -> None:
            with QSignalBlocker(snap_box):
                snap_box.setCurrentIndex(snap_box.findData(snap))

        def show_length(length: str) -> None:
            with QSignalBlocker(length_box):
                length_box.setCurrentIndex(length_box.findData(length))

        show_snap(self.snap)
        show_length(self.note_length)
        self.snap_changed.connect(show_snap)
        self.note_length_changed.connect(show_length)
        snap_box.activated.connect(lambda i: self.set_snap(snap_box.itemData(i)))
        length_box.activated.connect(lambda i: self.set_note_length(length_box.itemData(i)))
        layout.addWidget(QLabel("Snap"))
        layout.addWidget(snap_box)
        layout.addSpacing(6)
        layout.addWidget(QLabel("Note"))
        layout.addWidget(length_box)
        self.snap_box, self.note_length_box = snap_box, length_box
        return strip

    def set_playhead(self, tick: int) -> None:
        """Move the playhead line; when following, page the view to keep it in sight."""
        tick = max(0, int(tick))
        old_x = self.geometry.tick_to_x(self.playhead_tick)
        self.playhead_tick = tick
        x = self.geometry.tick_to_x(tick)
        width = self.grid.width()
        if self.follow_playhead and width > 0 and not 0 <= x <= width * FOLLOW_RIGHT:
            self._scroll_x_to(self.geometry.pixels_for_ticks(tick) - width * FOLLOW_LEFT)
            return
        for line_x in (old_x, x):  # repaint two thin strips, not the whole grid
            self.grid.update(QRect(int(line_x) - 2, 0, 5, self.grid.height()))
        self.ruler.update()

    def set_follow_playhead(self, follow: bool) -> None:
        self.follow_playhead = bool(follow)

    def seek(self, tick: int) -> None:
        """The user moved the playhead (ruler click)."""
        self.set_playhead(tick)
        self.seek_requested.emit(self.playhead_tick)

    # ---- the time range (the ruler's Shift drag; view state, never an undo entry) -----
    def time_range(self) -> tuple[int, int] | None:
        """[start, end) ticks selected in the ruler, or None."""
        return self._time_range

    def set_time_range(self, start: int | None, end: int | None = None) -> None:
        """Select the ticks between ``start`` and ``end`` (either order); None or an
        empty range clears it."""
        new = None
        if start is not None and end is not None and start != end:
            new = (max(0, min(start, end)), max(0, start, end))
        if new != self._time_range:
            self._time_range = new
            self.time_range_changed.emit(new)
            self.ruler.update()
            self.grid.update()

    def select_bar(self, tick: int) -> None:
        """Make the bar that holds ``tick`` the time range."""
        sigs, ppq = self.doc.time_signatures, self.doc.ppq
        longest = max(ts.ticks_per_bar(ppq) for ts in sigs)
        bars = [line.tick for line in grid_lines(sigs, ppq, max(0, tick - longest),
                                                 tick + 2 * longest) if line.kind == "bar"]
        self.set_time_range(max(t for t in bars if t <= tick), min(t for t in bars if t > tick))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (watched is self.grid and event.type() == QEvent.Type.KeyPress
                and event.key() == Qt.Key.Key_Escape  # type: ignore[attr-defined]
                and self._time_range is not None and self.grid.drag is None):
            self.set_time_range(None)  # the next Escape clears the selection
            return True
        return super().eventFilter(watched, event)

    def set_preview_notes(self, notes: Iterable[Note] | None) -> None:
        """Show a translucent, uneditable layer (a variation being auditioned), and
        scroll (zooming out if need be) so that it is in view."""
        self.preview_notes = list(notes) if notes is not None else None
        self._sync_scrollbars()
        if self.preview_notes:  # with the bar before it: how the variation continues
            self.reveal(self.preview_notes, self.doc.time_signature.ticks_per_bar(self.doc.ppq))
        self.grid.update()

    def reveal(self, notes: Iterable[Note], lead_in: int = 0) -> None:
        """Scroll, and zoom out when they do not fit, so that ``notes`` and the
        ``lead_in`` ticks before them are in the view; a view that already shows them
        stays as it is."""
        notes = list(notes)
        width, height = self.grid.width(), self.grid.height()
        if not notes or width <= 1 or height <= 1:
            return
        geo = self.geometry
        start = max(0, min(n.start_tick for n in notes) - max(0, lead_in))
        end = max(n.end_tick for n in notes)
        low, high = min(n.pitch for n in notes), max(n.pitch for n in notes)
        usable = width * (1 - 2 * REVEAL_MARGIN)
        if geo.pixels_for_ticks(end - start) > usable:
            geo.zoom_x(usable / geo.pixels_for_ticks(max(1, end - start)), 0.0)
        if geo.tick_to_x(start) < 0 or geo.tick_to_x(end) > width:
            # the end near the right edge, so the music before it shows too
            left = geo.pixels_for_ticks(end) - width * (1 - REVEAL_MARGIN)
            left = min(left, geo.pixels_for_ticks(start) - width * REVEAL_MARGIN)
            geo.scroll_x = max(0.0, left)
        rows = high - low + 1
        if rows * geo.row_height > height:
            geo.zoom_y(height / (rows + 2) / geo.row_height)
        shown_low, shown_high = geo.visible_pitches(height)
        if low < shown_low + 1 or high > shown_high - 1:
            geo.center_on_pitch((low + high) / 2, height)
        self._fit_on_resize = False
        self._sync_scrollbars()
        self._repaint_all()

    # ---- zoom and scroll -------------------------------------------------------------
    def zoom_time(self, factor: float, anchor_x: float | None = None) -> None:
        self._fit_on_resize = False
        self.geometry.zoom_x(factor, self.grid.width() / 2 if anchor_x is None else anchor_x)
        self._sync_scrollbars()
        self._repaint_all()

    def zoom_pitch(self, factor: float, anchor_y: float | None = None) -> None:
        self._fit_on_resize = False
        self.geometry.zoom_y(factor, self.grid.height() / 2 if anchor_y is None else anchor_y)
        self._sync_scrollbars()
        self._repaint_all()

    def wheel(self, event: QWheelEvent, x: float | None, y: float | None) -> None:
        """Wheel on any part: scroll; Shift: scroll time; Ctrl: zoom time; Ctrl+Shift: pitch."""
        mods = event.modifiers()
        sideways = event.angleDelta().y() == 0  # a trackpad's horizontal swipe
        delta = event.angleDelta().x() if sideways else event.angleDelta().y()
        if not delta:
            return
        ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
        shift = bool(mods & Qt.KeyboardModifier.ShiftModifier)
        factor = ZOOM_STEP ** (delta / 120)
        if ctrl and shift:
            self.zoom_pitch(factor, y)
        elif ctrl:
            self.zoom_time(factor, x)
        elif shift or sideways or y is None:
            self.h_scroll.setValue(self.h_scroll.value() - round(delta / 120 * 60))
        else:
            self.v_scroll.setValue(self.v_scroll.value() - round(delta / 120 * 3
                                                                 * self.geometry.row_height))
        event.accept()

    def _shown_notes(self) -> list[Note]:
        """The song's notes and the preview's: what Fit Song has to show."""
        return list(self.doc.notes().values()) + list(self.preview_notes or [])

    def fit_song(self, max_bars: int | None = None, min_bars: int = 1) -> None:
        """Zoom and scroll so that the whole song (at least ``min_bars`` bars), with the
        variation being previewed, fills the view; ``max_bars``: no more than that many
        bars."""
        doc, geo = self.doc, self.geometry
        bar = doc.time_signature.ticks_per_bar(doc.ppq)
        shown = self._shown_notes()
        end = max([max(1, min_bars) * bar] + [n.end_tick for n in shown])
        if max_bars is not None:
            end = min(end, max_bars * bar)
        geo.scroll_x = 0.0
        geo.zoom_x(self.grid.width() / geo.pixels_for_ticks(end), 0.0)
        pitches = [n.pitch for n in shown if max_bars is None or n.start_tick < end]
        if pitches:  # rows for the range and a little air, no taller than FIT_MAX_ROW_PX
            rows = max(pitches) - min(pitches) + 1 + 4
            geo.zoom_y(min(FIT_MAX_ROW_PX, self.grid.height() / rows) / geo.row_height)
        self.centre_on_notes()

    def scroll_to_tick(self, tick: int) -> None:
        self._scroll_x_to(self.geometry.pixels_for_ticks(tick))

    def centre_on_notes(self) -> None:
        """Scroll vertically to the middle of the song's pitches (middle C when empty)."""
        pitches = [n.pitch for n in self._shown_notes()]
        middle = (min(pitches) + max(pitches)) / 2 if pitches else 60
        self.geometry.center_on_pitch(middle, self.grid.height())
        self._sync_scrollbars()
        self._repaint_all()

    def scroll_by(self, dx: float, dy: float) -> tuple[float, float]:
        """Scroll by (dx, dy) pixels, past the song's end if need be; returns the move made."""
        geo = self.geometry
        old = geo.scroll_x, geo.scroll_y
        self._fit_on_resize = False
        geo.scroll_x = max(0.0, geo.scroll_x + dx)
        y_max = max(0.0, geo.content_height() - self.grid.height())
        geo.scroll_y = min(y_max, max(0.0, geo.scroll_y + dy))
        self._sync_scrollbars()
        self._repaint_all()
        return geo.scroll_x - old[0], geo.scroll_y - old[1]

    def _scroll_x_to(self, content_x: float) -> None:
        self._fit_on_resize = False
        self.geometry.scroll_x = max(0.0, content_x)
        self._sync_scrollbars()
        self._repaint_all()

    def _on_h_scroll(self, value: int) -> None:
        if value != round(self.geometry.scroll_x):
            self._fit_on_resize = False
            self.geometry.scroll_x = float(value)
            self._repaint_all()

    def _on_v_scroll(self, value: int) -> None:
        if value != round(self.geometry.scroll_y):
            self._fit_on_resize = False
            self.geometry.scroll_y = float(value)
            self.grid.update()
            self.keyboard.update()

    def _sync_scrollbars(self) -> None:
        """Scroll-bar ranges from the content size; the geometry stays the source of truth."""
        geo, doc = self.geometry, self.doc
        width, height = max(1, self.grid.width()), max(1, self.grid.height())
        bar = doc.time_signature.ticks_per_bar(doc.ppq)
        preview_end = max((n.end_tick for n in self.preview_notes or []), default=0)
        end_tick = max(doc.end_tick, preview_end, self.playhead_tick) + 4 * bar
        content_w = max(geo.pixels_for_ticks(end_tick), geo.scroll_x + width)
        x_max = round(content_w - width)
        y_max = max(0, round(geo.content_height() - height))
        geo.scroll_y = min(geo.scroll_y, float(y_max))
        for scroll, maximum, page, value in (
                (self.h_scroll, x_max, width, geo.scroll_x),
                (self.v_scroll, y_max, height, geo.scroll_y)):
            scroll.blockSignals(True)
            scroll.setRange(0, max(0, maximum))
            scroll.setPageStep(page)
            scroll.setSingleStep(max(1, page // 20))
            scroll.setValue(round(value))
            scroll.blockSignals(False)

    # ---- reacting to the document and to resizes -------------------------------------
    def _on_changed(self) -> None:
        self.grid.drop_stale_drag()
        self.velocity_lane.drop_stale_drag()
        self._sync_scrollbars()
        self._repaint_all()

    def _on_song_replaced(self) -> None:
        self.geometry.ppq = self.doc.ppq
        self.geometry.scroll_x = 0.0
        self.playhead_tick = 0
        self.preview_notes = None
        self.set_time_range(None)
        self._fit_on_resize = True  # a song opens fitted to the window
        if self.grid.width() > 1 and self.grid.height() > 1:
            self.fit_song(OPEN_FIT_MAX_BARS, OPEN_FIT_MIN_BARS)
        else:
            self.centre_on_notes()

    def _repaint_notes(self) -> None:
        self.grid.update()
        self.velocity_lane.update()

    def _repaint_all(self) -> None:
        for part in (self.grid, self.keyboard, self.ruler, self.chord_lane, self.velocity_lane):
            part.update()

    def grid_resized(self) -> None:
        """Called by the grid: the first real size centres the notes, later ones re-range."""
        if self._fit_on_resize and self.grid.width() > 1 and self.grid.height() > 1:
            self._centred = True
            self.fit_song(OPEN_FIT_MAX_BARS, OPEN_FIT_MIN_BARS)
        elif not self._centred and self.grid.height() > 1:
            self._centred = True
            self.centre_on_notes()
        self._sync_scrollbars()


__all__ = ["PianoRoll", "NoteClipboard", "SNAP_CHOICES", "MIDI_MIME"]
