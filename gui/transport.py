"""Transport: play/stop, loop, tempo, time signature, metronome, playhead position.

The transport owns the QActions (so the menu, the toolbar and Space share one state)
and a strip of widgets for the toolbar.  Playback itself belongs to the live-MIDI
module's ``PlayerBridge`` (``gui.playback``); when it is missing or has no output, Play is
disabled with a tooltip that says why, and nothing crashes.  Tempo and time signature
edits go to the document, so each is one undo step.

The Sync box (Internal / Send clock / Follow input, remembered in QSettings) sets the
bridge's MIDI clock sync.  Following, the tempo box shows "ext" and the incoming tempo
(read-only), Play says to start from the other program, and the document's song is
handed to the bridge (after each edit, debounced) for the next incoming Start.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QSettings, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel,
                               QSpinBox, QWidget)

from engine.live.clock import SYNC_FOLLOW, SYNC_INTERNAL, SYNC_MODES, SYNC_SEND
from engine.song import Song
from gui.document import SongDocument

SETTINGS_SYNC = "midi/sync"
SYNC_LABELS = {SYNC_INTERNAL: "Internal", SYNC_SEND: "Send clock", SYNC_FOLLOW: "Follow input"}
TEMPO_CHANGES_LISTED = 8  # the tempo box's tooltip lists this many changes


def _bpm_text(bpm: float) -> str:
    return f"{round(bpm, 1):g}"


def make_player(parent: QObject) -> tuple[Any, str]:
    """The live-MIDI PlayerBridge, or (None, why not) when it cannot be made."""
    try:
        from gui.playback import PlayerBridge
    except ImportError:
        return None, "Playback is not available in this build (no MIDI player module)."
    try:
        return PlayerBridge(parent), ""
    except Exception as e:  # a missing MIDI system must not stop the composer opening
        return None, f"Playback is not available: {e}"


class Transport(QObject):
    """Play/stop/loop/metronome actions and the tempo/metre/position strip."""

    position_changed = Signal(int)  # playhead tick, for the piano roll
    playing_changed = Signal(bool)
    message = Signal(str)

    def __init__(self, doc: SongDocument, player: Any = None, unavailable: str = "",
                 parent: QObject | None = None, settings: QSettings | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.player = player
        self.settings = settings
        self.unavailable = unavailable or "No MIDI output is available for playback."
        self._position = 0

        self.play_action = QAction("&Play", self)
        self.play_action.setObjectName("transport_play")
        self.play_action.setShortcut(QKeySequence(Qt.Key.Key_Space))
        self.play_action.setCheckable(True)
        self.play_action.setToolTip("Play or stop (Space)")
        self.play_action.triggered.connect(self.toggle)
        self.stop_action = QAction("&Stop", self)
        self.stop_action.setObjectName("transport_stop")
        self.stop_action.triggered.connect(self.stop)
        self.rewind_action = QAction("&Rewind", self)
        self.rewind_action.setObjectName("transport_rewind")
        self.rewind_action.setShortcut(QKeySequence(Qt.Key.Key_Home))
        self.rewind_action.triggered.connect(lambda: self.set_position(0))
        self.loop_action = QAction("&Loop", self)
        self.loop_action.setObjectName("transport_loop")
        self.loop_action.setCheckable(True)
        self.loop_action.setShortcut(QKeySequence("L"))
        self.loop_action.setToolTip("Loop the selection (or the whole song when nothing is "
                                    "selected)")
        self.metronome_action = QAction("&Metronome", self)
        self.metronome_action.setObjectName("transport_metronome")
        self.metronome_action.setCheckable(True)
        self.metronome_action.setShortcut(QKeySequence("M"))
        self.metronome_action.toggled.connect(self._on_metronome)
        self.panic_action = QAction("All notes &off", self)
        self.panic_action.setObjectName("transport_panic")
        self.panic_action.triggered.connect(self.panic)
        self.actions = [self.play_action, self.stop_action, self.rewind_action,
                        self.loop_action, self.metronome_action, self.panic_action]

        if player is not None:
            player.position_changed.connect(self._on_position)
            player.playing_changed.connect(self._on_playing)
            player.error.connect(self.message)
            if hasattr(player, "sound_changed"):
                player.sound_changed.connect(self._update_enabled)
                player.sound_changed.connect(self.send_programs)  # a new output hears them
        self._arm_timer = QTimer(self)  # hands the edited song to a following player
        self._arm_timer.setSingleShot(True)
        self._arm_timer.setInterval(150)
        self._arm_timer.timeout.connect(self._arm_follow_song)
        if self._can_sync():
            player.followed_tempo_changed.connect(self._show_followed_tempo)
            player.sync_changed.connect(self._on_sync_changed)
        doc.changed.connect(self.sync_from_doc)
        doc.changed.connect(self._song_edited)
        doc.song_replaced.connect(self._song_edited)
        doc.song_replaced.connect(lambda: self.set_position(0))
        doc.song_replaced.connect(self.send_programs)
        if hasattr(doc, "tracks_changed"):
            doc.tracks_changed.connect(self.send_programs)
        self._update_enabled()
        self.send_programs()

    # ---- the strip -------------------------------------------------------------------
    def make_strip(self, parent: QWidget | None = None) -> QWidget:
        """Tempo, time signature and position widgets for a toolbar."""
        strip = QWidget(parent)
        layout = QHBoxLayout(strip)
        layout.setContentsMargins(6, 0, 6, 0)
        self.tempo = QDoubleSpinBox()
        self.tempo.setRange(20.0, 300.0)
        self.tempo.setDecimals(1)
        self.tempo.setSuffix(" BPM")
        self.tempo.setKeyboardTracking(False)  # one undo step per edit, not per digit
        self.tempo.valueChanged.connect(self._on_tempo)
        # a song that changes tempo: the box shows the tempo at the playhead, and this
        # says what comes next ("then 166 at 1:2")
        self.tempo_note = QLabel()
        self.tempo_note.setObjectName("transport_tempo_note")
        self.tempo_note.setStyleSheet("color: palette(mid);")
        self.numerator = QSpinBox()
        self.numerator.setRange(1, 32)
        self.numerator.setKeyboardTracking(False)
        self.denominator = QComboBox()
        for d in (2, 4, 8, 16):
            self.denominator.addItem(str(d), d)
        self.numerator.valueChanged.connect(self._on_meter)
        self.denominator.currentIndexChanged.connect(self._on_meter)
        self.metronome_box = QCheckBox("Click")
        self.metronome_box.setToolTip("Metronome (M)")
        self.metronome_box.toggled.connect(self.metronome_action.setChecked)
        self.metronome_action.toggled.connect(self.metronome_box.setChecked)
        self.position_label = QLabel()
        self.position_label.setMinimumWidth(70)
        self.position_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.position_label.setStyleSheet(
            "font-family: monospace; font-size: 13pt; padding: 2px 6px; "
            "background: #1f2328; color: #9be39b; border-radius: 3px;")
        self.position_label.setToolTip("Playhead: bar:beat")
        self.sync_box = QComboBox()
        self.sync_box.setObjectName("transport_sync")
        for mode in SYNC_MODES:
            self.sync_box.addItem(SYNC_LABELS[mode], mode)
        self.sync_box.setToolTip(
            "MIDI clock sync.\nInternal: Continuo keeps its own time.\n"
            "Send clock: Start/Stop/Continue, song position and 24-per-quarter clock go to "
            "the output, so a DAW set to external sync follows Continuo.\n"
            "Follow input: the MIDI input's clock starts, stops and places playback, and "
            "sets the tempo (shown as 'ext').")
        self.sync_box.setEnabled(self._can_sync())
        self.sync_box.activated.connect(lambda i: self.set_sync(self.sync_box.itemData(i)))
        layout.addWidget(QLabel("Sync"))
        layout.addWidget(self.sync_box)
        layout.addSpacing(8)
        layout.addWidget(QLabel("Tempo"))
        layout.addWidget(self.tempo)
        layout.addWidget(self.tempo_note)
        layout.addSpacing(8)
        layout.addWidget(QLabel("Metre"))
        layout.addWidget(self.numerator)
        layout.addWidget(QLabel("/"))
        layout.addWidget(self.denominator)
        layout.addSpacing(8)
        layout.addWidget(self.metronome_box)
        layout.addSpacing(8)
        layout.addWidget(self.position_label)
        self.sync_from_doc()
        if self._can_sync():
            saved = self._settings().value(SETTINGS_SYNC, SYNC_INTERNAL)
            self.set_sync(saved if saved in SYNC_MODES else SYNC_INTERNAL, remember=False)
        return strip

    # ---- MIDI clock sync ----------------------------------------------------------------
    def _settings(self) -> QSettings:
        return self.settings if self.settings is not None else QSettings()

    def _can_sync(self) -> bool:
        return self.player is not None and hasattr(self.player, "set_sync")

    def sync_mode(self) -> str:
        return self.player.sync() if self._can_sync() else SYNC_INTERNAL

    def following(self) -> bool:
        return self.sync_mode() == SYNC_FOLLOW

    def set_sync(self, mode: str, remember: bool = True) -> None:
        """Internal, send clock or follow input; remembered for the next session."""
        if not self._can_sync() or mode not in SYNC_MODES:
            return
        changed = mode != self.sync_mode()
        self.player.set_sync(mode)  # a change comes back through the bridge's sync_changed
        if remember:
            self._settings().setValue(SETTINGS_SYNC, mode)
        if not changed:
            self._on_sync_changed(mode)

    def _on_sync_changed(self, mode: str) -> None:
        if hasattr(self, "sync_box"):
            with QSignalBlocker(self.sync_box):
                self.sync_box.setCurrentIndex(max(0, self.sync_box.findData(mode)))
        if mode == SYNC_FOLLOW:
            self._arm_follow_song()
            if hasattr(self.player, "input_name") and self.player.input_name() is None:
                self.message.emit("Following the MIDI input's clock: choose the input the "
                                  "other program sends its clock to.")
        self._show_tempo_mode()

    def _show_tempo_mode(self) -> None:
        if not hasattr(self, "tempo"):
            return
        following = self.following()
        self.tempo.setReadOnly(following)
        self.tempo.setPrefix("ext " if following else "")
        bpm = self.player.followed_tempo() if following else None
        if bpm is not None:
            self._show_followed_tempo(bpm)
            self._show_tempo_here()  # the tooltip, and no note of the song's changes
        else:
            self.sync_from_doc()

    def _show_followed_tempo(self, bpm: float) -> None:
        if hasattr(self, "tempo") and self.following():
            with QSignalBlocker(self.tempo):
                self.tempo.setValue(round(min(max(bpm, self.tempo.minimum()),
                                              self.tempo.maximum()), 1))

    def _song_edited(self, *_: Any) -> None:
        if self.following():
            self._arm_timer.start()

    def _arm_follow_song(self) -> None:
        if self.following():
            self.player.set_follow_song(self.doc.audible_song())

    def sync_from_doc(self) -> None:
        """Show the document's tempo (at the playhead) and metre (after undo, open, ...)."""
        if not hasattr(self, "tempo"):
            return
        ts = self.doc.time_signature  # the song's metre, after a pickup bar
        pickup = self.doc.pickup_ticks
        beats = pickup / ts.ticks_per_beat(self.doc.ppq)
        tip = (f"The song opens with a pickup of {beats:g} beat{'s' if beats != 1 else ''} "
               f"(bar 0); the metre is the full bars'" if pickup else "")
        self.numerator.setToolTip(tip)
        self.denominator.setToolTip(tip)
        with QSignalBlocker(self.numerator), QSignalBlocker(self.denominator):
            self.numerator.setValue(ts.numerator)
            i = self.denominator.findData(ts.denominator)
            if i < 0:
                self.denominator.addItem(str(ts.denominator), ts.denominator)
                i = self.denominator.count() - 1
            self.denominator.setCurrentIndex(i)
        self._show_position()  # and the tempo at the playhead

    def _show_tempo_here(self) -> None:
        """The tempo box follows the tempo map, as a DAW's does: it shows the tempo in
        force at the playhead; when the song changes tempo, the note beside it says
        what comes next (or since when this tempo holds) and the tooltips list the
        changes."""
        if not hasattr(self, "tempo"):
            return
        following = self.following()
        if not (following and self.player.followed_tempo() is not None):
            bpm = round(self.doc.tempo_at(self._position), 1)
            if self.tempo.value() != bpm:
                with QSignalBlocker(self.tempo):
                    self.tempo.setValue(bpm)
        changes = self.doc.tempo_changes
        note, tip = "", ""
        if len({c.us_per_quarter for c in changes}) > 1 and not following:
            here = self.doc.tempo_index_at(self._position)
            if here + 1 < len(changes):
                ahead = changes[here + 1]
                note = f"then {_bpm_text(ahead.bpm)} at {self.position_text(ahead.tick)}"
            else:
                note = f"since {self.position_text(changes[here].tick)}"
            listed = ", ".join(f"{_bpm_text(c.bpm)} at {self.position_text(c.tick)}"
                               for c in changes[:TEMPO_CHANGES_LISTED])
            more = len(changes) - TEMPO_CHANGES_LISTED
            tip = (f"The song changes tempo: {listed}" + (f" and {more} more" if more > 0
                                                          else "")
                   + ". The box shows the tempo at the playhead; an edit changes that "
                   "tempo.")
        if self.tempo_note.text() != note:
            self.tempo_note.setText(note)
        self.tempo_note.setVisible(bool(note))
        self.tempo_note.setToolTip(tip)
        self.tempo.setToolTip("The tempo of the incoming MIDI clock" if following else tip)

    def _on_tempo(self, bpm: float) -> None:
        if self.following():
            return  # the box shows the incoming tempo; the song's own is kept
        if abs(bpm - self.doc.tempo_at(self._position)) >= 0.05:
            self.doc.set_tempo(bpm, at_tick=self._position)

    def _on_meter(self, *_: Any) -> None:
        self.doc.set_time_signature(self.numerator.value(), int(self.denominator.currentData()))

    # ---- position --------------------------------------------------------------------
    def position(self) -> int:
        return self._position

    def position_text(self, tick: int | None = None) -> str:
        tick = self._position if tick is None else tick
        song = Song(ppq=self.doc.ppq, time_signatures=self.doc.time_signatures)
        bar, beat, _ = song.bar_beat_at(max(0, tick))
        return f"{bar}:{beat}"

    def set_position(self, tick: int) -> None:
        self._position = max(0, int(tick))
        self._show_position()
        self.position_changed.emit(self._position)

    def _show_position(self) -> None:
        if hasattr(self, "position_label"):
            self.position_label.setText(self.position_text())
            self._show_tempo_here()

    def _on_position(self, tick: int) -> None:
        self.set_position(tick)

    # ---- playing ---------------------------------------------------------------------
    def can_play(self) -> bool:
        return self.player is not None

    def sound_status(self) -> Any:
        """The player's :class:`gui.playback.SoundStatus`, or None without one."""
        if self.player is None or not hasattr(self.player, "sound_status"):
            return None
        return self.player.sound_status()

    def _update_enabled(self) -> None:
        self.play_action.setEnabled(self.can_play())
        self.stop_action.setEnabled(self.can_play())
        self.panic_action.setEnabled(self.can_play())
        if not self.can_play():
            self.play_action.setToolTip(self.unavailable)
            return
        status = self.sound_status()
        tip = "Play or stop (Space)"
        self.play_action.setToolTip(tip if status is None else f"{tip}\n{status.summary}")

    def send_programs(self) -> None:
        """Give each track's channel its instrument now (previews and Thru use it too)."""
        if self.player is None or not hasattr(self.player, "set_programs"):
            return
        programs: dict[int, int] = {}
        for track in self.doc.tracks:
            if not track.is_drum:
                programs.setdefault(track.channel, track.program)
        self.player.set_programs(programs)

    def is_playing(self) -> bool:
        return bool(self.player is not None and self.player.is_playing())

    def loop_range(self) -> tuple[int, int]:
        """The selection's span when looping a selection, else the whole song."""
        sel = self.doc.selected_notes()
        if sel:
            return (min(n.start_tick for n in sel.values()),
                    max(n.end_tick for n in sel.values()))
        return 0, self.song_end()

    def song_end(self) -> int:
        """Where playing the whole song ends: its last note, or with Play Chords on the
        chord track's end where it goes on longer (the last chord as the lane draws it)."""
        end = max(self.doc.end_tick, 1)
        if getattr(self.player, "play_chords", False) and self.doc.chord_count():
            end = max(end, self.doc.chord_end(self.doc.chord_count() - 1))
        return end

    def toggle(self) -> None:
        if self.is_playing():
            self.stop()
        else:
            self.play()

    def play(self) -> None:
        if self.player is None:
            self.message.emit(self.unavailable)
            self.play_action.setChecked(False)
            return
        if self.following():
            self.play_action.setChecked(False)
            self.message.emit("Following the MIDI input's clock: start playback from the "
                              "other program (Continuo plays when its Start or Continue "
                              "arrives); set Sync to Internal to play on its own.")
            return
        loop = self.loop_action.isChecked()
        if loop:
            start, end = self.loop_range()
        else:
            start, end = self._position, self.song_end()
            if start >= end:
                start = 0
        self.play_song(self.doc.audible_song(), start, end, loop)  # muted tracks silent

    def play_song(self, song: Song, start_tick: int = 0, end_tick: int | None = None,
                  loop: bool = False) -> None:
        """Play any song (the document, or a variation being auditioned)."""
        if self.player is None:
            self.message.emit(self.unavailable)
            return
        try:
            self.player.play(song, start_tick, end_tick if end_tick is not None
                             else max(song.end_tick, 1), loop)
        except Exception as e:  # a port that went away: a sentence, not a traceback
            self.message.emit(str(e))
            return
        status = self.sound_status()
        if status is not None and not status.audible:  # Play must not look normal
            self.message.emit(f"Playing, but nothing can be heard. {status.summary}")

    def stop(self) -> None:
        if self.player is not None:
            self.player.stop()
        self.play_action.setChecked(False)

    def panic(self) -> None:
        if self.player is not None:
            self.player.panic()

    def _on_playing(self, playing: bool) -> None:
        with QSignalBlocker(self.play_action):
            self.play_action.setChecked(playing)
        self.playing_changed.emit(playing)

    def _on_metronome(self, on: bool) -> None:
        if self.player is not None and hasattr(self.player, "set_metronome"):
            self.player.set_metronome(on)
