"""The generated variations, side by side, to audition before one is kept.

Each variation is a row with a thumbnail of its notes (a tiny piano roll drawn once
into a pixmap, so scrolling the list costs nothing), its note count and range.
Selecting a row previews it in the piano roll; the buttons play it and keep it.  The
widget only shows and asks: keeping is the panel's job (one undo step on the document).
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (QHBoxLayout, QListWidget, QListWidgetItem, QPushButton,
                               QVBoxLayout, QWidget)

from engine.song import Note

THUMB = QSize(132, 44)
NOTE_COLOUR = QColor("#e0883a")
SEED_COLOUR = QColor("#4f8fd6")


def note_name(pitch: int) -> str:
    names = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B"]
    return f"{names[pitch % 12]}{pitch // 12 - 1}"


def thumbnail(notes: list[Note], seed_tail: list[Note] | None = None,
              size: QSize = THUMB) -> QPixmap:
    """A small picture of the notes (and, greyed, the end of the seed before them)."""
    pix = QPixmap(size)
    pix.fill(QColor("#1f2328"))
    everything = list(notes) + list(seed_tail or [])
    if not everything:
        return pix
    start = min(n.start_tick for n in everything)
    end = max(n.end_tick for n in everything)
    low = min(n.pitch for n in everything) - 1
    high = max(n.pitch for n in everything) + 1
    sx = (size.width() - 4) / max(end - start, 1)
    sy = (size.height() - 4) / max(high - low, 1)
    painter = QPainter(pix)
    for colour, group in ((SEED_COLOUR, seed_tail or []), (NOTE_COLOUR, notes)):
        for n in group:
            x = 2 + (n.start_tick - start) * sx
            y = 2 + (high - n.pitch) * sy
            painter.fillRect(int(x), int(y), max(2, int(n.duration_ticks * sx) - 1),
                             max(2, int(sy)), colour)
    painter.end()
    return pix


class VariationsView(QWidget):
    """A list of variations with Play / Keep buttons."""

    preview = Signal(object)  # list[Note] or None: show in the piano roll
    play_requested = Signal(int)  # index
    keep_requested = Signal(int)  # index

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._variations: list[list[Note]] = []
        self.list = QListWidget()
        self.list.setIconSize(THUMB)
        self.list.setSpacing(2)
        self.list.setToolTip("Select a variation to see it in the piano roll; "
                             "double-click to keep it")
        self.list.currentRowChanged.connect(self._on_row)
        self.list.itemDoubleClicked.connect(lambda _: self._keep())
        self.play_button = QPushButton("Play")
        self.play_button.setToolTip("Play the seed's last bar and this variation (every "
                                    "part of it)")
        self.play_button.clicked.connect(self._play)
        self.keep_button = QPushButton("Keep variation")
        self.keep_button.setToolTip("Insert this variation into the song (one undo step)")
        self.keep_button.clicked.connect(self._keep)
        buttons = QHBoxLayout()
        buttons.addWidget(self.play_button)
        buttons.addWidget(self.keep_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self._update_buttons()

    def set_variations(self, variations: list[list[Note]],
                       seed_tail: list[Note] | None = None,
                       details: list[str] | None = None) -> None:
        """Show ``variations`` (the notes of each; a polyphonic one's, every part's),
        after ``seed_tail`` in each thumbnail; ``details``: a line per variation in place
        of its note count (e.g. "40 notes in 2 parts")."""
        self._variations = [list(v) for v in variations]
        self.list.blockSignals(True)
        self.list.clear()
        for i, notes in enumerate(self._variations):
            if notes:
                count = details[i] if details and i < len(details) else f"{len(notes)} notes"
                text = (f"Variation {i + 1}\n{count}, "
                        f"{note_name(min(n.pitch for n in notes))}-"
                        f"{note_name(max(n.pitch for n in notes))}")
            else:
                text = f"Variation {i + 1}\n(silence)"
            item = QListWidgetItem(QIcon(thumbnail(notes, seed_tail)), text)
            item.setData(Qt.ItemDataRole.UserRole, i)
            self.list.addItem(item)
        self.list.blockSignals(False)
        if self._variations:
            self.list.setCurrentRow(0)
        else:
            self.preview.emit(None)
        self._update_buttons()

    def clear(self) -> None:
        self.set_variations([])

    def count(self) -> int:
        return len(self._variations)

    def current_index(self) -> int:
        return self.list.currentRow()

    def set_current_index(self, index: int) -> None:
        self.list.setCurrentRow(index)

    def variation(self, index: int) -> list[Note]:
        return list(self._variations[index])

    def _on_row(self, row: int) -> None:
        self._update_buttons()
        self.preview.emit(self.variation(row) if 0 <= row < len(self._variations) else None)

    def _play(self) -> None:
        if 0 <= self.current_index() < len(self._variations):
            self.play_requested.emit(self.current_index())

    def _keep(self) -> None:
        if 0 <= self.current_index() < len(self._variations):
            self.keep_requested.emit(self.current_index())

    def _update_buttons(self) -> None:
        has = 0 <= self.current_index() < len(self._variations)
        self.play_button.setEnabled(has)
        self.keep_button.setEnabled(has and bool(self._variations[self.current_index()]))
