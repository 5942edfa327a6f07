"""The main window: menus, toolbar, status bar, the piano roll, the generate dock.

It plugs the pieces together and owns the document's life cycle (New, Open, Save, the
unsaved-changes prompt, drag and drop of files, window layout in QSettings).  Music
logic is not here: editing is the document's, reading and writing the engine's,
generation the worker's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QThreadPool, QTimer
from PySide6.QtGui import (QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent,
                           QKeySequence)
from PySide6.QtWidgets import (QDockWidget, QLabel, QMainWindow, QMessageBox, QScrollArea,
                               QWidget)

from engine.errors import ContinuoError
from engine.song import Note, Song, Track
from gui import files
from gui.busy import BusyCancelled, run_busy
from gui.document import GENERATED, SongDocument
from gui.panels.fill import range_text
from gui.panels.generate import GeneratePanel
from gui.pianoroll.geometry import NOTE_LENGTHS, SNAP_CHOICES
from gui.startup import DEFAULT_SEED, on_first_paint
from gui.toolbar import FixedActionButton
from gui.transport import Transport, make_player

UNTITLED = "Untitled"
ICON_PX = 18  # toolbar icons


def _load_library() -> Any:
    """The model library; a broken models folder still opens the composer."""
    from engine.models import ModelLibrary

    return ModelLibrary()


class MainWindow(QMainWindow):
    """Continuo's one window."""

    def __init__(self, library: Any = None, player: Any = None, playback: bool = True,
                 parent: QWidget | None = None) -> None:
        """``player``: a PlayerBridge to use (default: a new one); ``playback=False``
        opens without MIDI output at all (Play is disabled and says why)."""
        super().__init__(parent)
        self.setObjectName("continuo_main_window")
        self.setAcceptDrops(True)
        self.doc = SongDocument(parent=self)
        self.library = library if library is not None else _load_library()
        self.recent = files.RecentFiles()
        self.last_error = ""  # the last message shown in an error dialog (tests read it)
        self._error_box: QMessageBox | None = None
        self.display_name = UNTITLED

        self.roll = self._make_piano_roll()
        self.setCentralWidget(self.roll)
        self.panel = GeneratePanel(self.doc, self.library)
        # once the window is on screen, the helper process starts, loads the chosen model
        # and runs it once (started earlier, it slowed the window down by a quarter on
        # two cores, and the first Generate did not come sooner: bench/first_generate.py)
        self.warm_up_threads: list = []
        on_first_paint(self.roll.grid, lambda: self.warm_up_threads.append(self._warm_up()))
        self.dock = QDockWidget("Generate", self)
        self.dock.setObjectName("generate_dock")
        scroller = QScrollArea()
        scroller.setWidgetResizable(True)
        scroller.setWidget(self.panel)
        self.dock.setWidget(scroller)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        why = "" if playback else "Playback is switched off in this window."
        if player is None and playback:
            player, why = make_player(self)
        self.transport = Transport(self.doc, player, why, parent=self)

        self._make_actions()
        self._make_menus()
        self._make_toolbar()
        self.status_position = QLabel()
        self.statusBar().addPermanentWidget(self.status_position)
        self._connect()
        self._update_title()
        self._restore_layout()

    # ---- construction ---------------------------------------------------------------
    def _warm_up(self) -> Any:
        """Start the helper process with the chosen model loaded and run once
        (gui.worker.warm_up), so the first Generate is about as fast as later ones."""
        from gui import worker

        try:
            settings = self.panel.settings() if self.panel.model_combo.currentData() else None
        except ContinuoError:
            settings = None
        return worker.warm_up(self.library, settings, DEFAULT_SEED)

    def _make_piano_roll(self) -> QWidget:
        from gui.pianoroll.view import PianoRoll

        return PianoRoll(self.doc)

    def _action(self, name: str, text: str, slot: Any, shortcut: Any = None,
                tip: str = "") -> QAction:
        action = QAction(text, self)
        action.setObjectName(name)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _make_actions(self) -> None:
        a, roll, std = self._action, self.roll, QKeySequence.StandardKey
        self.file_new = a("file_new", "&New", self.new_song, std.New, "Start a new empty song")
        self.file_open = a("file_open", "&Open...", self.open_dialog, std.Open,
                           "Open a MIDI, ABC, MusicXML or kern file")
        self.file_save = a("file_save", "&Save", self.save, std.Save, "Save as MIDI")
        self.file_save_as = a("file_save_as", "Save &As...", self.save_as, std.SaveAs)
        self.file_export_selection = a("file_export_selection", "&Export Selection...",
                                       self.export_selection, "Ctrl+E",
                                       "Write the selected notes to a MIDI file")
        self.file_export_audio = a("file_export_audio", "Export &Audio...", self.export_audio,
                                   "Ctrl+Shift+E", "Render the song with the built-in synth "
                                   "to a WAV file")
        self.file_exports = [
            a(f"file_export_{kind}", f"Export as {label}...",
              lambda checked=False, kind=kind: self.export_as(kind), None,
              f"Write the song as {label}" + (" (one file per track)" if per_track else ""))
            for kind, (label, _, _, per_track) in files.EXPORTS.items()]
        self.file_quit = a("file_quit", "&Quit", self.close, std.Quit)
        self.edit_undo = self.doc.undo_stack.createUndoAction(self, "&Undo")
        self.edit_undo.setObjectName("edit_undo")
        self.edit_undo.setShortcut(std.Undo)
        self.edit_redo = self.doc.undo_stack.createRedoAction(self, "&Redo")
        self.edit_redo.setObjectName("edit_redo")
        self.edit_redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.addActions([self.edit_undo, self.edit_redo])  # their keys work toolbar or not
        # the piano roll's own actions: their shortcuts work while the roll has focus,
        # so Ctrl+C in a spin box still copies text
        ra = roll.actions
        self.edit_cut, self.edit_copy = ra["edit_cut"], ra["edit_copy"]
        self.edit_paste, self.edit_delete = ra["edit_paste"], ra["edit_delete"]
        self.edit_select_all = ra["edit_select_all"]
        self.edit_transpose = [ra[n] for n in ("edit_transpose_up", "edit_transpose_down",
                                               "edit_octave_up", "edit_octave_down")]
        self.edit_snap = QActionGroup(self)
        for choice in SNAP_CHOICES:
            act = QAction(f"Snap {choice}", self.edit_snap)
            act.setObjectName(f"edit_snap_{choice}")
            act.setCheckable(True)
            act.setChecked(choice == roll.snap)
            act.triggered.connect(lambda _=False, c=choice: roll.set_snap(c))
        roll.snap_changed.connect(self._show_snap)
        roll.note_length_changed.connect(
            lambda length: QSettings().setValue("edit/note_length", length))
        p = self.panel
        self.generate_run = a("generate_run", "&Generate", p.generate, "Ctrl+G",
                              "Continue the song, or the notes you selected, with the "
                              "chosen model")
        self.generate_again = a("generate_again", "&Regenerate", p.regenerate, "Ctrl+Shift+G",
                                "Generate again with the same settings and a new random seed")
        self.generate_fill = a("generate_fill", "&Fill Selection", p.fill, "Ctrl+Shift+F",
                               "Regenerate the range selected in the ruler (Shift+drag), or "
                               "the selected notes' span, from the music on both sides")
        self.generate_harmonise = a("generate_harmonise", "&Harmonise Melody", p.harmonise,
                                    "Ctrl+Shift+H", "Write the voices beneath the active "
                                    "track's melody with a polyphonic model")
        self.generate_part = a("generate_part", "Regenerate &Part", lambda: p.regenerate_part(),
                               "Ctrl+Alt+G", p.regenerate_part_button.toolTip())
        self.generate_cancel = a("generate_cancel", "&Cancel", p.cancel, "Ctrl+.")
        from gui.panels.drums import DrumsController

        self.drums = DrumsController(p, self)  # Generate > Add Drums (Ctrl+Alt+D)
        self.generate_add_drums = self.drums.action
        self.addAction(self.generate_add_drums)
        self.generate_learn_style = a("generate_learn_style", "Learn My &Style from a Folder...",
                                      p.ask_style_folder, "Ctrl+Shift+L",
                                      "Learn your own style from a folder of your MIDI, ABC, "
                                      "MusicXML or kern files; it is listed as its own model")
        self.generate_keep = a("generate_keep", "&Keep Variation", lambda: p.keep_variation(),
                               "Ctrl+Return", "Insert the selected variation (one undo step)")
        self.generate_next = a("generate_next", "&Next Variation", lambda: self._step_variation(1),
                               "Ctrl+]")
        self.generate_previous = a("generate_previous", "&Previous Variation",
                                   lambda: self._step_variation(-1), "Ctrl+[")
        from gui.tracks import TrackActions

        self.track_actions = TrackActions(self.doc, self)  # the Track menu and strip's buttons
        self.addActions(self.track_actions.actions)
        from gui.panels.chords import ChordsController

        self.chords = ChordsController(  # the Chords menu
            self.doc, self.transport.player, self, play_song=self.transport.play_song,
            position=self.transport.position,
            style=lambda: getattr(self.panel.chosen_style(), "folder", None))
        self.addActions(self.chords.actions)
        self.chords.status.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.roll.chord_lane.message.connect(
            lambda text: self.statusBar().showMessage(text, 10000))
        self.help_about = a("help_about", "&About Continuo", self.about)
        self.help_shortcuts = a("help_shortcuts", "Continuo &Help", self.show_help,
                                std.HelpContents, "The mouse gestures and the keys")
        self.help_panel: Any = None
        self.help_guide = a("help_guide", "&User Guide", self.show_guide, None,
                            "The user guide: generate, fill, harmonise, style, live, files")
        self.user_guide: Any = None

    def _make_menus(self) -> None:
        bar = self.menuBar()
        m = bar.addMenu("&File")
        m.addActions([self.file_new, self.file_open])
        self.recent_menu = m.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        m.addSeparator()
        m.addActions([self.file_save, self.file_save_as, self.file_export_selection,
                      self.file_export_audio])
        export_menu = m.addMenu("E&xport As")
        export_menu.addActions(self.file_exports)
        m.addSeparator()
        m.addAction(self.file_quit)
        m = bar.addMenu("&Edit")
        m.addActions([self.edit_undo, self.edit_redo])
        m.addSeparator()
        m.addActions([self.edit_cut, self.edit_copy, self.edit_paste, self.edit_delete])
        m.addSeparator()
        m.addAction(self.edit_select_all)
        m.addActions(self.edit_transpose)
        snap = m.addMenu("&Snap")
        snap.addActions(self.edit_snap.actions())
        lengths = m.addMenu("Drawn Note &Length")
        lengths.addActions(self.roll.note_length_group.actions())
        m = bar.addMenu("&View")
        m.addActions([act for name, act in self.roll.actions.items() if name.startswith("view_")])
        m = bar.addMenu("&Generate")
        m.addActions([self.generate_run, self.generate_again, self.generate_fill,
                      self.generate_harmonise, self.generate_part, self.generate_add_drums,
                      self.generate_cancel])
        m.addSeparator()
        m.addActions([self.generate_previous, self.generate_next, self.generate_keep])
        m.addSeparator()
        m.addActions([self.chords.suggest_action, self.chords.next_action])
        m.addSeparator()
        m.addAction(self.generate_learn_style)
        toggle = self.dock.toggleViewAction()
        toggle.setText("Show Generate &Panel")
        m.addAction(toggle)
        m = bar.addMenu("T&rack")
        m.addActions(self.track_actions.actions)
        m = bar.addMenu("C&hords")
        m.addActions(self.chords.actions)
        m = bar.addMenu("&Transport")
        m.addActions(self.transport.actions)
        m.addAction(self.chords.play_action)
        m = bar.addMenu("&Help")
        m.addActions([self.help_shortcuts, self.help_guide, self.help_about])

    def _make_toolbar(self) -> None:
        from gui import icons

        # one icon set (gui/icons.py) on the actions, so menus and toolbar show the same
        icons.apply(self.actions() + self.transport.actions + list(self.roll.actions.values()))
        tb = self.addToolBar("Main")
        tb.setObjectName("main_toolbar")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tb.setIconSize(QSize(ICON_PX, ICON_PX))  # the whole bar fits a 1280-pixel window
        def symbol(action: QAction) -> None:
            """A button for a symbol everyone reads: the icon alone, the text in its tip."""
            tb.addAction(action)
            tb.widgetForAction(action).setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)

        for action in (self.file_new, self.file_open, self.file_save):
            symbol(action)
        tb.addSeparator()
        for action, text in ((self.edit_undo, "Undo"), (self.edit_redo, "Redo")):
            # no jump as labels change
            tb.addWidget(FixedActionButton(action, text, icon_size=tb.iconSize()))
        tb.addSeparator()
        for action in (self.transport.play_action, self.transport.stop_action,
                       self.transport.loop_action):
            symbol(action)
        tb.addWidget(self.transport.make_strip())
        tb.addSeparator()
        tb.addAction(self.generate_run)
        tb.addSeparator()
        self.drag_clip = files.DragOutButton("Drag clip", self.clip_for_drag)
        self.drag_song = files.DragOutButton("Drag song", self.song_for_drag)
        for button, name in ((self.drag_clip, "drag-clip"), (self.drag_song, "drag-song")):
            button.setIcon(icons.icon(name))
            button.setIconSize(tb.iconSize())
        tb.addWidget(self.drag_clip)
        tb.addWidget(self.drag_song)
        from gui.tracks import TrackStrip

        tracks = self.addToolBar("Track")  # second row: the track, its instrument, the output
        tracks.setObjectName("track_toolbar")
        self.insertToolBarBreak(tracks)
        self.track_strip = TrackStrip(self.doc, self.track_actions)
        self.track_actions.new_drum_track.triggered.connect(self._show_drum_kit)
        tracks.addWidget(self.track_strip)
        tracks.addSeparator()
        tracks.addWidget(self.roll.make_draw_strip())  # Snap and the drawn note's length
        self._make_midi_toolbar()

    def _show_drum_kit(self) -> None:
        """Scroll a new drum track's kit rows (Acoustic Bass Drum to Crash Cymbal 2) into view."""
        tick = self.roll.geometry.tick_at(self.roll.grid.width() / 2)
        self.roll.reveal([Note(35, tick, 1), Note(57, tick, 1)])

    def _make_midi_toolbar(self) -> None:
        """Ports, sound status, panic and recording from the live-MIDI module, when it is
        there: the output beside the track strip, recording on a row of its own."""
        bridge = self.transport.player
        if bridge is None:
            return
        from gui import icons, midi_widgets, playback

        tb = self.addToolBar("MIDI")
        tb.setObjectName("midi_toolbar")
        tb.addWidget(QLabel(" Output "))
        tb.addWidget(midi_widgets.OutputChooser(bridge))
        self.sound_status = midi_widgets.SoundStatusLabel(bridge)
        tb.addWidget(self.sound_status)
        panic = midi_widgets.PanicButton(bridge)
        panic.setIcon(icons.icon("panic"))
        panic.setIconSize(QSize(ICON_PX, ICON_PX))
        tb.addWidget(panic)
        rec = self.addToolBar("Record")
        rec.setObjectName("record_toolbar")
        self.insertToolBarBreak(rec)
        rec.addWidget(QLabel(" Input "))
        rec.addWidget(midi_widgets.InputChooser(bridge))
        rec.addSeparator()
        self.record_controls = midi_widgets.RecordControls(
            bridge, lambda: (self.doc.song(), self.transport.position(),
                             self.doc.tracks[self.doc.active_track].channel),
            lambda: playback.generator_responder(self.library, self.panel.settings()))
        self.record_controls.notes_recorded.connect(
            lambda notes: self.doc.add_notes(notes, text="Record", select=True))
        record_button = getattr(self.record_controls, "record_button", None)
        if record_button is not None:
            record_button.setIcon(icons.icon("record"))
            record_button.setIconSize(QSize(ICON_PX, ICON_PX))
            record_button.setText(record_button.text().replace("●", "").strip())
            record_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        rec.addWidget(self.record_controls)
        bridge.response_ready.connect(self._on_call_and_response)
        if hasattr(bridge, "message"):
            bridge.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        if hasattr(bridge, "live_stopped"):
            self._make_live_dock(bridge)

    def _make_live_dock(self, bridge: Any) -> None:
        """The Live panel (gui.panels.live) in a dock of its own; F9 arms it, Escape
        (while it plays) is panic."""
        from gui.panels.live import LivePanel

        self.live_panel = LivePanel(self.library, bridge,
                                    lambda: (self.doc.song(), self.transport.position()))
        self.live_dock = QDockWidget("Live", self)
        self.live_dock.setObjectName("live_dock")
        self.live_dock.setWidget(self.live_panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.live_dock)
        self.live_arm = self._action("live_arm", "&Live Accompanist", self.live_panel.toggle,
                                     "F9", "Play on the MIDI input and the accompanist "
                                     "plays with you")
        self.live_panic = self._action("live_panic", "Live Panic", bridge.panic, "Escape",
                                       "Stop the accompanist and silence every note")
        self.live_panic.setEnabled(False)
        bridge.live_stopped.connect(lambda _: self.live_panic.setEnabled(False))
        self.live_panel.live_button.toggled.connect(self.live_panic.setEnabled)
        self.live_panel.status.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.live_panel.take_ready.connect(self._on_live_take)

    def _on_live_take(self, tracks: Any, first_tick: int) -> None:
        """A live take: the player's track and the voices', new tracks, one undo step."""
        base = len(self.doc.tracks)
        self.doc.add_parts({base + i: t.notes for i, t in enumerate(tracks) if t.notes},
                           new_tracks=tracks, origin=GENERATED, text="Live take")

    def _on_call_and_response(self, exchange: Any) -> None:
        """A played phrase and its generated answer land as one undo step each."""
        self.doc.add_notes(exchange.phrase, text="Record phrase")
        self.doc.add_notes(exchange.answer, origin=GENERATED, text="Answer phrase")

    def _connect(self) -> None:
        self.doc.modified_changed.connect(lambda _: self._update_title())
        self.doc.file_path_changed.connect(self._update_title)
        self.panel.status.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.panel.preview.connect(self.roll.set_preview_notes)
        self.panel.play_requested.connect(
            lambda song, start: self.transport.play_song(song, start))
        self.panel.generation_started.connect(lambda: self._set_generating(True))
        self.panel.generation_finished.connect(lambda: self._set_generating(False))
        self.transport.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        # a status an undo or redo makes false ("Kept variation 2 ...") gives way to
        # what the undo or redo did
        self.edit_undo.triggered.connect(lambda: self._say_undone(redo=False))
        self.edit_redo.triggered.connect(lambda: self._say_undone(redo=True))
        self.transport.position_changed.connect(self.roll.set_playhead)
        self.transport.position_changed.connect(
            lambda _: self.status_position.setText(self.transport.position_text()))
        self.transport.playing_changed.connect(self.roll.set_follow_playhead)
        self.roll.seek_requested.connect(self.transport.set_position)
        self.panel.use_time_range(self.roll.time_range)  # Fill takes the ruler's range
        self.roll.time_range_changed.connect(self._show_time_range)
        player = self.transport.player
        if player is not None and hasattr(player, "preview_note"):
            self.roll.key_pressed.connect(lambda pitch: player.preview_note(
                pitch, channel=self.doc.tracks[self.doc.active_track].channel))  # drums: 10
        self._set_generating(False)

    def _say_undone(self, redo: bool) -> None:
        stack = self.doc.undo_stack
        text = stack.text(stack.index() - 1 if redo else stack.index())
        if text:
            self.statusBar().showMessage(f"{'Redid' if redo else 'Undid'} {text}.", 6000)
        else:
            self.statusBar().clearMessage()

    def _show_time_range(self, selected: tuple[int, int] | None) -> None:
        if selected is not None:
            self.statusBar().showMessage(range_text(self.doc.song(), *selected), 8000)

    def _show_snap(self, snap: str) -> None:
        for act in self.edit_snap.actions():
            act.setChecked(act.objectName() == f"edit_snap_{snap}")
        QSettings().setValue("edit/snap", snap)

    def _set_generating(self, running: bool) -> None:
        self.generate_run.setEnabled(not running)
        self.generate_again.setEnabled(not running)
        self.generate_fill.setEnabled(not running)
        self.generate_harmonise.setEnabled(not running)
        self.generate_part.setEnabled(not running)
        self.generate_cancel.setEnabled(running)

    def _step_variation(self, delta: int) -> None:
        view = self.panel.variations
        if view.count():
            view.set_current_index((view.current_index() + delta) % view.count())

    # ---- titles and messages ------------------------------------------------------------
    def _update_title(self) -> None:
        if self.doc.file_path:
            self.display_name = Path(self.doc.file_path).name
        self.setWindowTitle(f"{self.display_name}[*] - Continuo")
        self.setWindowModified(self.doc.is_modified())

    def show_error(self, message: str, title: str = "Continuo") -> None:
        """Tell the user what went wrong in a sentence (never a traceback); the dialog is
        window-modal but does not block the event loop."""
        self.last_error = message
        self.statusBar().showMessage(message, 10000)
        if self._error_box is not None:
            self._error_box.close()
        self._error_box = QMessageBox(QMessageBox.Icon.Warning, title, message,
                                      QMessageBox.StandardButton.Ok, self)
        self._error_box.open()

    # ---- New / Open --------------------------------------------------------------------
    def maybe_save(self) -> bool:
        """Ask to save unsaved changes; False when the user cancels."""
        if not self.doc.is_modified():
            return True
        answer = QMessageBox.question(
            self, "Unsaved changes", f"Save the changes to {self.display_name}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def new_song(self) -> None:
        if not self.maybe_save():
            return
        self.panel.cancel()
        self.display_name = UNTITLED
        self.doc.load_song(Song(tracks=[Track(name="Melody")]), None)
        self.statusBar().showMessage("New song: draw a few notes, then Generate.", 6000)

    def open_dialog(self) -> None:
        if not self.maybe_save():
            return
        path = files.ask_open_path(self)
        if path:
            self.open_path(path, ask_to_save=False)

    def open_path(self, path: str, tune: int | None = None, track: int | None = None,
                  ask_to_save: bool = True) -> bool:
        """Open ``path``; on failure the message is shown and the document is kept.

        ``tune`` (multi-tune ABC) and ``track`` (which track to continue) are asked for
        when not given and there is a choice to make."""
        if ask_to_save and not self.maybe_save():
            return False
        name = Path(path).name

        def read(fn):
            # music21 is slow: off the GUI thread, with a dialog that can cancel; a
            # generation under way ends first (its result would belong to the old song)
            if not files.is_score(path):
                return fn()
            self.panel.cancel()
            return run_busy(self, f"Reading {name} with music21...", fn)

        try:
            if tune is None:
                tune = files.ask_tune(self, path, read(lambda: files.tunes_in(path)))
                if tune is None:
                    return False
            song = read(lambda: files.read_song(path, tune))
            if track is None:
                from engine.song import melody_track

                default = melody_track(song) or 0
                track = files.ask_track(self, song, default)
                if track is None:
                    return False
        except BusyCancelled:
            self.statusBar().showMessage(f"Opening {name} was cancelled.", 8000)
            return False
        except ContinuoError as e:
            self.show_error(str(e), "Cannot open the file")
            return False
        self.panel.cancel()
        is_midi = Path(path).suffix.lower() in files.MIDI_SUFFIXES
        self.display_name = name
        self.doc.load_song(song, os.path.abspath(path) if is_midi else None)
        self.doc.active_track = min(max(track, 0), max(len(song.tracks) - 1, 0))
        self.panel.refresh_key_label()
        if is_midi:
            self.recent.add(path)
        else:  # a score is imported: Save asks where the MIDI file goes
            self.recent.add(path)
            self.display_name = Path(files.midi_path_for(path)).name
            self._update_title()
        self.statusBar().showMessage(
            f"Opened {Path(path).name}: {song.note_count} notes, key {self.doc.key.name}.", 8000)
        return True

    def open_default_seed(self) -> None:
        """The default seed as an untitled song (Save asks for a name)."""
        try:
            song = files.read_song(DEFAULT_SEED)
        except ContinuoError as e:
            self.show_error(str(e), "Cannot open the default seed")
            return
        self.display_name = UNTITLED
        self.doc.load_song(song, None)
        self._update_title()
        self.statusBar().showMessage(
            "A seed melody and its bass are loaded: press Ctrl+G to let a model continue "
            "them.", 10000)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.recent.paths():
            act = self.recent_menu.addAction(path)
            act.triggered.connect(lambda _=False, p=path: self._open_recent(p))
        if not self.recent.paths():
            self.recent_menu.addAction("(none)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear", self.recent.clear)

    def _open_recent(self, path: str) -> None:
        if not os.path.exists(path):
            self.recent.remove(path)
            self.show_error(f"{Path(path).name}: the file is no longer there.")
            return
        self.open_path(path)

    # ---- Save ---------------------------------------------------------------------------
    def save(self) -> bool:
        if not self.doc.file_path:
            return self.save_as()
        return self.save_to(self.doc.file_path)

    def save_as(self) -> bool:
        suggested = self.doc.file_path or files.midi_path_for(self.display_name)
        path = files.ask_save_path(self, "Save As", suggested)
        return self.save_to(path) if path else False

    def save_to(self, path: str) -> bool:
        """Write the song as MIDI (atomically) and mark the document saved."""
        try:
            written = files.write_song(self.doc.song(), path)
        except ContinuoError as e:
            self.show_error(str(e), "Cannot save")
            return False
        self.doc.mark_saved(os.path.abspath(written))
        self.display_name = Path(written).name
        self._update_title()
        self.recent.add(written)
        self.statusBar().showMessage(f"Saved {written}", 6000)
        return True

    def export_selection(self) -> bool:
        notes = list(self.doc.selected_notes().values())
        if not notes:
            self.show_error("Select the notes to export first.", "Export selection")
            return False
        path = files.ask_save_path(self, "Export Selection", "selection.mid")
        return self.export_selection_to(path) if path else False

    def export_selection_to(self, path: str) -> bool:
        try:
            song = files.clip_song(list(self.doc.selected_notes().values()),
                                   self.doc.song(), "Selection")
            files.write_song(song, path)
        except ContinuoError as e:
            self.show_error(str(e), "Export selection")
            return False
        self.statusBar().showMessage(f"Exported {len(song.tracks[0].notes)} notes to {path}",
                                     6000)
        return True

    def export_audio(self) -> bool:
        if not self.doc.song().note_count:
            self.show_error("There are no notes to render yet.", "Export audio")
            return False
        path = files.ask_save_path(self, "Export Audio",
                                   f"{Path(self.display_name).stem or 'song'}.wav",
                                   files.WAV_FILTER, (".wav",))
        return self.export_audio_to(path) if path else False

    def export_audio_to(self, path: str) -> bool:
        name = Path(path).name
        try:
            engine = files.write_audio(self.doc.song(), path, self)
        except BusyCancelled:
            self.statusBar().showMessage(f"Exporting {name} was cancelled.", 8000)
            return False
        except ContinuoError as e:
            self.show_error(str(e), "Export audio")
            return False
        how = "FluidSynth" if engine.startswith("fluidsynth") else "a plain tone (no soundfont)"
        self.statusBar().showMessage(f"Exported {name}, rendered with {how}.", 8000)
        return True

    def export_as(self, kind: str) -> bool:
        """File > Export As: ask where, then write the song in that format."""
        if not self.doc.song().note_count:
            self.show_error("There are no notes to export yet.", "Export")
            return False
        label, file_filter, suffixes, _ = files.EXPORTS[kind]
        stem = Path(self.display_name).stem or "song"
        path = files.ask_save_path(self, f"Export as {label}", f"{stem}{suffixes[0]}",
                                   file_filter, suffixes)
        return self.export_as_to(kind, path) if path else False

    def export_as_to(self, kind: str, path: str) -> bool:
        """Write the song to ``path`` in the format of ``kind`` (ABC: the active track)."""
        track = self.doc.active_track if kind == "abc" else None
        try:
            written = files.export_to(self.doc.song(), path, kind, track, self)
        except BusyCancelled:
            self.statusBar().showMessage(f"Exporting {Path(path).name} was cancelled.", 8000)
            return False
        except ContinuoError as e:
            self.show_error(str(e), "Export")
            return False
        what = written[0].name if len(written) == 1 else f"{len(written)} files"
        self.statusBar().showMessage(f"Exported {what} ({files.EXPORTS[kind][0]}).", 8000)
        return True

    # ---- drag out ---------------------------------------------------------------------
    def clip_for_drag(self) -> tuple[Song, str] | None:
        """The variation being auditioned, else the selection, else the generated notes."""
        view = self.panel.variations
        if 0 <= view.current_index() < view.count() and view.variation(view.current_index()):
            index = view.current_index()
            clip = self.panel.variation_clip(index)  # every part, each on its own track
            if clip is not None:
                return clip, f"continuo-variation-{index + 1}"
            notes = view.variation(view.current_index())
            stem = f"continuo-variation-{view.current_index() + 1}"
        elif self.doc.selection:
            notes, stem = list(self.doc.selected_notes().values()), "continuo-selection"
        else:
            notes = [n for i, n in self.doc.notes().items() if self.doc.origin(i) == GENERATED]
            stem = "continuo-generated"
        if not notes:
            self.statusBar().showMessage("There is no generated clip or selection to drag.", 6000)
            return None
        return files.clip_song(notes, self.doc.song(), "Continuo clip"), stem

    def song_for_drag(self) -> tuple[Song, str] | None:
        return self.doc.song(), Path(self.display_name).stem or "continuo-song"

    # ---- drop in ----------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile() and files.is_openable(urls[0].toLocalFile()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()
            path = urls[0].toLocalFile()
            QTimer.singleShot(0, lambda: self.open_path(path))  # not inside the drop

    # ---- help ---------------------------------------------------------------------------
    def about(self) -> None:
        from gui.help import about_html

        QMessageBox.about(self, "About Continuo",
                          about_html(getattr(self.library, "models", []) or []))

    def show_help(self) -> None:
        """The Help panel: mouse gestures and keys (non-modal; F1 brings it back)."""
        from gui.help import HelpPanel

        if self.help_panel is None:
            self.help_panel = HelpPanel(self.actions() + self.transport.actions
                                        + list(self.roll.actions.values()), self)
        self.help_panel.show()
        self.help_panel.raise_()
        self.help_panel.activateWindow()

    def show_guide(self) -> None:
        """Help > User Guide: docs/guide/ rendered from its Markdown (non-modal)."""
        from gui.help import UserGuide

        if self.user_guide is None:
            self.user_guide = UserGuide(self)
        self.user_guide.show()
        self.user_guide.raise_()
        self.user_guide.activateWindow()

    # ---- layout and closing ------------------------------------------------------------
    def _restore_layout(self) -> None:
        s = QSettings()
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        snap = str(s.value("edit/snap", self.roll.snap))
        if snap in SNAP_CHOICES:
            self.roll.set_snap(snap)
        length = str(s.value("edit/note_length", self.roll.note_length))
        if length in NOTE_LENGTHS:
            self.roll.set_note_length(length)
        state = s.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)

    def save_layout(self) -> None:
        s = QSettings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        self.panel.save_settings()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.maybe_save():
            event.ignore()
            return
        if self.panel.job is not None:  # the worker must not outlive the panel it reports to
            self.panel.cancel()
            QThreadPool.globalInstance().waitForDone(5000)
        self.transport.stop()
        self.save_layout()
        event.accept()
