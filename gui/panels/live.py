"""The Live panel: a partner that plays along with the MIDI keyboard (F9 arms it).

The panel only chooses and wires; the music is the engine's
(:mod:`engine.generation.live_harmony`, :mod:`engine.live.accompanist`).  Its settings
are the mode (Harmonise: voices beneath the melody played; Bass: a bass line; Drums:
the drum model on channel 10, hearing the keys pressed, in a style chosen or "auto"),
the voices (2 or 3), the instrument, the model (a polyphonic one, or a drum model for
Drums), the temperature, the key and the drum style.

Where the model runs: in the accompanist's own thread of this process, not in the
generation helper.  A step is a handful of step-model calls of well under a
millisecond each, with the GIL released while onnxruntime computes; a round trip to the
helper process would add a pipe write, a wake-up of another process and a read for
every step (two context switches on a loaded two-core machine, a millisecond or more
at the tail), which is the budget the whole step has.  The GUI thread takes no part in
a step: the input's notes go from the input's thread straight to the accompanist's.

When the accompanist stops (F9 again, Stop, Escape, a fault) with "Record the take" on,
the take lands as new tracks, the player's and one per voice, in one undo step.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QPushButton,
                               QVBoxLayout, QWidget)

from engine.encodings import HARMONISE, Key, capabilities_of, estimate_song_key
from engine.encodings.drums import DRUM_CHANNEL, STEPS_PER_QUARTER, STYLES, bar_lines
from engine.errors import ContinuoError
from engine.generation.jobs.drums import drum_model, drum_model_names, resolve_style
from engine.generation.live_drums import LiveDrums
from engine.generation.live_harmony import LiveHarmony
from engine.live.accompanist import (DRUMS_LATE_WINDOW_S, LATE_WINDOW_S, Accompanist,
                                     StepClock, input_watch)
from engine.live.gm import programs_by_family
from engine.song import Song

SONG_KEY = "The song's key"
DEFAULT_PROGRAMS = {"harmonise": 48, "bass": 32}  # String Ensemble 1, Acoustic Bass
AUTO = "auto"  # the drum style read from the song (its metre and feel)


class TransportGrid:
    """The step grid of the running transport: step 0 at ``start_tick``, a step a
    sixteenth note (or ``steps_per_quarter`` a quarter), on the player's clock
    (internal or a followed DAW clock)."""

    def __init__(self, player: Any, start_tick: int, ppq: int,
                 steps_per_quarter: int = 4) -> None:
        self.player = player
        self.start_tick = start_tick
        self.ticks = ppq / float(steps_per_quarter)

    def time_of(self, step: float) -> float:
        try:
            return self.player.time_at(self.start_tick + step * self.ticks)
        except ContinuoError:
            raise ContinuoError("The transport stopped, and the accompanist with it.") from None

    def step_at(self, t: float) -> float:
        return (self.player.tick_at(t) - self.start_tick) / self.ticks


def free_channel(song: Song, avoid: set[int] = frozenset()) -> int:
    """The lowest channel no track of ``song`` uses (never the drums' 10th)."""
    used = {t.channel for t in song.tracks} | set(avoid) | {9}
    return next((c for c in range(16) if c not in used), 15)


class LivePanel(QWidget):
    """Mode, voices, instrument, model, temperature and key; the Live button (F9)."""

    status = Signal(str)
    take_ready = Signal(object, int)  # the take's tracks, the tick of its first step
    _status_hook = Signal(str)  # from the accompanist's thread, queued to ``status``

    def __init__(self, library: Any, bridge: Any, song_and_position: Any,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.bridge = bridge
        self.song_and_position = song_and_position  # () -> (Song, playhead tick)
        self.accompanist: Accompanist | None = None
        self._start_tick = 0
        self._status_hook.connect(self.status, Qt.ConnectionType.QueuedConnection)
        form = QFormLayout()
        self.mode_combo = QComboBox()
        self.mode_combo.setObjectName("live_mode")
        self.mode_combo.addItem("Harmonise", "harmonise")
        self.mode_combo.addItem("Bass", "bass")
        self.mode_combo.addItem("Drums", "drums")
        self.voices_combo = QComboBox()
        self.voices_combo.setObjectName("live_voices")
        for v in (3, 2):
            self.voices_combo.addItem(f"{v} voices", v)
        self.instrument_combo = QComboBox()
        self.instrument_combo.setObjectName("live_instrument")
        for family, programs in programs_by_family():
            for program, name in programs:
                self.instrument_combo.addItem(f"{name} ({family})", program)
        self.model_combo = QComboBox()
        self.model_combo.setObjectName("live_model")
        self._models = {"voices": self._voice_models(), "drums": self._drum_models()}
        self._models_shown = ""
        self.style_combo = QComboBox()
        self.style_combo.setObjectName("live_style")
        self.style_combo.setToolTip("The drums' style; auto reads it from the song's metre "
                                    "and feel")
        for name in (AUTO,) + tuple(s for s in STYLES if s != "other"):
            self.style_combo.addItem(name, name)
        self.temperature = QDoubleSpinBox()
        self.temperature.setObjectName("live_temperature")
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(0.9)
        self.key_combo = QComboBox()
        self.key_combo.setObjectName("live_key")
        self.key_combo.addItem(SONG_KEY, None)
        for key in Key.all_keys():
            self.key_combo.addItem(key.name, key.name)
        self.record_take = QCheckBox("Record the take")
        self.record_take.setObjectName("live_record")
        self.record_take.setChecked(True)
        form.addRow("Mode", self.mode_combo)
        form.addRow("Voices", self.voices_combo)
        form.addRow("Instrument", self.instrument_combo)
        form.addRow("Model", self.model_combo)
        form.addRow("Temperature", self.temperature)
        form.addRow("Key", self.key_combo)
        form.addRow("Drum style", self.style_combo)
        self.live_button = QPushButton("Live (F9)")
        self.live_button.setObjectName("live_arm")
        self.live_button.setCheckable(True)
        self.live_button.setToolTip("Play on the MIDI input and the accompanist plays with "
                                    "you, step by step with the transport")
        self.live_button.clicked.connect(self._clicked)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.record_take)
        layout.addWidget(self.live_button)
        layout.addStretch(1)
        self.mode_combo.currentIndexChanged.connect(self._mode_changed)
        self._mode_changed()
        if bridge is not None:
            bridge.live_stopped.connect(self._stopped)
        else:
            self.live_button.setEnabled(False)
            self.live_button.setToolTip("Live needs MIDI playback, which is off in this window")

    def _voice_models(self) -> list[str]:
        names = []
        for info in getattr(self.library, "models", []) or []:
            try:
                if HARMONISE in capabilities_of(info):  # writes voices beneath a melody
                    names.append(info.name)
            except (AttributeError, TypeError, ContinuoError):
                continue
        return names

    def _drum_models(self) -> list[str]:
        try:
            return drum_model_names(self.library)
        except (AttributeError, TypeError, ContinuoError):
            return []

    def _show_models(self, kind: str) -> None:
        """The model list for voices (polyphonic models) or drums (drum models)."""
        if kind == self._models_shown:
            return
        self._models_shown = kind
        self.model_combo.clear()
        for name in self._models[kind]:
            self.model_combo.addItem(name, name)
        first = self.model_combo.findData("poly-wavenet")
        if first >= 0:
            self.model_combo.setCurrentIndex(first)

    def _mode_changed(self) -> None:
        mode = self.mode_combo.currentData()
        drums = mode == "drums"
        self.voices_combo.setEnabled(mode == "harmonise")
        self.instrument_combo.setEnabled(not drums)
        self.key_combo.setEnabled(not drums)
        self.style_combo.setEnabled(drums)
        self._show_models("drums" if drums else "voices")
        at = self.instrument_combo.findData(DEFAULT_PROGRAMS.get(mode, -1))
        if at >= 0:
            self.instrument_combo.setCurrentIndex(at)

    # ---- arming ------------------------------------------------------------------------
    def is_live(self) -> bool:
        return self.accompanist is not None

    def toggle(self) -> None:
        """F9: arm, or stop."""
        if self.is_live():
            self.stop()
        else:
            self.arm()

    def _clicked(self, checked: bool) -> None:
        if checked:
            self.arm()
        else:
            self.stop()

    def arm(self) -> bool:
        """Start the accompanist on the transport's clock when it runs, else on a clock
        of the song's tempo from now; False (and a status line) when it cannot start."""
        if self.bridge is None or self.is_live():
            self.live_button.setChecked(self.is_live())
            return self.is_live()
        song, position = self.song_and_position()
        drums = self.mode_combo.currentData() == "drums"
        try:
            self._start_tick = int(position)
            part, said = self._drums(song) if drums else self._voices(song)
            spq = STEPS_PER_QUARTER if drums else 4
            player = self.bridge.player
            clock = self.bridge.clock
            if player.is_playing():
                grid: Any = TransportGrid(player, self._start_tick, song.ppq, spq)
            else:
                bpm = song.tempo_map.bpm_at(int(position))
                grid = StepClock.at_tempo(clock(), bpm, spq)
            watch = []
            system, input_name = self.bridge.midi_system, self.bridge.input_name()
            if system is not None and input_name:
                watch.append(input_watch(system.input_names, input_name))
            acc = Accompanist(part, player.output, grid,
                              channel=DRUM_CHANNEL if drums else free_channel(song),
                              program=None if drums else
                              int(self.instrument_combo.currentData()), clock=clock,
                              late_window_s=DRUMS_LATE_WINDOW_S if drums else LATE_WINDOW_S,
                              watch=watch, on_message=self._status_hook.emit,
                              on_dropped=lambda step: self._status_hook.emit(
                                  f"The accompanist fell behind the clock and dropped "
                                  f"step {step + 1}."))
        except ContinuoError as exc:
            self.live_button.setChecked(False)
            self.status.emit(f"Live could not start: {exc}")
            return False
        self.accompanist = acc
        self.bridge.start_accompanist(acc)
        self.live_button.setChecked(True)
        self.status.emit(f"Live: play on the MIDI input; {said} on channel {acc.channel + 1}.")
        return True

    def _voices(self, song: Song) -> tuple[LiveHarmony, str]:
        name = self.model_combo.currentData()
        if not name:
            raise ContinuoError("no polyphonic model is installed to accompany with")
        key_name = self.key_combo.currentData()
        notes = [n for t in song.tracks if not t.is_drum for n in t.notes]
        key = Key.parse(key_name) if key_name else (estimate_song_key(notes) if notes
                                                   else Key.parse("C"))
        harmony = LiveHarmony(self.library.get(name), key, mode=self.mode_combo.currentData(),
                              voices=int(self.voices_combo.currentData()),
                              temperature=float(self.temperature.value()))
        return harmony, f"{harmony.mode} in {key.name}"

    def _drums(self, song: Song) -> tuple[LiveDrums, str]:
        """The live drums on the song's bars from the playhead, in the style chosen."""
        if not self._models["drums"]:
            raise ContinuoError("no drum model is installed to play drums with")
        model = drum_model(self.library, self.model_combo.currentData())
        sid, style, _ = resolve_style(song, str(self.style_combo.currentData() or AUTO))
        bars, last = bar_lines(song, self._start_tick)
        offset = round(self._start_tick * STEPS_PER_QUARTER / song.ppq)
        drums = LiveDrums(model, style=sid, temperature=float(self.temperature.value()),
                          bars=bars, bar_steps=last, offset=offset)
        return drums, f"drums ({style})"

    def stop(self) -> None:
        """Stop the accompanist (every note off); the take follows (``take_ready``)."""
        if self.bridge is not None and self.accompanist is not None:
            self.bridge.stop_accompanist()

    def _stopped(self, acc: Any) -> None:
        if acc is not self.accompanist:
            return
        self.accompanist = None
        self.live_button.setChecked(False)
        stats = acc.stats
        self.status.emit(f"Live stopped: {stats.steps} steps, {stats.dropped_steps} dropped.")
        if self.record_take.isChecked() and acc.player_notes:
            song, _ = self.song_and_position()
            spq = acc.harmony.enc.steps_per_quarter
            first = self._start_tick + acc.origin * song.ppq // spq
            self.take_ready.emit(acc.take(song.ppq, first), first)
