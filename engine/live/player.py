"""The player: a song (or a range of it) -> timed MIDI messages on an output.

Plain Python with hook methods (``on_position``, ``on_playing_changed``,
``on_error``, ``on_sent``, ``on_finished``); the GUI subclasses or wraps it and
turns the hooks into Qt signals.  The clock is injected
(``Player(output, clock=time.monotonic)``) so the schedule can be tested
deterministically with a hand-driven clock and :meth:`Player.pump`, and so the
recorder can put keyboard notes on the same timeline.

Times are computed once per play from the song's :class:`TempoMap`, so tempo
changes are honoured exactly; each message is due at ``t0 + pass * loop_length +
event.time_s`` and the scheduler thread sleeps until the next one is due.

Nothing is ever left hanging: every note-on sent is remembered until its note-off,
and :meth:`Player.stop`, :meth:`Player.panic`, a port error and a loop wrap all
send the missing note-offs plus All Notes Off (CC 123) on every channel used.

Sync (:meth:`Player.set_sync`, see :mod:`engine.live.clock`): ``"internal"`` plays on
the song's own tempo; ``"send"`` also sends MIDI clock on the output (Start or Song
Position Pointer + Continue, Timing Clock at each tick's ideal time, Stop, and Stop /
Song Position Pointer / Continue at a loop's wrap), merged into the same schedule;
``"follow"`` lets the incoming clock (:meth:`Player.feed_clock`, fed by an input) start,
stop and place playback of the song given to :meth:`Player.set_follow_song`, each
message due when the follower's line puts its tick; when the clock stops arriving,
playback stops, all notes off, and ``on_error`` says why.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import mido

from engine.errors import ContinuoError, PortError
from engine.live.clock import (CLOCK, CLOCKS_PER_QUARTER, STOP, SYNC_FOLLOW, SYNC_INTERNAL,
                               SYNC_MODES, SYNC_SEND, TRANSPORT_TYPES, ClockFollower,
                               clock_times, snap_to_sixteenth, transport_messages)
from engine.live.ports import Output, all_off_messages
from engine.song import DRUM_CHANNEL, Song

METRONOME_CHANNEL = DRUM_CHANNEL
METRONOME_ACCENT = 76  # GM Hi Wood Block: the first beat of a bar
METRONOME_BEAT = 77  # GM Low Wood Block: the other beats
METRONOME_VELOCITY = 100

# Order of messages due at the same instant: note-offs first (so a repeated pitch
# re-sounds), then program changes, then note-ons; MIDI clock before all of them.
_ORDER_CLOCK, _ORDER_OFF, _ORDER_SETUP, _ORDER_ON = -1, 0, 1, 2


@dataclass(frozen=True, slots=True)
class Event:
    """One message of a schedule, ``time_s`` seconds after the range start."""

    time_s: float
    tick: int
    message: mido.Message
    click: bool = False  # a metronome click: sent only while the metronome is on

    def sort_key(self) -> tuple[float, int]:
        return (self.time_s, self.order())

    def order(self) -> int:
        kind = self.message.type
        return (_ORDER_OFF if kind == "note_off" else
                _ORDER_ON if kind == "note_on" else
                _ORDER_CLOCK if kind in TRANSPORT_TYPES else _ORDER_SETUP)

    def tick_key(self) -> tuple[int, int]:
        return (self.tick, self.order())


def song_to_events(song: Song, start_tick: int = 0, end_tick: int | None = None,
                   metronome: bool = True, count_in_bars: int = 0) -> list[Event]:
    """The timed messages that play ``song`` from ``start_tick`` to ``end_tick``.

    Notes that start inside the range are played; a note that runs past the end is
    cut there.  Program changes for every (non-drum) track come first.  Metronome
    clicks are included (flagged) for every beat of the range, and for
    ``count_in_bars`` bars before ``start_tick`` at negative times.
    """
    tempo = song.tempo_map
    end = song.end_tick if end_tick is None else end_tick
    if end < start_tick:
        raise ContinuoError(
            f"the play range ends (tick {end}) before it starts (tick {start_tick})")
    t_start = tempo.tick_to_seconds(start_tick)

    def seconds(tick: float) -> float:
        return tempo.tick_to_seconds(tick) - t_start

    events: list[Event] = []
    for track in song.tracks:
        if not track.is_drum:  # on every channel the track plays on, as the file writer does
            for channel in sorted({n.channel for n in track.notes} | {track.channel}):
                events.append(Event(0.0, start_tick, mido.Message(
                    "program_change", channel=channel, program=track.program)))
        for note in track.notes:
            if not start_tick <= note.start_tick < end:
                continue
            off_tick = min(note.end_tick, end)
            events.append(Event(seconds(note.start_tick), note.start_tick, mido.Message(
                "note_on", channel=note.channel, note=note.pitch, velocity=note.velocity)))
            events.append(Event(seconds(off_tick), off_tick, mido.Message(
                "note_off", channel=note.channel, note=note.pitch, velocity=0)))

    if metronome:
        events.extend(metronome_events(song, start_tick, end, count_in_bars))
    events.sort(key=Event.sort_key)
    return events


def metronome_events(song: Song, start_tick: int, end_tick: int,
                     count_in_bars: int = 0) -> list[Event]:
    """Clicks on every beat in [start_tick, end_tick), plus a count-in before start."""
    tempo = song.tempo_map
    ppq = song.ppq
    t_start = tempo.tick_to_seconds(start_tick)
    click_ticks = max(1, ppq // 8)
    events: list[Event] = []

    def add(tick: int, time_s: float, accent: bool, dur_s: float) -> None:
        pitch = METRONOME_ACCENT if accent else METRONOME_BEAT
        events.append(Event(time_s, tick, mido.Message(
            "note_on", channel=METRONOME_CHANNEL, note=pitch, velocity=METRONOME_VELOCITY), True))
        events.append(Event(time_s + dur_s, tick + click_ticks, mido.Message(
            "note_off", channel=METRONOME_CHANNEL, note=pitch, velocity=0), True))

    # Beats inside the range, following time-signature changes.
    sigs = song.time_signatures
    for i, ts in enumerate(sigs):
        seg_end = sigs[i + 1].tick if i + 1 < len(sigs) else end_tick
        per_beat = ts.ticks_per_beat(ppq)
        per_bar = ts.ticks_per_bar(ppq)
        tick = ts.tick
        if tick < start_tick:
            tick += -(-(start_tick - tick) // per_beat) * per_beat
        while tick < min(seg_end, end_tick):
            t = tempo.tick_to_seconds(tick) - t_start
            dur = tempo.tick_to_seconds(tick + click_ticks) - tempo.tick_to_seconds(tick)
            # a pickup's clicks are upbeats: the accent is on the first beat of a full bar
            add(tick, t, (tick - ts.tick) % per_bar == 0 and song.bar_beat_at(tick)[0] > 0, dur)
            tick += per_beat

    # Count-in: whole bars at the tempo and metre found at the start.
    if count_in_bars > 0:
        ts = song.meter_at(start_tick)  # from a pickup: whole bars of the metre, not of 1/4
        per_beat = ts.ticks_per_beat(ppq)
        beats = ts.numerator * count_in_bars
        sec_per_tick = tempo.us_per_quarter_at(start_tick) / 1e6 / ppq
        for b in range(beats):
            tick = start_tick - (beats - b) * per_beat
            add(tick, tick * sec_per_tick - start_tick * sec_per_tick, b % ts.numerator == 0,
                click_ticks * sec_per_tick)
    return events


def following_events(song: Song, start_tick: int, end_tick: int) -> list[Event]:
    """A followed playback's schedule: the song's events (clicks included) in tick order."""
    events = song_to_events(song, start_tick, end_tick, metronome=True)
    events.sort(key=Event.tick_key)
    return events


def realtime_thread(priority: int) -> bool:
    """Ask for real-time (SCHED_FIFO) scheduling of the calling thread; False where the
    system says no (the thread then runs as before).  The scheduler thread sleeps
    between messages, so it takes the CPU only for the moments it sends."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (AttributeError, OSError, ValueError):
        return False
    return True


# Python's thread switch interval while live work runs (the accompanist's steps, a clock
# sent): a thread woken to send waits at most this long for the interpreter
# lock held by another Python thread (the MIDI input's callbacks, the GUI), not the
# default 5 ms
LIVE_SWITCH_INTERVAL_S = 0.0005
_switch_lock = threading.Lock()
_switch_users = [0, 0.0]  # live threads inside live_switch_interval(), the interval before


@contextmanager
def live_switch_interval() -> Iterator[None]:
    """Lower ``sys.setswitchinterval`` to LIVE_SWITCH_INTERVAL_S while the block runs;
    the first live thread in lowers it and the last one out restores the interval it
    found, so a player and an accompanist overlapping in time do not undo each other."""
    with _switch_lock:
        if _switch_users[0] == 0:
            _switch_users[1] = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_users[1], LIVE_SWITCH_INTERVAL_S))
        _switch_users[0] += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users[0] -= 1
            if _switch_users[0] == 0:
                sys.setswitchinterval(_switch_users[1])


class Player:
    """Plays songs on an output from a scheduler thread; see the module docstring.

    Hook methods run on the player thread (``on_position``, ``on_sent``,
    ``on_finished``, ``on_error``) or on the caller's thread (``on_playing_changed``
    from :meth:`play`/:meth:`stop`); keep them short and thread-safe.
    """

    position_interval_s = 1 / 30
    check_interval_s = 0.25
    follow_in_background = True  # False: a followed playback is driven by pump() (tests)
    # the scheduler thread asks for this SCHED_FIFO priority, as audio software does (where
    # the system allows it: root, or an rtprio limit for the user); 0: never ask
    realtime_priority = 10
    # sending MIDI clock (not following one), the thread sleeps until this long before the
    # next message and spins on the clock for the rest: a sleeping thread wakes late by the
    # scheduler's and the interpreter lock's delays, a spinning one holds the CPU and the
    # lock when the message is due (at 120 BPM 48 clocks a second: under 5% of a core)
    spin_s = 0.001

    def __init__(self, output: Output, clock: Callable[[], float] = time.monotonic) -> None:
        self.output = output
        self.clock = clock
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._playing = False
        self._metronome = False
        self._sounding: Counter[tuple[int, int]] = Counter()
        self._used_channels: set[int] = set()
        self._preview_tokens: dict[tuple[int, int], int] = {}
        self._preview_timers: list[threading.Timer] = []
        # schedule state
        self._song: Song | None = None
        self._events: list[Event] = []
        self._intro: list[Event] = []
        self._index = 0
        self._pass = 0
        self._t0 = 0.0
        self._loop = False
        self._loop_s = 0.0
        self._start_tick = 0
        self._end_tick = 0
        self._count_in_s = 0.0
        self._hold = False
        self._rest_tick = 0  # where the playhead rests when stopped
        self._wake = threading.Event()  # set on stop, and on each incoming clock
        self.realtime: bool | None = None  # the thread got SCHED_FIFO (None: none ran yet)
        # sync
        self._sync = SYNC_INTERNAL
        self.follower = ClockFollower(self)
        self._follow_song: Song | None = None
        self._follow_ready: tuple[int, int, list[Event]] | None = None  # (start, end, events)
        self._follow_hold = False  # a followed playback runs on past the song's end
        self._following = False  # this playback runs on the follower's clock
        self._clock_out = False  # this playback sends MIDI clock
        self._clock_running = False  # Start/Continue went out and Stop has not
        self._sent_pass = -1  # the last pass whose Start/Continue went out
        self._spp = 0  # where the range starts, in 16th notes (Song Position Pointer)

    # ---- hooks ---------------------------------------------------------------
    def on_position(self, tick: int) -> None:
        """The playhead moved (about 30 times a second while playing)."""

    def on_playing_changed(self, playing: bool) -> None:
        """Playback started or stopped (for any reason)."""

    def on_error(self, message: str) -> None:
        """Playback stopped because of a problem the user should hear about."""

    def on_finished(self) -> None:
        """Playback reached the end of its range (not looping, not stopped)."""

    def on_sent(self, due_s: float, sent_s: float, msg: mido.Message) -> None:
        """A scheduled message went out: its due time and the clock just before sending."""

    # ---- settings ------------------------------------------------------------
    @property
    def metronome(self) -> bool:
        return self._metronome

    def set_metronome(self, on: bool) -> None:
        """Clicks are always scheduled; this only decides whether they are sent."""
        self._metronome = bool(on)
        if on:
            with self._lock:
                self._used_channels.add(METRONOME_CHANNEL)

    def set_output(self, output: Output) -> None:
        """Switch outputs, silencing the old one first; playback goes on."""
        with self._lock:
            if output is self.output:
                return
            old = self.output
            self._silence(old, hard=False)
            self.output = output

    # ---- sync ----------------------------------------------------------------
    @property
    def sync(self) -> str:
        return self._sync

    def set_sync(self, mode: str) -> None:
        """"internal", "send" (send MIDI clock) or "follow" (follow :meth:`feed_clock`).

        Takes effect at the next play; leaving "follow" stops a followed playback."""
        if mode not in SYNC_MODES:
            raise ContinuoError(
                f"Unknown sync mode {mode!r}; choose one of {', '.join(SYNC_MODES)}.")
        with self._lock:
            old, self._sync = self._sync, mode
            following = self._following and self._playing
        if old == SYNC_FOLLOW and mode != SYNC_FOLLOW:
            if following:
                self.stop()
            self.follower.reset()

    def set_follow_song(self, song: Song | None) -> None:
        """The song an incoming Start or Continue plays (a private copy is kept)."""
        copy = song.copy() if song is not None else None
        # its schedule from the top, made now: a DAW's Start from bar 1 then plays the
        # first note on time instead of after the input's thread has built it
        ready = None if copy is None else (
            0, copy.end_tick, following_events(copy, 0, copy.end_tick))
        with self._lock:
            self._follow_song = copy
            self._follow_ready = ready

    def set_follow_hold(self, on: bool) -> None:
        """Keep a followed playback going past the song's end until Stop (recording)."""
        with self._lock:
            self._follow_hold = bool(on)
            if self._following:
                self._hold = bool(on)

    def feed_clock(self, msg: mido.Message, t: float) -> None:
        """An input's message at clock time ``t``; clock and transport messages drive a
        following player (anything else is ignored)."""
        if self._sync == SYNC_FOLLOW and msg.type in TRANSPORT_TYPES:
            self.follower.feed(msg, t)

    def followed_tempo(self) -> float | None:
        """The tempo of the incoming clock (BPM), while following; None before it is known."""
        return self.follower.tempo_bpm() if self._sync == SYNC_FOLLOW else None

    # the follower's listener (the input's thread) -----------------------------------
    def clock_started(self, position: int) -> None:
        with self._lock:
            song = self._follow_song
            if self._sync != SYNC_FOLLOW or song is None:
                return
        self._play_following(song, round(position * song.ppq / CLOCKS_PER_QUARTER))

    def clock_stopped(self) -> None:
        with self._lock:
            following = self._following and self._playing
            song = self._follow_song
        if following:
            self.stop()
        if song is not None and self._sync == SYNC_FOLLOW:
            rest = round(self.follower.resume_position * song.ppq / CLOCKS_PER_QUARTER)
            with self._lock:
                self._rest_tick = rest
            self.on_position(rest)

    def clock_located(self, position: int, running: bool) -> None:
        with self._lock:
            song = self._follow_song
            if self._sync != SYNC_FOLLOW or song is None:
                return
            following = self._following and self._playing
        tick = round(position * song.ppq / CLOCKS_PER_QUARTER)
        if running and following:
            self._play_following(song, tick)  # a jump: what sounds stops, play on from there
        elif not following:
            with self._lock:
                self._rest_tick = tick
            self.on_position(tick)

    def clock_ticked(self) -> None:
        self._wake.set()

    def play_in_following(self, song: Song, at_tick: int) -> bool:
        """Add ``song`` to the followed playback that is running, from ``at_tick`` of the
        followed song on (an answer, in time with the other program); False when no
        followed playback runs (the caller plays it another way)."""
        events = [Event(e.time_s, e.tick + at_tick, e.message)
                  for e in song_to_events(song, 0, song.end_tick, metronome=False)]
        with self._lock:
            if not (self._following and self._playing):
                return False
            later = self._events[self._index:] + events
            later.sort(key=Event.tick_key)
            self._events = self._events[:self._index] + later
            self._end_tick = max(self._end_tick, at_tick + song.end_tick)
            self._used_channels |= {e.message.channel for e in events}
        self._wake.set()
        return True

    def _play_following(self, song: Song, start_tick: int) -> None:
        """Play ``song`` from ``start_tick`` on the follower's clock (no thread restart
        notice when it was already playing: a relocation)."""
        was_playing = self._end_playback()
        if was_playing:
            self._silence(self.output, hard=False)
        end_tick = song.end_tick
        if start_tick >= end_tick and not self._follow_hold:  # past the end: nothing to play
            with self._lock:
                self._rest_tick = start_tick
            if was_playing:
                self.on_playing_changed(False)
            self.on_position(start_tick)
            return
        end_tick = max(end_tick, start_tick)
        ready = self._follow_ready
        if song is self._follow_song and ready is not None and ready[:2] == (start_tick, end_tick):
            events = list(ready[2])
        else:
            events = following_events(song, start_tick, end_tick)
        with self._lock:
            self._song = song
            self._intro = []
            self._events = events
            self._start_tick, self._end_tick = start_tick, end_tick
            self._rest_tick = start_tick
            self._loop, self._loop_s, self._count_in_s = False, 0.0, 0.0
            self._hold = self._follow_hold
            self._index, self._pass = 0, 0
            self._used_channels |= {e.message.channel for e in events if not e.click}
            if self._metronome:
                self._used_channels.add(METRONOME_CHANNEL)
            self._following, self._clock_out = True, False
            self._t0 = self.clock()
            self._stop_event.clear()
            self._wake.clear()
            self._playing = True
        if not was_playing:
            self.on_playing_changed(True)
        if self.follow_in_background:
            self._thread = threading.Thread(target=self._run, name="continuo-player",
                                            daemon=True)
            self._thread.start()

    # ---- state ---------------------------------------------------------------
    def is_playing(self) -> bool:
        return self._playing

    def is_following(self) -> bool:
        """Playing on an incoming clock (started by its Start or Continue)."""
        return self._playing and self._following

    @property
    def position_tick(self) -> int:
        """Where the playhead is now; when stopped, where it stopped (or the range end)."""
        with self._lock:
            if not self._playing:
                return self._rest_tick
            return round(self.tick_at(self.clock()))

    def tick_at(self, t: float) -> float:
        """The song tick sounding at clock time ``t``; negative during a count-in."""
        with self._lock:
            song = self._song
            if song is None:
                return float(self._start_tick)
            if self._following:
                position = self.follower.position(t)
                if position is None:
                    return float(self._start_tick)
                tick = position * song.ppq / CLOCKS_PER_QUARTER
                return tick if self._hold else min(tick, float(self._end_tick))
            tempo = song.tempo_map
            elapsed = t - self._t0
            if elapsed < 0:
                sec_per_tick = tempo.us_per_quarter_at(self._start_tick) / 1e6 / song.ppq
                return self._start_tick + elapsed / sec_per_tick
            if self._loop and self._loop_s > 0:
                elapsed %= self._loop_s
            tick = tempo.seconds_to_tick(tempo.tick_to_seconds(self._start_tick) + elapsed)
            if not self._loop and not self._hold:
                tick = min(tick, self._end_tick)
            return tick

    def time_at(self, tick: float) -> float:
        """The clock time at which ``tick`` sounds in the current (first) pass."""
        with self._lock:
            song = self._song
            if song is None:
                raise ContinuoError("nothing is playing")
            if self._following:
                return self.follower.time_at(tick * CLOCKS_PER_QUARTER / song.ppq)
            tempo = song.tempo_map
            return self._t0 + tempo.tick_to_seconds(tick) - tempo.tick_to_seconds(self._start_tick)

    # ---- transport -----------------------------------------------------------
    def play(self, song: Song, start_tick: int = 0, end_tick: int | None = None,
             loop: bool = False, *, count_in_bars: int = 0, hold: bool = False,
             background: bool = True) -> None:
        """Start playing ``song`` (a private copy: editing it meanwhile changes nothing).

        ``end_tick`` defaults to the song's end (rounded up to a whole bar when
        looping).  ``hold`` keeps the player running after the last event until
        :meth:`stop` (recording).  ``background=False`` starts no thread: the caller
        drives :meth:`pump` with its own clock.  Sending clock ("send" sync), the start
        snaps back to a 16th note, the unit of Song Position Pointer.
        """
        self.stop()
        song = song.copy()
        clock_out = self._sync == SYNC_SEND
        spp = 0
        if clock_out:
            start_tick, spp = snap_to_sixteenth(start_tick, song.ppq)
        if end_tick is None:
            end_tick = song.end_tick
            if loop:
                per_bar = song.ticks_per_bar_at(max(end_tick - 1, 0))
                end_tick = max(per_bar, -(-end_tick // per_bar) * per_bar)
        end_tick = max(end_tick, start_tick)
        all_events = song_to_events(song, start_tick, end_tick, metronome=True,
                                    count_in_bars=count_in_bars)
        tempo = song.tempo_map
        if clock_out:
            all_events += [Event(t, tick, CLOCK) for t, tick in
                           clock_times(tempo, start_tick, end_tick)]
            all_events.sort(key=Event.sort_key)
        with self._lock:
            self._song = song
            self._intro = [e for e in all_events if e.time_s < 0]
            self._events = [e for e in all_events if e.time_s >= 0]
            self._start_tick, self._end_tick = start_tick, end_tick
            self._rest_tick = start_tick
            self._loop_s = tempo.tick_to_seconds(end_tick) - tempo.tick_to_seconds(start_tick)
            self._loop = bool(loop) and self._loop_s > 0
            self._hold = hold
            self._count_in_s = -min((e.time_s for e in self._intro), default=0.0)
            self._index = 0
            self._pass = -1 if self._intro else 0
            self._used_channels |= {e.message.channel for e in all_events
                                    if not e.click and hasattr(e.message, "channel")}
            self._following, self._clock_out = False, clock_out
            self._clock_running, self._sent_pass, self._spp = False, -1, spp
            if self._metronome or count_in_bars:
                self._used_channels.add(METRONOME_CHANNEL)
            self._t0 = self.clock() + self._count_in_s
            self._stop_event.clear()
            self._wake.clear()
            self._playing = True
        self.on_playing_changed(True)
        if background:
            self._thread = threading.Thread(target=self._run, name="continuo-player", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop and silence every note this player started."""
        was_playing = self._end_playback()
        self._clock_stop(self.output)
        self._silence(self.output, hard=False)
        if was_playing:
            self.on_playing_changed(False)

    def panic(self) -> None:
        """Stop, then everything off on all 16 channels (sound off, controllers reset)."""
        was_playing = self._end_playback()
        with self._lock:
            self._used_channels |= set(range(16))
            for timer in self._preview_timers:
                timer.cancel()
            self._preview_timers.clear()
        self._clock_stop(self.output)
        self._silence(self.output, hard=True)
        if was_playing:
            self.on_playing_changed(False)

    def close(self) -> None:
        self.panic()

    # ---- immediate notes (preview clicks, MIDI thru) ---------------------------
    def send_now(self, msg: mido.Message) -> None:
        """Send a message outside the schedule, remembering sounding notes."""
        with self._lock:
            self._track(msg)
            if hasattr(msg, "channel"):
                self._used_channels.add(msg.channel)
        self._send_safely(msg)

    def preview_note(self, pitch: int, velocity: int = 100, channel: int = 0,
                     duration_s: float = 0.4) -> None:
        """Sound one note now and release it ``duration_s`` later (keyboard clicks)."""
        key = (channel, pitch)
        with self._lock:
            token = self._preview_tokens.get(key, 0) + 1
            self._preview_tokens[key] = token
            retrigger = key in self._sounding
        if retrigger:  # the key is still down from an earlier click: release it first
            self.send_now(mido.Message("note_off", channel=channel, note=pitch, velocity=0))
        self.send_now(mido.Message("note_on", channel=channel, note=pitch, velocity=velocity))

        def release() -> None:
            with self._lock:
                if self._preview_tokens.get(key) != token:
                    return  # a later click of the same key owns the note now
            self.send_now(mido.Message("note_off", channel=channel, note=pitch, velocity=0))

        timer = threading.Timer(duration_s, release)
        timer.daemon = True
        with self._lock:
            self._preview_timers = [t for t in self._preview_timers if t.is_alive()]
            self._preview_timers.append(timer)
        timer.start()

    def sounding_notes(self) -> list[tuple[int, int]]:
        """(channel, pitch) of notes switched on and not yet off."""
        with self._lock:
            return sorted(self._sounding)

    # ---- the schedule ----------------------------------------------------------
    def _next_due(self) -> float | None:
        """Clock time of the next message, or None when the range is done."""
        if self._pass < 0:
            if self._index < len(self._intro):
                return self._t0 + self._intro[self._index].time_s
            return self._t0 + self._events[0].time_s if self._events else (
                None if not self._hold else float("inf"))
        if self._index < len(self._events):
            return self._t0 + self._pass * self._loop_s + self._events[self._index].time_s
        if self._loop:
            return self._t0 + (self._pass + 1) * self._loop_s
        return None

    def pump(self, now: float | None = None) -> float | None:
        """Send every message due by ``now``; seconds until the next one (None: done).

        The thread calls this in a loop; with ``play(background=False)`` a test
        calls it directly after moving its own clock.
        """
        now = self.clock() if now is None else now
        if self._following:
            return self._pump_following(now)
        while True:
            with self._lock:
                if not self._playing:
                    return None
                if self._clock_out and 0 <= self._pass and self._sent_pass < self._pass \
                        and self._t0 + self._pass * self._loop_s <= now:
                    # a pass begins: Start (or Song Position Pointer + Continue); at a
                    # loop's wrap Stop first, the way hardware sequencers jump
                    due = self._t0 + self._pass * self._loop_s
                    messages = transport_messages(self._spp, first=self._pass == 0)
                    self._sent_pass = self._pass
                    self._clock_running = True
                    output = self.output
                    for msg in messages:
                        sent = self.clock()
                        self._send_on(output, msg)
                        self.on_sent(due, sent, msg)
                    continue
                due = self._next_due()
                if due is None:
                    break
                if due > now:
                    return due - now
                if self._pass < 0:
                    if self._index < len(self._intro):
                        event = self._intro[self._index]
                        self._index += 1
                    else:
                        self._pass, self._index = 0, 0
                        continue
                elif self._index < len(self._events):
                    event = self._events[self._index]
                    self._index += 1
                else:  # loop wrap: the cut notes' offs were at the end of the pass
                    self._pass += 1
                    self._index = 0
                    continue
                if event.click and not self._metronome and self._pass >= 0:
                    continue
                self._track(event.message)
                output = self.output
            sent = self.clock()
            self._send_on(output, event.message)
            self.on_sent(due, sent, event.message)
        # nothing left to send
        if self._hold:
            return float("inf")
        self._finish()
        return None

    def _finish(self) -> None:
        """The range has been played: silence, report, and stop (once)."""
        with self._lock:
            if not self._playing:
                return
            self._rest_tick = self._end_tick
            self._playing = False
            self._stop_event.set()
        self._clock_stop(self.output)
        self._silence(self.output, hard=False)
        self.on_position(self._end_tick)
        self.on_playing_changed(False)
        self.on_finished()

    def _run(self) -> None:
        # whether the last playback's thread got SCHED_FIFO (bench/midi_clock.py says)
        self.realtime = bool(self.realtime_priority) and realtime_thread(self.realtime_priority)
        # a followed playback sleeps between messages as before: its incoming clocks come
        # on the input's thread, and a spinning thread holding the interpreter lock let a
        # burst of 10,000 clocks in so slowly that the notes it jumps over were played
        # (test_a_burst_of_ten_thousand_clocks_never_hangs failed in a CI run)
        if self._clock_out and not self._following:
            with live_switch_interval():
                self._schedule(self.spin_s)
        else:
            self._schedule(0.0)

    def _schedule(self, spin_s: float) -> None:
        """The thread's loop: pump, report the position, check the port, and wait for
        the next message (the last ``spin_s`` of the wait spinning)."""
        next_position = 0.0
        next_check = self.clock() + self.check_interval_s
        try:
            while not self._stop_event.is_set():
                wait = self.pump()
                if wait is None:
                    return  # finished (pump did the rest) or stopped
                now = self.clock()
                if now >= next_position:
                    self.on_position(round(self.tick_at(now)))
                    next_position = now + self.position_interval_s
                if now >= next_check:
                    self.output.check()
                    next_check = now + self.check_interval_s
                timeout = min(wait, next_position - now, next_check - now)
                if 0 < wait <= spin_s and timeout == wait:
                    self._spin(now + wait, spin_s)
                elif timeout > 0:
                    self._wake.wait(timeout - spin_s if timeout == wait else timeout)
                    self._wake.clear()
        except ContinuoError as exc:
            self._fail(str(exc))
            return
        except Exception as exc:  # an rtmidi error, a dying synth: stop, never crash
            self._fail(f"The MIDI output '{self.output.name}' failed ({exc}).")
            return

    def _spin(self, due: float, spin_s: float) -> None:
        """Busy-wait until ``due`` on the player's clock, for ``spin_s`` of real time at
        most (a clock of the caller's that stands still cannot hold the thread), or until
        a stop."""
        give_up = time.monotonic() + spin_s
        while self.clock() < due and time.monotonic() < give_up \
                and not self._stop_event.is_set():
            pass

    def _fail(self, message: str) -> None:
        if not self._playing:
            return  # stopped meanwhile: the user asked for silence, not an error
        self._end_playback(from_thread=True)
        try:
            self._clock_stop(self.output)
            self._silence(self.output, hard=False)
        except Exception:
            pass
        message = message.rstrip().rstrip(".") + "; playback stopped."
        self.on_playing_changed(False)
        self.on_error(message)

    # ---- helpers ---------------------------------------------------------------
    def _end_playback(self, from_thread: bool = False) -> bool:
        with self._lock:
            was_playing = self._playing
            if was_playing:
                self._rest_tick = max(0, round(self.tick_at(self.clock())))
            self._playing = False
            self._stop_event.set()
            self._wake.set()
            thread = self._thread
        if thread is not None and not from_thread and thread is not threading.current_thread():
            thread.join(timeout=2.0)
        if not from_thread:
            self._thread = None
        return was_playing

    def _pump_following(self, now: float) -> float | None:
        """:meth:`pump` on the follower's clock: each message is due when the follower's
        line puts its tick; a note more than a 16th behind the followed position (a
        jump, a burst of clocks) is skipped, never played late."""
        follower = self.follower
        while True:
            with self._lock:
                if not self._playing:
                    return None
                song = self._song
                reason = follower.lost(now)
                if reason is not None:
                    break
                if self._index >= len(self._events):
                    if self._hold:
                        return 0.05  # recording on past the end: until Stop or a lost clock
                    break
                event = self._events[self._index]
                per_clock = song.ppq / CLOCKS_PER_QUARTER
                due = follower.time_at(event.tick / per_clock)
                if due > now:
                    return min(due - now, 0.05)  # look again for a lost clock
                self._index += 1
                msg = event.message
                if event.click and not self._metronome:
                    continue
                if msg.type == "note_on" and msg.velocity:
                    position = follower.position(now)
                    if position is not None and position * per_clock - event.tick > song.ppq / 4:
                        continue
                elif msg.type == "note_off" and (msg.channel, msg.note) not in self._sounding:
                    continue  # its note-on was skipped (or silenced by a jump)
                self._track(msg)
                output = self.output
            sent = self.clock()
            self._send_on(output, msg)
            self.on_sent(due, sent, msg)
        if reason is not None:
            self._fail(reason)
            return None
        self._finish()
        return None

    def _clock_stop(self, output: Output) -> None:
        """Stop to whoever follows our clock, once per Start/Continue."""
        with self._lock:
            running, self._clock_running = self._clock_running, False
        if running:
            try:
                output.send(STOP)
            except Exception:
                pass  # the port is gone; nobody is listening for the Stop

    def _track(self, msg: mido.Message) -> None:
        if msg.type == "note_on" and msg.velocity > 0:
            self._sounding[(msg.channel, msg.note)] += 1
        elif msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0):
            key = (msg.channel, msg.note)
            if self._sounding[key] > 1:
                self._sounding[key] -= 1
            else:
                self._sounding.pop(key, None)

    def _silence(self, output: Output, hard: bool) -> None:
        with self._lock:
            sounding = list(self._sounding.elements())
            self._sounding.clear()
            channels = set(self._used_channels) | {c for c, _ in sounding}
        for msg in all_off_messages(channels, sounding, hard=hard):
            try:
                output.send(msg)
            except (ContinuoError, OSError, RuntimeError, ValueError):
                break  # the port is gone; there is nothing left to silence

    def _send_on(self, output: Output, msg: mido.Message) -> None:
        try:
            output.send(msg)
        except ContinuoError:
            raise
        except Exception as exc:
            raise PortError(f"The MIDI port '{output.name}' went away ({exc}).") from exc

    def _send_safely(self, msg: mido.Message) -> None:
        try:
            self.output.send(msg)
        except Exception as exc:
            self.on_error(f"The MIDI output '{self.output.name}' could not play a note ({exc}).")
