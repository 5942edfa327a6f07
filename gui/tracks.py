"""The track strip: which track is being edited, its name and its instrument.

Each change is one undo step through the document (``rename_track``,
``set_track_program``); the strip follows the document (undo, open, another track
made active) through its signals.  The instrument is a General MIDI program, listed
by family (``engine.live.gm``): the built-in synth plays it, a MIDI port is sent it at
play start (and at once, when changed), and Save writes it into the file.

:class:`TrackActions` are the Track menu's gestures, which the strip's buttons share:
New Track, New Drum Track (channel 10, its rows named by the GM percussion map) and
Mute Track (Play leaves it silent), each one undo step.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QSignalBlocker, Qt
from PySide6.QtGui import QAction, QFont, QIcon, QPixmap, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QToolButton, QWidget

from engine.live.gm import program_name, programs_by_family
from engine.song import DRUM_CHANNEL, Track
from gui.document import SongDocument
from gui.pianoroll.style import track_colour

# the strip's Mute while the active track is muted: amber, as a mixer lights its mute
MUTE_CHECKED_STYLE = ("QToolButton:checked { background-color: #e8b33d; color: #1d2025; "
                      "border: 1px solid #8a6a20; border-radius: 3px; }")


def _swatch(track: int) -> QIcon:
    """A square of the track's colour in the roll, so the list tells which notes are whose."""
    pixmap = QPixmap(12, 12)
    pixmap.fill(track_colour(track))
    return QIcon(pixmap)


def _unused_name(stem: str, taken: set[str]) -> str:
    """``stem``, or "stem 2", "stem 3" ... whichever no track has yet."""
    if stem not in taken:
        return stem
    number = 2
    while f"{stem} {number}" in taken:
        number += 1
    return f"{stem} {number}"


def new_track(doc: SongDocument, drums: bool = False) -> int:
    """Append an empty track and make it the active one: one undo step ("New track" or
    "New drum track").  A drum track plays on channel 10 (``DRUM_CHANNEL``) and is
    named "Drums"; a pitched one takes the first channel no other track uses (channel
    10 left out; the first channel when all fifteen are taken).  Returns its index."""
    tracks = doc.tracks
    taken = {t.name for t in tracks}
    if drums:
        track = Track(name=_unused_name("Drums", taken), channel=DRUM_CHANNEL, is_drum=True)
    else:
        used = {t.channel for t in tracks}
        free = [c for c in range(16) if c != DRUM_CHANNEL and c not in used]
        track = Track(name=_unused_name(f"Track {len(tracks) + 1}", taken),
                      channel=free[0] if free else 0)
    index = len(tracks)
    doc.add_parts({}, new_tracks=[track], text="New drum track" if drums else "New track")
    doc.active_track = index
    return index


class TrackActions(QObject):
    """The Track menu: New Track, New Drum Track, Mute Track (checkable, following the
    active track); each one undo step through the document."""

    def __init__(self, doc: SongDocument, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.new_track = self._action("track_new", "&New Track", "Add an empty track and "
                                      "draw on it", lambda: new_track(doc))
        self.new_drum_track = self._action(
            "track_new_drums", "New &Drum Track", "Add an empty drum track (channel 10): "
            "its rows are drum sounds, named on the keyboard", lambda: new_track(doc, True))
        self.mute = self._action("track_mute", "&Mute Track", "Play leaves the active track "
                                 "silent (it is still saved); again to hear it", self._on_mute)
        self.mute.setCheckable(True)
        self.actions = [self.new_track, self.new_drum_track, self.mute]
        doc.tracks_changed.connect(self.sync)
        doc.song_replaced.connect(self.sync)
        doc.active_track_changed.connect(lambda _: self.sync())
        self.sync()

    def _action(self, name: str, text: str, tip: str, slot: object) -> QAction:
        action = QAction(text, self)
        action.setObjectName(name)
        action.setStatusTip(tip)
        action.setToolTip(tip)
        action.triggered.connect(lambda _=False: slot())
        return action

    def _on_mute(self) -> None:
        track = self.doc.active_track
        self.doc.set_track_muted(track, track not in self.doc.muted_tracks)

    def sync(self) -> None:
        """Show whether the active track is muted (after undo, another track, open ...)."""
        with QSignalBlocker(self.mute):
            self.mute.setChecked(self.doc.active_track in self.doc.muted_tracks)


def _tool_button(action: QAction, text: str) -> QToolButton:
    button = QToolButton()
    action.setIconText(text)  # the button's short text, kept when the action changes
    button.setDefaultAction(action)
    button.setText(text)
    button.setObjectName(f"{action.objectName()}_button")
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    return button


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
        # the box as wide as a usual name (the track toolbar must fit a 700-pixel
        # window), the list as wide as the longest
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(14)
        self.setPlaceholderText("Drum kit (channel 10)")  # shown for a drum track
        self.view().setMinimumWidth(self.view().sizeHintForColumn(0) + 24)

    def program(self) -> int | None:
        data = self.currentData(Qt.ItemDataRole.UserRole)
        return None if data is None else int(data)

    def set_program(self, program: int) -> None:
        """Show ``program`` (no signal: this follows the document); -1 shows none (the
        placeholder: a drum track's kit)."""
        with QSignalBlocker(self):
            self.setCurrentIndex(self.findData(program, Qt.ItemDataRole.UserRole))

    def index_of(self, program: int) -> int:
        return self.findData(program, Qt.ItemDataRole.UserRole)


class TrackStrip(QWidget):
    """Track, Name, Mute, the buttons that add a track and the Instrument, for a toolbar
    (their actions are ``actions``', the Track menu's, when it is given)."""

    def __init__(self, doc: SongDocument, actions: TrackActions | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.actions = actions if actions is not None else TrackActions(doc, self)
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
        self.instrument.setAccessibleName("Instrument")  # its tooltip names it too
        layout.addWidget(QLabel("Track"))
        layout.addWidget(self.track_box)
        layout.addWidget(self.name_edit)
        self.mute_button = _tool_button(self.actions.mute, "Mute")
        # checked, it is lit as a mixer's mute is, not the faint press of a plain button
        self.mute_button.setStyleSheet(MUTE_CHECKED_STYLE)
        layout.addWidget(self.mute_button)
        layout.addWidget(_tool_button(self.actions.new_track, "+ Track"))
        layout.addWidget(_tool_button(self.actions.new_drum_track, "+ Drums"))
        layout.addSpacing(6)
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
                muted = " (muted)" if i in self.doc.muted_tracks else ""
                self.track_box.addItem(_swatch(i), f"{i + 1}: {t.name or 'Untitled'}{muted}", i)
            self.track_box.setCurrentIndex(active)
        self.track_box.setEnabled(len(tracks) > 1)
        track = tracks[active]
        if not self.name_edit.hasFocus() or self.name_edit.text() == track.name:
            with QSignalBlocker(self.name_edit):
                self.name_edit.setText(track.name)
        drums = track.is_drum
        self.instrument.set_program(-1 if drums else track.program)  # a kit: the placeholder
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


__all__ = ["TrackStrip", "TrackActions", "InstrumentChooser", "new_track"]
