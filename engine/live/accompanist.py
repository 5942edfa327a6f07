"""A live accompanist: the player's notes in, voices beneath them out, step by step.

The loop runs in its own thread (no Qt).  Each sixteenth-note step of the transport
clock it takes the melody the player holds and lets :class:`LiveHarmony` sample the
voices beneath it, which go out at once on the accompanist's own channel.  Live Drums
(:class:`LiveDrums`) step the same loop on the drum model's grid (twelve steps a
quarter), hear the keys pressed on each step, and play on channel 10 only: when the
keyboard plays there they fall silent instead of moving.

* **When a step is played.**  A key press belongs to the nearest step; it is played as
  soon as the press arrives (the latency is the model's few calls, not the grid).  A
  step without a press waits ``late_window_s`` past its time for a key that comes a
  little late, then plays with what is held.
* **Late.**  A step whose notes would go out more than ``drop_after_s`` after they
  were due is dropped: the model hears the melody with the voices held as they were,
  nothing new sounds, and ``on_dropped`` says so.  A step sent more than
  ``LATE_S`` after it was due counts as late.
* **No stuck notes.**  Every note-on the accompanist sends is counted; stop, panic, a
  fault (a port that went away, the model failing) send a note-off for each.
* **Ahead of the key.**  A part that can (:meth:`LiveHarmony.speculate`) feeds the
  model the next step's melody note for every key the player may press while it waits:
  right after a step, and again ``speculate_ahead_s`` before the next is due.  The
  press then waits for the voices' draws only; the tokens are the same.
* **Only its own channel.**  It never sends on a channel the player's keyboard uses:
  when they meet, the accompanist moves to the next free channel and says so.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import mido

from engine.errors import ContinuoError, PortError
from engine.live.player import LIVE_SWITCH_INTERVAL_S  # noqa: F401  (bench/gil_wakeup.py)
from engine.live.player import live_switch_interval, realtime_thread
from engine.live.ports import ALL_NOTES_OFF, ALL_SOUND_OFF, Output
from engine.song import Note, Song, Track

if TYPE_CHECKING:  # the loop needs no model until one is handed to it
    from engine.generation.live_drums import LiveDrums
    from engine.generation.live_harmony import LiveHarmony, Step

LATE_S = 0.010  # a step sent later than this after it was due is late
DROP_AFTER_S = 0.050  # ... and one that would be later than this is dropped
LATE_WINDOW_S = 0.030  # a step without a press waits this long for a late key
# ... the drums wait less: their hits on steps without a press keep the groove on the grid
DRUMS_LATE_WINDOW_S = 0.010
WATCH_INTERVAL_S = 0.25  # how often the ports are looked for
REALTIME_PRIORITY = 9  # SCHED_FIFO, just below the player's scheduler thread
# the GIL's switch interval while the accompanist runs is the player's
# LIVE_SWITCH_INTERVAL_S (Python's default is 5 ms): its real-time thread, woken while
# another thread (the GUI's) holds the GIL, waits this long before it asks for it, then
# until the holder, on a busy machine itself waiting for a CPU, lets go
# (bench/gil_wakeup.py: p50 10.3 -> 3.4 ms at load 12).  Only while live: a thread
# sending 10,000 messages at once is slower with it
# how often the input port is read while the accompanist listens (PortInput's own 2 ms
# adds a millisecond on average between a key and its step)
INPUT_POLL_S = 0.0005
# the model's call for the next step's melody note is made for every note the player may
# press (LiveHarmony.speculate) right after a step, and again this long before the next
# step is due: the press finds it made, and the model's weights back in the cache (a
# call after 125 ms asleep cost some 4x one made back to back)
SPECULATE_AHEAD_S = 0.004
DRUM_CHANNEL = 9


class StepClock:
    """The step grid on a clock: step ``k`` at ``t0 + k * seconds_per_step``."""

    def __init__(self, t0: float, seconds_per_step: float) -> None:
        if not seconds_per_step > 0:
            raise ValueError("a step must last some time")
        self.t0 = float(t0)
        self.seconds_per_step = float(seconds_per_step)

    @classmethod
    def at_tempo(cls, t0: float, bpm: float, steps_per_quarter: int = 4) -> "StepClock":
        return cls(t0, 60.0 / (float(bpm) * steps_per_quarter))

    def time_of(self, step: float) -> float:
        return self.t0 + step * self.seconds_per_step

    def step_at(self, t: float) -> float:
        return (t - self.t0) / self.seconds_per_step


@dataclass
class LiveStats:
    steps: int = 0
    late_steps: int = 0
    dropped_steps: int = 0
    latencies_s: list[float] = field(default_factory=list)  # press -> first note of its step
    # per step with a press and a new voice note, on the accompanist's clock: the press
    # (the input's time for it), when feed() got it, when the loop took it up, when the
    # model had sampled the step, when its first note-on went (bench/accompanist.py)
    trace: list[tuple[float, float, float, float, float]] = field(default_factory=list)
    sample_cpu_s: list[float] = field(default_factory=list)  # the thread's CPU a sampled step


class Accompanist:
    """Plays ``harmony``'s voices beneath the notes fed to :meth:`feed` into ``output``.

    ``clock`` is the clock of the input's times; ``grid`` places the steps on it.
    Callbacks (from the loop's thread): ``on_error(message)`` after a fault (the notes
    are off by then), ``on_dropped(step)``, ``on_message(text)`` (the channel moved).
    ``watch`` are callables that raise :class:`PortError` when a port has gone; they
    are called a few times a second."""

    def __init__(self, harmony: LiveHarmony | LiveDrums, output: Output, grid: StepClock, *,
                 channel: int = 1, program: int | None = None, velocity: int | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 late_window_s: float = LATE_WINDOW_S, drop_after_s: float = DROP_AFTER_S,
                 speculate_ahead_s: float | None = SPECULATE_AHEAD_S,
                 watch: list[Callable[[], None]] | None = None,
                 on_error: Callable[[str], None] | None = None,
                 on_dropped: Callable[[int], None] | None = None,
                 on_message: Callable[[str], None] | None = None) -> None:
        if not 0 <= channel <= 15:
            raise ValueError(f"a MIDI channel is 0-15, not {channel}")
        self.harmony = harmony
        # drums stay on their channel: when the keyboard plays there they fall silent
        self.drums = bool(getattr(harmony, "drums", False))
        self._hear = getattr(harmony, "hear", None)  # a part that hears the presses
        # a part that feeds the model ahead of the key (None: it cannot, or not asked)
        self._speculate = getattr(harmony, "speculate", None)
        self.speculate_ahead_s = speculate_ahead_s
        self._speculated: int | None = None  # the step last fed ahead just before it
        self.output = output
        self.grid = grid
        self.channel = channel
        self.program = program
        self.velocity = velocity
        self.clock = clock
        self.late_window_s = late_window_s
        self.drop_after_s = drop_after_s
        self.watch = list(watch or [])
        self.on_error = on_error
        self.on_dropped = on_dropped
        self.on_message = on_message
        self.stats = LiveStats()
        self.error: str | None = None
        self.keyboard_channels: set[int] = set()
        self.sounding: Counter[tuple[int, int]] = Counter()  # (channel, pitch) -> note-ons
        self.player_notes: list[tuple[int, int, int, int]] = []  # (start, end step, pitch, vel)
        # (time, "on" | "off", pitch, velocity, channel, when feed() got it)
        self._events: deque[tuple[float, str, int, int, int, float]] = deque()
        self._cv = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._next: int | None = None  # the next step to play
        self._held: dict[int, int] = {}  # keys down: pitch -> velocity
        self._pressed: dict[int, float] = {}  # keys pressed for the next step: pitch -> time
        self._melody: tuple[int, int, int] | None = None  # (pitch, start step, velocity)
        self._lock = threading.Lock()  # sending and the sounding notes
        self._started = False
        self._origin = 0  # the grid step of the performance's first step
        self.realtime_priority = REALTIME_PRIORITY

    # ---- the input ---------------------------------------------------------------------
    def feed(self, msg: mido.Message, t: float) -> None:
        """A message from the player's keyboard at time ``t`` (the clock's)."""
        if msg.type not in ("note_on", "note_off"):
            return
        kind = "on" if msg.type == "note_on" and msg.velocity > 0 else "off"
        with self._cv:
            self._events.append((t, kind, msg.note, msg.velocity, msg.channel, self.clock()))
            self._cv.notify()

    # ---- running -------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the accompanist is already running")
        self._thread = threading.Thread(target=self._run, name="accompanist", daemon=True)
        self._thread.start()

    @property
    def origin(self) -> int:
        """The grid step of the performance's first step (its first note)."""
        return self._origin

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, hard: bool = False) -> None:
        """Stop the loop and send a note-off for every note it holds (``hard``: panic,
        All Sound Off too)."""
        with self._cv:
            self._stopping = True
            self._cv.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self._silence(hard)
        self._close_melody(self._next if self._next is not None else 0)
        self.harmony.finish()

    def panic(self) -> None:
        self.stop(hard=True)

    def fault(self, message: str) -> None:
        """Something outside failed (a port went away, the helper died): stop with every
        note off, and report ``message``."""
        first = self.error is None
        self.error = self.error or message
        self.stop()
        if first and self.on_error is not None:
            self.on_error(message)

    def _run(self) -> None:
        # real-time scheduling where the system grants it, as the player's thread: a step
        # is a few milliseconds of work every sixteenth, and waiting for the CPU behind
        # other programs is what makes it late
        if self.realtime_priority:
            realtime_thread(self.realtime_priority)
        with live_switch_interval():
            self._loop()

    def _loop(self) -> None:
        next_watch = self.clock() + WATCH_INTERVAL_S
        try:
            if self._speculate is not None:
                self._speculate()  # the first step's, before the first key
            while True:
                ahead = None
                with self._cv:
                    if self._stopping:
                        return
                    now = self.clock()
                    wake = self._wake_time()
                    ready = self._events_due() or (wake is not None and now >= wake)
                    ahead = self._ahead_time()
                    if ahead is not None and now < ahead:
                        wake = ahead if wake is None else min(wake, ahead)
                        ahead = None
                    if not ready and ahead is None:
                        timeout = next_watch - now if wake is None else \
                            min(next_watch, wake) - now
                        if timeout > 0:
                            self._cv.wait(timeout)
                if self.clock() >= next_watch:
                    for check in self.watch:
                        check()
                    self.output.check()
                    next_watch = self.clock() + WATCH_INTERVAL_S
                if ready:
                    self._play_due()
                elif ahead is not None:
                    self._speculated = self._next
                    self._speculate()
        except Exception as exc:  # a port error, the model failing: nothing may stay on
            message = str(exc) if isinstance(exc, ContinuoError) else \
                f"The accompanist stopped: {type(exc).__name__}: {exc}"
            threading.Thread(target=self.fault, args=(message,), daemon=True).start()

    def _wake_time(self) -> float | None:
        """When the next step must be played without a press (None: not started)."""
        if self._next is None:
            return None
        return self.grid.time_of(self._next) + self.late_window_s

    def _ahead_time(self) -> float | None:
        """When to feed the next step's melody ahead again (None: done, or not asked)."""
        if self._speculate is None or self.speculate_ahead_s is None or self._next is None \
                or self._speculated == self._next:
            return None
        return self.grid.time_of(self._next) - self.speculate_ahead_s

    def _events_due(self) -> bool:
        """Whether a press waits that belongs to the next step (or one before it)."""
        for t, kind, *_ in self._events:
            if kind == "on" and (self._next is None or
                                 self.grid.step_at(t) < self._next + 0.5):
                return True
        return False

    def _play_due(self) -> None:
        """Take the events of the next step and play it, when it is due."""
        with self._cv:
            woke = self.clock()  # every press taken below was fed before this
            if self._next is None:
                first = next((e for e in self._events if e[1] == "on"), None)
                if first is None:
                    self._events.clear()  # releases before the first press
                    return
                while self._events and self._events[0] is not first:
                    self._events.popleft()
                self._next = self._origin = max(0, round(self.grid.step_at(first[0])))
            k = self._next
            edge = self.grid.time_of(k + 0.5)
            press_t = fed = None
            while self._events and self._events[0][0] < edge:
                t, kind, pitch, vel, ch, got = self._events.popleft()
                self._keyboard(ch)
                if kind == "on":
                    self._held[pitch] = vel
                    self._pressed.setdefault(pitch, t)
                    if press_t is None or t < press_t:
                        press_t, fed = t, got
                else:
                    self._held.pop(pitch, None)
            if press_t is None and self.clock() < self.grid.time_of(k) + self.late_window_s:
                return
            pressed, self._pressed = self._pressed, {}
            self._next = k + 1
        due = press_t if press_t is not None else self.grid.time_of(k) + self.late_window_s
        heard = set(self._held) | set(pressed)
        pitch = max(heard) if heard else None
        onset = pitch is not None and pitch in pressed
        self._follow_melody(k, pitch, onset)
        if self._hear is not None:
            self._hear(k, sorted(pressed))
        late = self.clock() - due
        if late > self.drop_after_s:
            step = self.harmony.hold_over(pitch, onset)
            self.stats.dropped_steps += 1
            self._send_step(step, k, None)
            if self.on_dropped is not None:
                self.on_dropped(k)
        else:
            cpu0 = time.thread_time()
            step = self.harmony.sample(pitch, onset)
            sampled = self.clock()
            self.stats.sample_cpu_s.append(time.thread_time() - cpu0)
            sent = self._send_step(step, k, pitch)
            if press_t is not None and sent is not None and step.starts:
                self.stats.latencies_s.append(sent - press_t)
                self.stats.trace.append((press_t, fed, woke, sampled, sent))
            if sent is not None and sent - due > LATE_S:
                self.stats.late_steps += 1
            self.harmony.prepare()
            if self._speculate is not None:
                self._speculate()  # the next step's, while nothing waits
        if step.index >= 0:
            self.stats.steps += 1

    def _follow_melody(self, k: int, pitch: int | None, onset: bool) -> None:
        """The player's notes, on the step grid, for the take."""
        m = self._melody
        if m is not None and (pitch != m[0] or onset):
            self._close_melody(k)
            m = None
        if pitch is not None and m is None:
            self._melody = (pitch, k, self._held.get(pitch, 90) or 90)

    def _close_melody(self, k: int) -> None:
        if self._melody is not None:
            p, s, v = self._melody
            self.player_notes.append((s, max(k, s + 1), p, v))
            self._melody = None

    def _keyboard(self, channel: int) -> None:
        """Note the player's channel; never share it."""
        if channel in self.keyboard_channels:
            return
        self.keyboard_channels.add(channel)
        if channel == self.channel and self.drums:
            self._silence(False)
            if self.on_message is not None:
                self.on_message(f"The keyboard plays on channel {channel + 1}, the drums' "
                                f"channel, so the drums are silent.")
        elif channel == self.channel:
            old = self.channel
            free = [c for c in range(16) if c not in self.keyboard_channels
                    and c != DRUM_CHANNEL]
            self._silence(False)  # the accompanist's own notes, on its old channel
            self.channel = free[0] if free else old
            self._started = False  # the program again on the new channel
            if self.on_message is not None:
                self.on_message(f"The keyboard plays on channel {old + 1}, so the "
                                f"accompanist moved to channel {self.channel + 1}.")

    # ---- output --------------------------------------------------------------------------
    def _send(self, msg: mido.Message) -> None:
        self.output.send(msg)

    def _send_step(self, step: Step, k: int, pitch: int | None) -> float | None:
        """The step's note-offs, then its note-ons; the time the first note-on went."""
        if not step.starts and not step.ends:
            return None
        first = None
        with self._lock:
            if self._stopping or self.channel in self.keyboard_channels:
                return None
            c = self.channel
            if not self._started and self.program is not None:
                self._send(mido.Message("program_change", channel=c, program=self.program))
            self._started = True
            for _, p in step.ends:
                if self.sounding[(c, p)] > 0:
                    self._send(mido.Message("note_off", channel=c, note=p, velocity=0))
                    self.sounding[(c, p)] -= 1
                    if not self.sounding[(c, p)]:
                        del self.sounding[(c, p)]
            vel = self.velocity or max(30, min(110, int(0.8 * self._held.get(pitch, 90))))
            vels = step.velocities or [vel] * len(step.starts)
            for (_, p), v in zip(step.starts, vels):
                self._send(mido.Message("note_on", channel=c, note=p, velocity=v))
                self.sounding[(c, p)] += 1
                if first is None:
                    first = self.clock()
        return first

    def _silence(self, hard: bool) -> None:
        """A note-off for every note-on still sounding, then All Notes Off on the
        accompanist's channels; a port that fails now is left (it has gone)."""
        with self._lock:
            held = list(self.sounding.elements())
            self.sounding.clear()
            channels = {c for c, _ in held} | ({self.channel} if self._started else set())
            channels -= self.keyboard_channels
            try:
                for c, p in sorted(held):
                    self._send(mido.Message("note_off", channel=c, note=p, velocity=0))
                for c in sorted(channels):
                    self._send(mido.Message("control_change", channel=c, control=ALL_NOTES_OFF,
                                            value=0))
                    if hard:
                        self._send(mido.Message("control_change", channel=c,
                                                control=ALL_SOUND_OFF, value=0))
            except (PortError, OSError):
                pass

    # ---- the take --------------------------------------------------------------------------
    def take(self, ppq: int = 480, start_tick: int = 0, player_channel: int = 0) -> list[Track]:
        """The performance as tracks (after :meth:`stop`): the player's notes, then one
        track per voice, on the step grid, its first step at ``start_tick``."""
        tick = ppq // self.harmony.enc.steps_per_quarter

        def at(step: int) -> int:
            return start_tick + (step - self._origin) * tick

        tracks = [Track(name="Player", channel=player_channel, notes=[
            Note(p, at(s), (e - s) * tick, v, player_channel)
            for s, e, p, v in sorted(self.player_notes)])]
        vel = self.velocity or 80
        for i, name in enumerate(self.harmony.names, start=1):
            # (voice, start, end, pitch), drums with each hit's velocity after them
            notes = [Note(n[3], at(n[1] + self._origin), (n[2] - n[1]) * tick,
                          n[4] if len(n) > 4 else vel, self.channel)
                     for n in sorted(self.harmony.notes, key=lambda n: (n[1], n[3]))
                     if n[0] == i]
            tracks.append(Track(name=name, channel=self.channel, notes=notes,
                                program=self.program or 0, is_drum=self.drums))
        return tracks

    def take_song(self, ppq: int = 480) -> Song:
        """The take as a song of its own (the player's track and the voices')."""
        return Song(ppq=ppq, tracks=self.take(ppq))


def input_watch(names: Callable[[], list[str]], name: str) -> Callable[[], None]:
    """A watch for an input port opened by ``name``: raises PortError once ``names()``
    (the MIDI system's input list) no longer has it."""
    def check() -> None:
        if name not in names():
            raise PortError(f"The MIDI input '{name}' went away")
    return check
