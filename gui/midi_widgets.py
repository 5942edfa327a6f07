"""Toolbar widgets for live MIDI, over :class:`gui.playback.PlayerBridge`.

:class:`OutputChooser` and :class:`InputChooser` (both remembered with QSettings, both
re-listed when a port appears or goes away), :class:`SoundStatusLabel` (where the sound
goes, or why there is none and what to do),
:class:`PanicButton` and :class:`RecordControls` (record with count-in and metronome,
quantize on the fly or after, MIDI thru, and call-and-response).
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton,
                               QSpinBox, QToolButton, QWidget)

from engine.live.recorder import quantize_notes
from engine.song import Song
from gui.playback import (BUILTIN_SYNTH, GRID_CHOICES, NO_INPUT, SETTINGS_INPUT, SETTINGS_OUTPUT,
                      PlayerBridge, generator_responder, grid_ticks)

class _PortChooser(QComboBox):
    """A combo box of port names that refreshes when opened and remembers the choice."""

    settings_key = ""

    def __init__(self, bridge: PlayerBridge, settings: QSettings | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.settings = settings if settings is not None else QSettings()
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.refresh()
        saved = self.settings.value(self.settings_key, None)
        if isinstance(saved, str) and saved and saved in self._names():
            if self._apply(saved):
                self.setCurrentText(saved)
        self.activated.connect(self._on_activated)

    def _names(self) -> list[str]:
        raise NotImplementedError

    def _current(self) -> str | None:
        raise NotImplementedError

    def _apply(self, name: str) -> bool:
        raise NotImplementedError

    def refresh(self) -> None:
        """Re-list the ports (they come and go), keeping the current choice."""
        current = self._current()
        self.blockSignals(True)
        self.clear()
        names = self._names()
        self.addItems(names)
        if current and current in names:
            self.setCurrentText(current)
        self.blockSignals(False)

    def showPopup(self) -> None:  # noqa: N802 - Qt override
        self.refresh()
        super().showPopup()

    def choose(self, name: str) -> bool:
        """Select ``name`` as a user would; remembered when it works."""
        ok = self._apply(name)
        if ok:
            self.settings.setValue(self.settings_key, name)
        self.refresh()
        return ok

    def _on_activated(self, index: int) -> None:
        self.choose(self.itemText(index))


class OutputChooser(_PortChooser):
    settings_key = SETTINGS_OUTPUT

    def __init__(self, bridge: PlayerBridge, settings: QSettings | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(bridge, settings, parent)
        self.setToolTip("Where Continuo plays: the built-in synth or a MIDI port (the list "
                        "follows the ports as they come and go)")
        bridge.outputs_changed.connect(self.refresh)
        bridge.sound_changed.connect(self.refresh)  # e.g. back to the built-in synth

    def _names(self) -> list[str]:
        return self.bridge.outputs()

    def _current(self) -> str | None:
        return self.bridge.output_name()

    def _apply(self, name: str) -> bool:
        return self.bridge.set_output(name)


class InputChooser(_PortChooser):
    settings_key = SETTINGS_INPUT

    def __init__(self, bridge: PlayerBridge, settings: QSettings | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(bridge, settings, parent)
        self.setToolTip("The MIDI keyboard to record from")
        bridge.inputs_changed.connect(self.refresh)

    def _names(self) -> list[str]:
        return [NO_INPUT] + self.bridge.inputs()

    def _current(self) -> str | None:
        return self.bridge.input_name() or NO_INPUT

    def _apply(self, name: str) -> bool:
        return self.bridge.set_input(None if name == NO_INPUT else name)


class SoundStatusLabel(QLabel):
    """A lasting line beside the Output list: the output in use, or, when nothing can
    sound, why and what to do (the tooltip has the whole story)."""

    SILENT_STYLE = "color: #b3261e; font-weight: bold; padding: 0 6px;"
    AUDIBLE_STYLE = "color: palette(text); padding: 0 6px;"

    def __init__(self, bridge: PlayerBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sound_status")
        self.bridge = bridge
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(True)  # two short lines when silent: why, and what to do
        self.setMinimumWidth(300)
        self.setMaximumWidth(380)
        bridge.sound_changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        status = self.bridge.sound_status()
        self.setText(status.summary)
        self.setToolTip(status.detail)
        self.setStyleSheet(self.AUDIBLE_STYLE if status.audible else self.SILENT_STYLE)


class PanicButton(QPushButton):
    """All notes off, everywhere, now."""

    def __init__(self, bridge: PlayerBridge, parent: QWidget | None = None) -> None:
        super().__init__("Panic", parent)
        self.setObjectName("midi_panic")
        self.setToolTip("Stop and silence every note on every channel")
        self.clicked.connect(bridge.panic)


class RecordControls(QWidget):
    """Record button, count-in, quantize, thru and call-and-response, for a toolbar.

    The window provides where to record (``song_at()`` -> (song, start tick,
    channel)) and, for call-and-response, a responder (see
    :func:`generator_responder`).  Recorded notes come out of ``notes_recorded``
    (one list per take, ready to add as one undo step); call-and-response
    exchanges come out of the bridge's ``response_ready``.
    """

    notes_recorded = Signal(list)

    def __init__(self, bridge: PlayerBridge, song_at: Callable[[], tuple[Song, int, int]],
                 responder: Callable[[], Callable[[Song], Any] | None] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.song_at = song_at
        self.responder = responder
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.record_button = QToolButton()
        self.record_button.setText("● Rec")
        self.record_button.setObjectName("midi_record")
        self.record_button.setCheckable(True)
        self.record_button.setToolTip("Record from the MIDI input after a count-in")
        self.count_in = QSpinBox()
        self.count_in.setRange(0, 4)
        self.count_in.setValue(1)
        self.count_in.setSuffix(" bar count-in")
        self.quantize = QComboBox()
        for label, division in GRID_CHOICES:
            self.quantize.addItem(label, division)
        self.quantize.setCurrentIndex(3)  # 1/16
        self.quantize.setToolTip("Grid that recorded notes snap to")
        self.live_quantize = QCheckBox("while playing")
        self.live_quantize.setChecked(True)
        self.live_quantize.setToolTip("Quantize each note as it is played (otherwise when "
                                      "recording stops)")
        self.thru = QCheckBox("Thru")
        self.thru.setToolTip("Send what the keyboard plays to the output, to hear yourself")
        self.thru.setChecked(True)
        self.call_button = QToolButton()
        self.call_button.setText("Call && response")
        self.call_button.setCheckable(True)
        self.call_button.setToolTip("Play a phrase; Continuo answers it and both land in "
                                    "the piano roll")
        for w in (self.record_button, self.count_in, QLabel("Quantize"), self.quantize,
                  self.live_quantize, self.thru, self.call_button):
            layout.addWidget(w)
        self.record_button.toggled.connect(self._on_record)
        self.call_button.toggled.connect(self._on_call)
        self.thru.toggled.connect(lambda on: bridge.set_thru(on))
        bridge.set_thru(self.thru.isChecked())
        bridge.recording_changed.connect(self._sync_record)
        bridge.recording_finished.connect(self._on_finished)
        bridge.call_response_changed.connect(self._sync_call)
        self._after_grid = 0

    def grid(self, ppq: int) -> int:
        return grid_ticks(ppq, int(self.quantize.currentData()))

    def _on_record(self, on: bool) -> None:
        if not on:
            self.bridge.stop_recording()
            return
        if self.bridge.input_name() is None:
            self.bridge.error.emit("Choose a MIDI input to record from.")
            self._sync_record(False)
            return
        song, start, channel = self.song_at()
        grid = self.grid(song.ppq)
        live = self.live_quantize.isChecked()
        self._after_grid = 0 if live else grid
        if not self.bridge.record(song, start, self.count_in.value(), grid if live else 0,
                                  channel):
            self._sync_record(False)

    def _on_finished(self, notes: list) -> None:
        if self._after_grid:
            notes = quantize_notes(notes, self._after_grid)
        if notes:
            self.notes_recorded.emit(notes)

    def _sync_record(self, on: bool) -> None:
        self.record_button.blockSignals(True)
        self.record_button.setChecked(on)
        self.record_button.blockSignals(False)

    def _on_call(self, on: bool) -> None:
        if not on:
            self.bridge.stop_call_response()
            return
        responder = self.responder() if self.responder else None
        if responder is None or self.bridge.input_name() is None:
            self.bridge.error.emit("Call and response needs a MIDI input and a model.")
            self._sync_call(False)
            return
        song, start, channel = self.song_at()
        program = next((t.program for t in song.tracks if t.channel == channel), 0)
        ts = song.time_signature_at(start)
        self.bridge.start_call_response(song.tempo_map, self.grid(song.ppq), start, responder,
                                        channel=channel, program=program,
                                        time_signature=(ts.numerator, ts.denominator))

    def _sync_call(self, on: bool) -> None:
        self.call_button.blockSignals(True)
        self.call_button.setChecked(on)
        self.call_button.blockSignals(False)


__all__ = ["PlayerBridge", "OutputChooser", "InputChooser", "SoundStatusLabel", "PanicButton",
           "RecordControls",
           "generator_responder", "grid_ticks", "BUILTIN_SYNTH", "NO_INPUT"]
