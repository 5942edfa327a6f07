"""The Qt side of live MIDI: the player bridge.

:class:`PlayerBridge` wraps the engine's plain-Python :class:`engine.live.player.Player`
and turns its hook calls (made on the player thread, or on rtmidi's callback
thread for input) into Qt signals emitted on the GUI thread: each hook emits a
private signal that reaches a GUI-thread slot through a queued connection, and
that slot emits the public signal.  The playhead is read by a 30 Hz timer on the
GUI thread while playing, so the player thread never waits for the GUI.

Call-and-response answers a phrase with a :class:`gui.worker.GenerationJob`, the same
job the Generate panel runs: the notes are generated in the engine's generation service
(a helper process), so the GUI thread shares no GIL with the sampler.

The bridge also says where the sound goes (:meth:`PlayerBridge.sound_status`: the
output in use, or why nothing can sound and what to do) and reads the port lists every
two seconds, so the Output and Input lists follow ports as they come and go.

MIDI clock sync (:meth:`PlayerBridge.set_sync`: internal, send clock on the output, or
follow the clock on the input) is the engine's (:mod:`engine.live.clock`); the bridge
routes the input's clock messages to the player, keeps the song an incoming Start
plays (:meth:`PlayerBridge.set_follow_song`) and reports the followed tempo
(``followed_tempo_changed``, polled a few times a second).

The toolbar widgets over the bridge live in :mod:`gui.midi_widgets`.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any, Callable

import mido
from PySide6.QtCore import QCoreApplication, QObject, Qt, QTimer, Signal, Slot

from engine.errors import ContinuoError, PortError
from engine.live.accompanist import INPUT_POLL_S, REALTIME_PRIORITY
from engine.live.clock import SYNC_FOLLOW, SYNC_INTERNAL, TRANSPORT_TYPES
from engine.live.player import Player
from engine.live.ports import (MidiSystem, Output, PortInput, midi_system_may_run,
                               platform_has_virtual_ports)
from engine.live.recorder import CallAndResponse, Exchange, Recorder, answer_song
from engine.encodings.chords import ChordSymbol, parse_chord
from engine.song import DRUM_CHANNEL, Note, Song, TempoMap, Track, grid_lines
from gui.worker import GenerationJob

# a responder makes the job that continues a phrase (a song from tick 0)
Responder = Callable[[Song], GenerationJob]

BUILTIN_SYNTH = "Built-in synth"
VIRTUAL_PORT = "Virtual port 'Continuo'"
NO_INPUT = "No MIDI input"
SETTINGS_OUTPUT = "midi/output"
SETTINGS_INPUT = "midi/input"
SETTINGS_SYNC = "midi/sync"
TEMPO_POLL_MS = 250  # how often the followed tempo is read while following
POSITION_INTERVAL_MS = 33
PORT_POLL_MS = 2000  # how often the port lists are read, to notice ports coming and going
SYSTEM_RETRY_POLLS = 5  # with no MIDI system, look for one every this many polls


# Play chords: the chord track voiced on a channel of its own (a string pad, so it sits
# apart from the parts), re-struck on every bar line so that playing from anywhere
# sounds the chord in force there
CHORD_PROGRAM = 48  # General MIDI String Ensemble 1
CHORD_VELOCITY = 64
CHORD_TRACK_NAME = "Chords"
CHORD_UPPER_LOW = 57  # the upper voices lie in A3-G#4, a close position around middle C
CHORD_BASS_LOW = 45  # the bass note in A2-G#3, beneath them


def chord_voicing(symbol: ChordSymbol) -> list[int]:
    """Pitches of ``symbol``: its bass note (the slash note, else the root) in the
    octave from A2, then every chord tone once in close position from A3, around middle
    C."""
    root = symbol.root_pc
    upper = {CHORD_UPPER_LOW + (root + i - CHORD_UPPER_LOW) % 12 for i in symbol.intervals}
    bass = CHORD_BASS_LOW + (symbol.bass_pc - CHORD_BASS_LOW) % 12
    return [bass, *sorted(upper)]


def free_channel(song: Song) -> int:
    """The first MIDI channel no track or note of ``song`` uses (nor the drums'); the
    last one when all are taken."""
    used = {DRUM_CHANNEL} | {t.channel for t in song.tracks}
    used |= {n.channel for n in song.notes()}
    return next((c for c in range(16) if c not in used), 15)


def chord_track_of(song: Song, end_tick: int | None = None,
                   start_tick: int = 0) -> Track | None:
    """The song's chord track voiced as notes (:func:`chord_voicing`), on a channel of
    its own; None when the song has no chords.  Each chord sounds to the next one (the
    last to ``end_tick``, where playing ends, else the song's end: at least a beat),
    struck again on every bar line and at ``start_tick``, where playing starts."""
    if not song.chords:
        return None
    ppq = song.ppq
    end = max(song.end_tick if end_tick is None else end_tick, song.chords[-1].tick + ppq)
    bars = sorted({line.tick for line in grid_lines(song.time_signatures, ppq, 0, end)
                   if line.kind == "bar"} | {start_tick})
    channel = free_channel(song)
    notes: list[Note] = []
    for i, chord in enumerate(song.chords):
        stop = song.chords[i + 1].tick if i + 1 < len(song.chords) else end
        cuts = [chord.tick] + [t for t in bars if chord.tick < t < stop] + [stop]
        pitches = chord_voicing(parse_chord(chord.symbol))
        for a, b in zip(cuts, cuts[1:]):
            if b > a:
                notes += [Note(p, a, b - a, CHORD_VELOCITY, channel) for p in pitches]
    return Track(CHORD_TRACK_NAME, channel, CHORD_PROGRAM, notes=notes)


def with_chords(song: Song, end_tick: int | None = None, start_tick: int = 0) -> Song:
    """``song`` with its chord track voiced as one more track (the song itself when it
    has no chords), played from ``start_tick`` to ``end_tick`` (:func:`chord_track_of`)."""
    track = chord_track_of(song, end_tick, start_tick)
    if track is None:
        return song
    return dataclasses.replace(song, tracks=[*song.tracks, track])


@dataclasses.dataclass(frozen=True, slots=True)
class SoundStatus:
    """Where what Continuo plays goes, and whether anyone will hear it."""

    audible: bool  # False: nothing will sound (``summary`` says why and what to do)
    summary: str  # a line for the toolbar
    detail: str  # sentences for a tooltip


def _no_midi_hint() -> str:
    if sys.platform.startswith("linux"):
        return "Start JACK (or PipeWire) to play into other programs' MIDI ports."
    return "Connect a MIDI device to play into it."

# name, ticks per grid step at ppq 480 is computed from the fraction of a whole note
GRID_CHOICES: list[tuple[str, int]] = [("Off", 0), ("1/4", 4), ("1/8", 8), ("1/16", 16),
                                       ("1/32", 32), ("1/8 triplet", 12), ("1/16 triplet", 24)]


def grid_ticks(ppq: int, division: int) -> int:
    """Ticks of a 1/``division`` note (0: no grid)."""
    return 0 if division <= 0 else max(1, ppq * 4 // division)


class _BridgePlayer(Player):
    """The engine player whose hooks emit the bridge's private signals."""

    def __init__(self, bridge: "PlayerBridge", output: Output) -> None:
        super().__init__(output, clock=time.monotonic)
        self._bridge = bridge

    def on_playing_changed(self, playing: bool) -> None:
        self._bridge._playing_hook.emit(playing)

    def on_error(self, message: str) -> None:
        self._bridge._error_hook.emit(message)

    def on_finished(self) -> None:
        self._bridge._finished_hook.emit()

    def on_position(self, tick: int) -> None:
        if not self.is_playing():  # while playing, the bridge's timer reads the playhead
            self._bridge._position_hook.emit(tick)  # a Song Position Pointer, an end


def generator_responder(library: Any, settings: Any) -> Responder:
    """A responder that continues the phrase with the generator, in the helper process.
    An answer is one variation (the panel's other settings), so it costs no more than
    one."""
    if getattr(settings, "variations", 1) != 1:
        settings = dataclasses.replace(settings, variations=1)

    def respond(phrase: Song) -> GenerationJob:
        return GenerationJob(library, phrase, settings)

    return respond


class PlayerBridge(QObject):
    """The GUI's handle on playback, ports, recording and call-and-response.

    All public signals are emitted on the GUI thread.
    """

    position_changed = Signal(int)  # playhead tick (~30 Hz while playing)
    playing_changed = Signal(bool)
    error = Signal(str)  # a sentence for the status bar
    message = Signal(str)  # information (e.g. "the built-in synth is silent: ...")
    outputs_changed = Signal()  # a port appeared or went away
    inputs_changed = Signal()
    sound_changed = Signal()  # the output changed: see sound_status()
    # recording
    recording_changed = Signal(bool)
    note_recorded = Signal(object)  # one Note, as soon as its key is released
    recording_finished = Signal(list)  # every recorded Note (quantized if asked)
    # call and response
    call_response_changed = Signal(bool)
    phrase_heard = Signal(object)  # the call as a Song from tick 0 (generation starts)
    response_ready = Signal(object)  # engine.live.recorder.Exchange: phrase + answer, placed
    # MIDI clock sync
    sync_changed = Signal(str)  # "internal", "send" or "follow"
    followed_tempo_changed = Signal(float)  # BPM of the incoming clock, while following

    _playing_hook = Signal(bool)
    _error_hook = Signal(str)
    _finished_hook = Signal()
    _note_hook = Signal(object)
    _position_hook = Signal(int)
    live_stopped = Signal(object)  # the live accompanist that stopped (its notes are off)
    _live_error_hook = Signal(object, str)

    def __init__(self, parent: QObject | None = None, api: str | None = None) -> None:
        super().__init__(parent)
        queued = Qt.ConnectionType.QueuedConnection
        self._playing_hook.connect(self._on_playing, queued)
        self._error_hook.connect(self._on_error, queued)
        self._finished_hook.connect(self._on_finished, queued)
        self._note_hook.connect(self.note_recorded, queued)
        self._position_hook.connect(self.position_changed, queued)
        self._live_error_hook.connect(self._on_live_error, queued)

        self._api = api
        self._system: MidiSystem | None = None
        self._system_error = ""
        try:
            self._system = MidiSystem(api)
        except PortError as exc:
            self._system_error = str(exc)
        self._polls = 0
        self._synth: Output | None = None
        self._output_name = BUILTIN_SYNTH
        self._player = _BridgePlayer(self, self._builtin_synth())
        self._input: PortInput | None = None
        self._input_name: str | None = None
        self._thru = False
        self._thru_channel = 0
        self._recorder: Recorder | None = None
        self._saved_metronome: bool | None = None
        self._call: CallAndResponse | None = None
        self._responder: Responder | None = None
        self._answer_job: GenerationJob | None = None
        self._answer_program = 0
        self._accompanist: Any = None  # engine.live.accompanist.Accompanist, while live
        self.play_chords = False  # Play voices the chord track too (Transport > Play Chords)
        self._timer = QTimer(self)
        self._timer.setInterval(POSITION_INTERVAL_MS)
        self._timer.timeout.connect(self._tick)
        self._call_timer = QTimer(self)
        self._call_timer.setInterval(50)
        self._call_timer.timeout.connect(self._poll_call)
        self._tempo_timer = QTimer(self)
        self._tempo_timer.setInterval(TEMPO_POLL_MS)
        self._tempo_timer.timeout.connect(self._poll_tempo)
        self._followed_bpm: float | None = None
        self._closed = False
        self._known_ports = self._port_lists()
        self._port_timer = QTimer(self)
        self._port_timer.setInterval(PORT_POLL_MS)
        self._port_timer.timeout.connect(self.poll_ports)
        self._port_timer.start()
        app = QCoreApplication.instance()
        if app is not None:  # silence and release the ports however the app ends
            app.aboutToQuit.connect(self.close)

    # ---- engine access -----------------------------------------------------------
    @property
    def player(self) -> Player:
        return self._player

    @property
    def midi_system(self) -> MidiSystem | None:
        return self._system

    def clock(self) -> float:
        return self._player.clock()

    # ---- outputs -----------------------------------------------------------------
    def outputs(self) -> list[str]:
        """Port names to play into; the built-in synth first."""
        names = [BUILTIN_SYNTH]
        if self._system is not None:
            if platform_has_virtual_ports():
                names.append(VIRTUAL_PORT)
            try:
                names += [n for n in self._system.output_names() if n not in names]
            except PortError as exc:
                self.error.emit(str(exc))
        return names

    def _port_lists(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(output names, input names) of the MIDI system, quietly (empty on failure)."""
        if self._system is None:
            return (), ()
        try:
            return tuple(self._system.output_names()), tuple(self._system.input_names())
        except PortError:
            return (), ()

    @Slot()
    def poll_ports(self) -> None:
        """Notice ports that appeared or went away (a timer calls this every 2 s).

        ``outputs_changed``/``inputs_changed`` are emitted only when a list changed.  A
        chosen port that went away is let go (the output falls back to the built-in
        synth) once nothing is playing or recording through it.  With no MIDI system,
        one started later (JACK, say) is looked for every few polls."""
        if self._closed:
            return
        self._polls += 1
        if self._system is None:
            if self._polls % SYSTEM_RETRY_POLLS or not midi_system_may_run():
                return
            try:
                self._system = MidiSystem(self._api)
            except PortError as exc:
                self._system_error = str(exc)
                return
            self.sound_changed.emit()
        outputs, inputs = self._port_lists()
        old_outputs, old_inputs = self._known_ports
        self._known_ports = (outputs, inputs)
        busy = self._player.is_playing() or self._recorder is not None
        gone = self._output_name
        if gone not in (BUILTIN_SYNTH, VIRTUAL_PORT) and gone not in outputs and not busy:
            self.set_output(BUILTIN_SYNTH)
            self.message.emit(f"The MIDI port '{gone}' went away; playing through the "
                              "built-in synth now.")
        if self._input_name is not None and self._input_name not in inputs and not busy \
                and self._call is None:
            gone = self._input_name
            self.set_input(None)
            self.message.emit(f"The MIDI input '{gone}' went away.")
        if outputs != old_outputs:
            self.outputs_changed.emit()
            if self._output_name == BUILTIN_SYNTH:
                self.sound_changed.emit()  # the advice names the ports there are
        if inputs != old_inputs:
            self.inputs_changed.emit()

    def sound_status(self) -> SoundStatus:
        """What the output in use is, and when nothing can sound, why and what to do."""
        name = self._output_name
        if name == VIRTUAL_PORT:
            return SoundStatus(True, "Sound: virtual port 'Continuo' (connect a synth to it)",
                               "Continuo plays into its own virtual MIDI port; connect a synth "
                               "or a DAW to it to hear what it plays.")
        if name != BUILTIN_SYNTH:
            return SoundStatus(True, f"Sound: {name}",
                               f"Continuo plays into the MIDI port '{name}'; you hear the synth "
                               "or instrument behind it.")
        synth = self._synth
        if synth is not None and getattr(synth, "audible", False):
            return SoundStatus(True, f"Sound: built-in synth ({synth.driver})",
                               f"Continuo plays through its built-in synth (FluidSynth), on "
                               f"the {synth.driver} audio driver.")
        silence = getattr(synth, "silence", "") or "the built-in synth has no audio output"
        todo = getattr(synth, "todo", "") or "Pick an output, or use Export Audio."
        status = getattr(synth, "status", "") or f"The built-in synth is silent: {silence}."
        ports = self._known_ports[0]
        if self._system is None:
            ports_line = f"{self._system_error or 'No MIDI system is running.'} {_no_midi_hint()}"
        elif ports:
            count = len(ports)
            ports_line = (f"{count} MIDI output{'s' if count != 1 else ''} "
                          f"{'are' if count != 1 else 'is'} listed under Output.")
        else:
            ports_line = "No MIDI output port is listed under Output yet."
        return SoundStatus(False, f"No sound: {silence}. {todo}",
                           f"{status}\n{ports_line}")

    def output_name(self) -> str:
        return self._output_name

    def set_output(self, name: str | None) -> bool:
        """Play into ``name`` (None or "Built-in synth": the built-in synth)."""
        if not name or name == BUILTIN_SYNTH:
            new: Output = self._builtin_synth()
            name = BUILTIN_SYNTH
        elif self._system is None:
            self.error.emit(self._system_error or "No MIDI system is running.")
            return False
        else:
            try:
                new = (self._system.open_virtual_output() if name == VIRTUAL_PORT
                       else self._system.open_output(name))
            except PortError as exc:
                self.error.emit(str(exc))
                return False
        old = self._player.output
        if old is not new:
            self.stop_accompanist()  # its notes go off on the output they went to
        self._player.set_output(new)
        if old is not new and old is not self._synth:
            old.close()
        changed = name != self._output_name
        self._output_name = name
        if changed:
            self.sound_changed.emit()
        return True

    def set_programs(self, programs: dict[int, int]) -> None:
        """Send channel -> General MIDI program now, so the next note (a preview click,
        the keyboard through Thru) already sounds with the track's instrument."""
        for channel, program in sorted(programs.items()):
            self._player.send_now(mido.Message("program_change", channel=channel,
                                               program=program))

    def _builtin_synth(self) -> Output:
        if self._synth is None:
            from engine.live.synth import SynthOutput  # noqa: PLC0415 - loads a soundfont

            self._synth = SynthOutput()
            if self._synth.status:
                QTimer.singleShot(0, lambda: self.message.emit(self._synth.status))
        return self._synth

    # ---- transport ---------------------------------------------------------------
    def play(self, song: Song, start_tick: int = 0, end_tick: int | None = None,
             loop: bool = False) -> None:
        """Play ``song``; with :attr:`play_chords` on, its chord track too: the chord in
        force at ``start_tick`` struck there, the last one sounding to ``end_tick``."""
        if self.play_chords:
            song = with_chords(song, end_tick, start_tick)
        self._start(song, start_tick, end_tick, loop)

    def _start(self, song: Song, start_tick: int, end_tick: int | None, loop: bool,
               count_in_bars: int = 0, hold: bool = False) -> bool:
        try:
            self._player.output.check()
        except PortError as exc:
            self.error.emit(f"{str(exc).rstrip('.')}; choose another output.")
            return False
        self._player.play(song, start_tick, end_tick, loop, count_in_bars=count_in_bars,
                          hold=hold)
        self._timer.start()
        return True

    def stop(self) -> None:
        self.stop_accompanist()
        if self._recorder is not None:
            self.stop_recording()
        self._player.stop()
        self._timer.stop()

    def panic(self) -> None:
        self.stop_accompanist(hard=True)
        if self._recorder is not None:
            self.stop_recording()
        self._player.panic()
        self._timer.stop()

    def is_playing(self) -> bool:
        return self._player.is_playing()

    def set_metronome(self, on: bool) -> None:
        self._player.set_metronome(on)

    def preview_note(self, pitch: int, velocity: int = 100, channel: int = 0,
                     duration_s: float = 0.4) -> None:
        self._player.preview_note(pitch, velocity, channel, duration_s)

    @Slot()
    def _tick(self) -> None:
        if self._player.is_playing():
            self.position_changed.emit(self._player.position_tick)

    @Slot(bool)
    def _on_playing(self, playing: bool) -> None:
        if not playing:
            self._timer.stop()
        elif not self._timer.isActive():  # started by an incoming clock
            self._timer.start()
        self.playing_changed.emit(playing)

    # ---- MIDI clock sync -------------------------------------------------------------
    def sync(self) -> str:
        return self._player.sync

    def set_sync(self, mode: str) -> None:
        """"internal", "send" (clock out on the output) or "follow" (the input's clock)."""
        if mode == self._player.sync:
            return
        self._player.set_sync(mode)
        self._followed_bpm = None
        if mode == SYNC_FOLLOW:
            self._tempo_timer.start()
        else:
            self._tempo_timer.stop()
        self.sync_changed.emit(mode)

    def set_follow_song(self, song: Song | None) -> None:
        """What an incoming Start or Continue plays."""
        self._player.set_follow_song(song)

    def followed_tempo(self) -> float | None:
        return self._player.followed_tempo()

    @Slot()
    def _poll_tempo(self) -> None:
        bpm = self._player.followed_tempo()
        if bpm is not None and (self._followed_bpm is None
                                or abs(bpm - self._followed_bpm) >= 0.05):
            self._followed_bpm = bpm
            self.followed_tempo_changed.emit(bpm)

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self._timer.stop()
        if self._recorder is not None:
            self.stop_recording()  # what was played so far is kept
        self.error.emit(message)

    @Slot()
    def _on_finished(self) -> None:
        self._timer.stop()
        self.position_changed.emit(self._player.position_tick)

    # ---- inputs ------------------------------------------------------------------
    def inputs(self) -> list[str]:
        if self._system is None:
            return []
        try:
            return self._system.input_names()
        except PortError as exc:
            self.error.emit(str(exc))
            return []

    def input_name(self) -> str | None:
        return self._input_name

    def set_input(self, name: str | None) -> bool:
        """Listen to the input ``name`` (None: no input)."""
        if self._input is not None:
            self._input.close()
            self._input = None
            self._input_name = None
        if not name or name == NO_INPUT:
            return True
        if self._system is None:
            self.error.emit(self._system_error or "No MIDI system is running.")
            return False
        try:
            self._input = self._system.open_input(name, self._on_input, self._player.clock)
        except PortError as exc:
            self.error.emit(str(exc))
            return False
        self._input_name = name
        self._player.follower.name = name  # "the MIDI clock from '...' stopped arriving"
        return True

    def set_thru(self, on: bool, channel: int | None = None) -> None:
        """Echo what the keyboard plays to the output (on ``channel``), to hear oneself."""
        self._thru = bool(on)
        if channel is not None:
            self._thru_channel = channel

    def _on_input(self, msg: mido.Message, t: float) -> None:
        """rtmidi's thread: clock to the player; thru first (latency matters), then the
        recorders."""
        if msg.type in TRANSPORT_TYPES:
            self._player.feed_clock(msg, t)  # ignored unless following
            return
        if msg.type not in ("note_on", "note_off", "control_change", "pitchwheel"):
            return
        if self._thru:
            self._player.send_now(msg.copy(channel=self._thru_channel))
        live = self._accompanist
        if live is not None:
            live.feed(msg, t)
        recorder = self._recorder
        if recorder is not None:
            recorder.feed(msg, t)
        call = self._call
        if call is not None:
            call.feed(msg, t)

    # ---- recording -----------------------------------------------------------------
    def is_recording(self) -> bool:
        return self._recorder is not None

    def record(self, song: Song, start_tick: int = 0, count_in_bars: int = 1, grid: int = 0,
               channel: int = 0, play_song: bool = True, metronome: bool = True,
               bars: int = 64) -> bool:
        """Count in, then play (the song, or only the click) and record the input.

        ``grid`` (ticks, 0 = off) quantizes each note as it is played.  Recording
        stops with :meth:`stop_recording` (or :meth:`stop`), or after ``bars`` bars.
        Each note is signalled as it completes (``note_recorded``) and all of them
        at the end (``recording_finished``).

        Following an incoming clock, nothing starts here: the take is armed, the other
        program's Start plays the song, and each note lands where the followed clock
        puts it (no count-in; the other program gives one).
        """
        if self._recorder is not None:
            self.stop_recording()
        if self._player.sync == SYNC_FOLLOW:
            self._thru_channel = channel
            self._recorder = Recorder(self._player.tick_at, 0, grid, channel, song.ppq,
                                      on_note=self._note_hook.emit)
            self._player.set_follow_hold(True)
            self.recording_changed.emit(True)
            return True
        backing = song if play_song else Song(ppq=song.ppq, tempo_map=song.tempo_map,
                                              time_signatures=song.time_signatures)
        end = max(song.end_tick, start_tick) + bars * song.ticks_per_bar_at(start_tick)
        self._saved_metronome = self._player.metronome
        self._player.set_metronome(metronome)
        self._thru_channel = channel
        self._recorder = Recorder(self._player.tick_at, start_tick, grid, channel, song.ppq,
                                  on_note=self._note_hook.emit)
        if not self._start(backing, start_tick, end, False, count_in_bars=count_in_bars,
                           hold=True):
            self._recorder = None
            return False
        self.recording_changed.emit(True)
        return True

    def stop_recording(self) -> list[Note]:
        recorder, self._recorder = self._recorder, None
        if recorder is None:
            return []
        notes = recorder.finish(self._player.clock())
        self._player.set_follow_hold(False)
        if self._player.sync != SYNC_FOLLOW:  # a followed playback is the other program's
            self._player.stop()
            self._timer.stop()
        if self._saved_metronome is not None:
            self._player.set_metronome(self._saved_metronome)
            self._saved_metronome = None
        self.recording_changed.emit(False)
        self.recording_finished.emit(notes)
        return notes

    # ---- call and response -----------------------------------------------------------
    def is_call_response(self) -> bool:
        return self._call is not None

    def start_call_response(self, tempo_map: TempoMap, grid: int, anchor_tick: int,
                            responder: Responder, gap_s: float = 1.0, channel: int = 0,
                            program: int = 0, time_signature: tuple[int, int] = (4, 4)) -> None:
        """Listen for phrases; each is answered by the job ``responder(phrase)`` makes.

        The job (see :func:`generator_responder`) continues the phrase song; its first
        variation, from its start tick, is the answer.  Following an incoming clock that
        is running, a phrase is read on that clock and its answer joins the followed
        playback at the next bar, in time with the other program.
        """
        self._call = CallAndResponse(tempo_map, grid, anchor_tick, gap_s, channel, time_signature,
                                     timeline=self._followed_timeline)
        self._responder = responder
        self._answer_program = program
        self._call_timer.start()
        self.call_response_changed.emit(True)

    def stop_call_response(self) -> None:
        if self._call is None:
            return
        self._call = None
        self._call_timer.stop()
        if self._answer_job is not None:
            self._answer_job.cancel()
        self.call_response_changed.emit(False)

    @Slot()
    def _poll_call(self) -> None:
        call = self._call
        if call is None or self._responder is None or self._answer_job is not None:
            return
        phrase = call.poll(self._player.clock())
        if phrase is None:
            return
        self.phrase_heard.emit(phrase)
        try:
            job = self._responder(phrase)
        except ContinuoError as exc:
            self._on_answer_failed(str(exc))
            return
        # the job emits on a pool thread; these slots run on the GUI thread
        job.succeeded.connect(self._on_answer)
        job.failed.connect(self._on_answer_failed)
        job.cancelled.connect(self._on_answer_cancelled)
        job.done.connect(self._on_answer_done)
        self._answer_job = job
        job.start()

    @Slot(object)
    def _on_answer(self, result: Any) -> None:
        call = self._call
        if call is None:
            return
        exchange: Exchange = call.place_answer(list(result.variations[0]), result.start_tick)
        self.response_ready.emit(exchange)
        if exchange.answer:
            song = answer_song(exchange, call.tempo_map, self._answer_program)
            player = self._player
            if player.is_following():
                bar = song.ppq * 4 * call.time_signature[0] // call.time_signature[1]
                at = -(-player.position_tick // bar) * bar
                if player.play_in_following(song, at):
                    return
            self._start(song, 0, None, False)

    def _followed_timeline(self) -> Callable[[float], float] | None:
        """The followed clock's tick_at while a followed playback runs (input thread)."""
        player = self._player
        if player.is_following():
            return player.tick_at
        return None

    @Slot(str)
    def _on_answer_failed(self, message: str) -> None:
        if self._call is not None:
            self._call.cancel_answer()
        self.error.emit(message)

    @Slot()
    def _on_answer_cancelled(self) -> None:
        if self._call is not None:
            self._call.cancel_answer()

    @Slot()
    def _on_answer_done(self) -> None:
        job, self._answer_job = self._answer_job, None
        if job is not None:
            job.deleteLater()

    # ---- the live accompanist ------------------------------------------------------------
    @property
    def accompanist(self) -> Any:
        return self._accompanist

    def start_accompanist(self, accompanist: Any) -> None:
        """Route the input's notes to ``accompanist`` (engine.live.accompanist) and start
        it; its faults stop it with every note off and come out as ``error``."""
        self.stop_accompanist()
        accompanist.on_error = lambda message: self._live_error_hook.emit(accompanist, message)
        self._accompanist = accompanist
        if self._input is not None:  # read the keys sooner while they are answered
            self._input.poll_interval_s = INPUT_POLL_S
            self._input.realtime_priority = REALTIME_PRIORITY
        accompanist.start()

    def stop_accompanist(self, hard: bool = False) -> None:
        """Stop the accompanist with a note-off for each of its notes (Stop, panic,
        another output, closing)."""
        live, self._accompanist = self._accompanist, None
        if self._input is not None:
            self._input.poll_interval_s = PortInput.poll_interval_s
            self._input.realtime_priority = PortInput.realtime_priority
        if live is not None:
            live.stop(hard=hard)
            self.live_stopped.emit(live)

    @Slot(object, str)
    def _on_live_error(self, live: Any, message: str) -> None:
        if live is self._accompanist:
            self._accompanist = None
            self.live_stopped.emit(live)
        self.error.emit(message)

    # ---- closing -----------------------------------------------------------------------
    def close(self) -> None:
        """Silence everything and let the ports go (also run when the application quits)."""
        if self._closed:
            return
        self._closed = True
        self._port_timer.stop()
        self._tempo_timer.stop()
        self._player.set_sync(SYNC_INTERNAL)
        self.stop_call_response()
        self.stop_accompanist(hard=True)
        self._player.panic()
        self._timer.stop()
        self.set_input(None)
        if self._player.output is not self._synth:
            self._player.output.close()
        if self._synth is not None:
            self._synth.close()
        if self._system is not None:
            self._system.close()
