"""The track strip: which track is being edited, its name and its instrument.

Each change is one undo step through the document (``rename_track``,
``set_track_program``); the strip follows the document (undo, open, another track
made active) through its signals.  The instrument is a General MIDI program, listed
by family (``engine.live.gm``): the built-in synth plays it, a MIDI port is sent it at
play start (and at once, when changed), and Save writes it into the file.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtGui import QFont, QIcon, QPixmap, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QWidget

from engine.live.gm import program_name, programs_by_family
from gui.document import SongDocument
from gui.pianoroll.style import track_colour


def _swatch(track: int) -> QIcon:
    """A square of the track's colour in the roll, so the list tells which notes are whose."""
    pixmap = QPixmap(12, 12)
    pixmap.fill(track_colour(track))
    return QIcon(pixmap)


class InstrumentChooser(QComboBox):
    """The 128 General MIDI programs under their 16 family headings."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("track_instrument")
        model = QStandardItemModel(self)
        bold = QFont()
        bold.setBold(True)
        for family, programs in programs_by_family():
            header = QStandardItem(family)
            header.setFlags(Qt.ItemFlag.NoItemFlags)  # a heading: not selectable
            header.setFont(bold)
            model.appendRow(header)
            for program, name in programs:
                item = QStandardItem(f"    {name}")
                item.setData(program, Qt.ItemDataRole.UserRole)
                item.setToolTip(f"{family}: {name} (General MIDI program {program + 1})")
                model.appendRow(item)
        self.setModel(model)
        self.setMaxVisibleItems(24)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)

    def program(self) -> int | None:
        data = self.currentData(Qt.ItemDataRole.UserRole)
        return None if data is None else int(data)

    def set_program(self, program: int) -> None:
        """Show ``program`` (no signal: this follows the document)."""
        with QSignalBlocker(self):
            self.setCurrentIndex(self.findData(program, Qt.ItemDataRole.UserRole))

    def index_of(self, program: int) -> int:
        return self.findData(program, Qt.ItemDataRole.UserRole)


class TrackStrip(QWidget):
    """Track, Name and Instrument, for a toolbar."""

    def __init__(self, doc: SongDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        self.track_box = QComboBox()
        self.track_box.setObjectName("track_choice")
        self.track_box.setToolTip("The track that drawing, Generate and Keep use")
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("track_name")
        self.name_edit.setToolTip("The track's name (Enter renames it; Undo puts the old "
                                  "name back)")
        self.name_edit.setMinimumWidth(110)
        self.name_edit.setMaximumWidth(160)
        self.instrument = InstrumentChooser()
        self.instrument_label = QLabel("Instrument")
        layout.addWidget(QLabel("Track"))
        layout.addWidget(self.track_box)
        layout.addWidget(self.name_edit)
        layout.addSpacing(6)
        layout.addWidget(self.instrument_label)
        layout.addWidget(self.instrument)
        self.track_box.activated.connect(self._on_track_chosen)
        self.name_edit.editingFinished.connect(self._on_name_edited)
        self.instrument.activated.connect(self._on_instrument_chosen)
        doc.tracks_changed.connect(self.sync)
        doc.song_replaced.connect(self.sync)
        doc.active_track_changed.connect(lambda _: self.sync())
        self.sync()

    def sync(self) -> None:
        """Show the document's tracks, and the active one's name and instrument."""
        tracks = self.doc.tracks
        active = self.doc.active_track
        with QSignalBlocker(self.track_box):
            self.track_box.clear()
            for i, t in enumerate(tracks):
                self.track_box.addItem(_swatch(i), f"{i + 1}: {t.name or 'Untitled'}", i)
            self.track_box.setCurrentIndex(active)
        self.track_box.setEnabled(len(tracks) > 1)
        track = tracks[active]
        if not self.name_edit.hasFocus() or self.name_edit.text() == track.name:
            with QSignalBlocker(self.name_edit):
                self.name_edit.setText(track.name)
        self.instrument.set_program(track.program)
        drums = track.is_drum
        self.instrument.setEnabled(not drums)
        self.instrument.setToolTip(
            "A drum track: its notes are drum sounds, not an instrument's pitches" if drums
            else f"The instrument of track {active + 1}: {program_name(track.program)} "
                 f"(General MIDI program {track.program + 1})")

    def _on_track_chosen(self, index: int) -> None:
        track = self.track_box.itemData(index)
        if track is not None:
            self.doc.active_track = int(track)

    def _on_name_edited(self) -> None:
        name = self.name_edit.text().strip()
        track = self.doc.active_track
        if name:
            self.doc.rename_track(track, name)
        else:  # an empty name is not a name: show the old one again
            with QSignalBlocker(self.name_edit):
                self.name_edit.setText(self.doc.tracks[track].name)

    def _on_instrument_chosen(self, index: int) -> None:
        program = self.instrument.itemData(index, Qt.ItemDataRole.UserRole)
        if program is not None:
            self.doc.set_track_program(self.doc.active_track, int(program))


__all__ = ["TrackStrip", "InstrumentChooser"]
