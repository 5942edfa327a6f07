"""MIDI clock, both ways: send it (a DAW follows Continuo) and follow it (Continuo
follows a DAW).  Plain Python, no Qt; the player (:mod:`engine.live.player`) does the
scheduling on its own thread and clock.

**Sending.**  Timing Clock goes out 24 times a quarter note at the ideal time of each
of its ticks in the song's :class:`TempoMap` (tempo changes included); playback from
the song's start sends Start, from anywhere else Song Position Pointer then Continue
(the start snaps to a 16th note, the pointer's unit); a loop's wrap sends Stop, Song
Position Pointer, Continue, as hardware sequencers do; stopping sends Stop.  The
functions here make those messages and times; :class:`engine.live.player.Player`
merges them into its schedule.

**Following.**  :class:`ClockFollower` reads what arrives on an input, with the time
it arrived on the player's clock.  Start, Stop, Continue and Song Position Pointer
drive the transport (through a listener, the player); Timing Clock moves the position
one 24th of a quarter each and gives the tempo.  Arrival times carry the MIDI
system's delivery delay (JACK delivers once per period: 0 to 5.3 ms late at 256 frames
and 48 kHz), which only ever makes a message late, so the follower fits a line to the
last 24 arrivals from below (the edge of their lower convex hull: the earliest arrivals
are the truest, as clock synchronisation trusts the fastest round trip) and predicts
the next tick from it; a note is played at the time the line gives its position, never
more than two ticks ahead of the last clock that arrived (so a delivery held back for
up to a tick, as a busy JACK does now and then, changes nothing, and a sender that
stops without a word is overrun by two ticks at most).  An arrival far off the line
is an outlier; three in a row on one side, drifting further off, are a tempo change,
and the fit restarts from them.  When nothing arrives for 500 ms (or 4 ticks of a very
slow clock) while running, :meth:`ClockFollower.lost` says so once and the player
stops, all notes off.

Broken streams are expected: clock with no Start only sets the tempo; Song Position
Pointer while running relocates; a burst of thousands of clocks costs a few
microseconds each and moves the position (the player skips what it missed instead of
playing it all at once); an input that goes away is a clock that stops arriving.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import Callable, Protocol

import mido

from engine.song import TempoMap

CLOCKS_PER_QUARTER = 24
CLOCKS_PER_SIXTEENTH = 6  # a Song Position Pointer unit ("MIDI beat") is a 16th note
SPP_MAX = 16383
MIN_BPM = 10.0
MAX_BPM = 1000.0

SYNC_INTERNAL = "internal"
SYNC_SEND = "send"
SYNC_FOLLOW = "follow"
SYNC_MODES = (SYNC_INTERNAL, SYNC_SEND, SYNC_FOLLOW)

TRANSPORT_TYPES = frozenset({"clock", "start", "stop", "continue", "songpos"})

CLOCK = mido.Message("clock")
START = mido.Message("start")
STOP = mido.Message("stop")
CONTINUE = mido.Message("continue")


def song_position(sixteenths: int) -> mido.Message:
    return mido.Message("songpos", pos=max(0, min(SPP_MAX, int(sixteenths))))


# ---------------------------------------------------------------------------------------
# sending
# ---------------------------------------------------------------------------------------
def ticks_per_clock(ppq: int) -> float:
    return ppq / CLOCKS_PER_QUARTER


def snap_to_sixteenth(tick: int, ppq: int) -> tuple[int, int]:
    """(the 16th note at or before ``tick``, as a tick; its Song Position Pointer value)."""
    sixteenths = min(SPP_MAX, max(0, int(tick * 4 // ppq)))
    return round(sixteenths * ppq / 4), sixteenths


def clock_times(tempo: TempoMap, start_tick: int, end_tick: int) -> list[tuple[float, int]]:
    """(seconds after ``start_tick``, tick) of every Timing Clock in [start, end).

    ``start_tick`` should lie on the clock grid (a 16th note does); a tick that falls
    between whole ticks (a ppq not divisible by 24) is timed exactly and labelled
    with the nearest whole tick.
    """
    step = ticks_per_clock(tempo.ppq)
    base = tempo.tick_to_seconds(start_tick)
    out = []
    k = 0
    while True:
        tick = start_tick + k * step
        if tick >= end_tick:
            return out
        out.append((tempo.tick_to_seconds(tick) - base, round(tick)))
        k += 1


def transport_messages(sixteenths: int, first: bool) -> list[mido.Message]:
    """What starts a pass: Start (from the top) or Song Position Pointer + Continue;
    a loop's wrap (``first`` False) sends Stop before them."""
    if first:
        return [START] if sixteenths == 0 else [song_position(sixteenths), CONTINUE]
    return [STOP, song_position(sixteenths), CONTINUE]


# ---------------------------------------------------------------------------------------
# following
# ---------------------------------------------------------------------------------------
class FollowerListener(Protocol):
    """What a :class:`ClockFollower` tells (the player); called without its lock held."""

    def clock_started(self, position: int) -> None:
        """Start (position 0) or Continue: play from ``position`` (in clocks) on the next clock."""

    def clock_stopped(self) -> None:
        """Stop arrived."""

    def clock_located(self, position: int, running: bool) -> None:
        """Song Position Pointer: ``position`` in clocks; ``running``: a jump while playing."""

    def clock_ticked(self) -> None:
        """A Timing Clock arrived while running (a cue to look at the schedule again)."""


class ClockFollower:
    """Transport state, position and tempo from incoming MIDI clock; see the module docstring.

    :meth:`feed` takes each message with its arrival time (the input's thread); the
    player asks :meth:`position`, :meth:`time_at` and :meth:`lost` from its own.
    Positions are in clocks (24 a quarter note) from the song's start.
    """

    window = 24  # arrivals the tempo is fitted over (one beat)
    lead = 2  # clocks the position may run ahead of the last one that arrived
    timeout_s = 0.5
    timeout_ticks = 4  # a very slow clock gets this many intervals before it counts as stopped

    def __init__(self, listener: FollowerListener | None = None, *,
                 timeout_s: float | None = None, name: str = "") -> None:
        self.listener = listener
        self.name = name
        if timeout_s is not None:
            self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._running = False
        self._next = 0  # the position the next clock marks
        self._resume = 0  # where Continue starts (Stop keeps the place; SPP sets it)
        self._last: int | None = None  # position of the last clock since Start/Continue/SPP
        self._last_seen = 0.0  # arrival of the last clock, or of Start/Continue
        self._points: deque[tuple[int, float]] = deque(maxlen=self.window)
        self._pending: list[tuple[int, float, int, float]] = []  # off the line: i, t, side, r
        self._interval: float | None = None  # seconds per clock, kept across segments
        self._fit: tuple[float | None, int, float] | None = None
        self._dirty = True
        self.clocks_received = 0
        self.ignored = 0  # clocks that arrived while stopped (tempo only)

    # ---- input ---------------------------------------------------------------------
    def feed(self, msg: mido.Message, t: float) -> None:
        """One message from the input, which arrived at clock time ``t``."""
        kind = msg.type
        if kind not in TRANSPORT_TYPES:
            return
        call: Callable[[], None] | None = None
        listener = self.listener
        with self._lock:
            if kind == "clock":
                self.clocks_received += 1
                i = self._next
                self._next += 1
                self._add(i, t)
                if self._running:
                    self._last = i
                    self._last_seen = t
                    if listener is not None:
                        call = listener.clock_ticked
                else:
                    self.ignored += 1
            elif kind == "start":
                self._begin(0, t)
                if listener is not None:
                    call = lambda: listener.clock_started(0)  # noqa: E731
            elif kind == "continue":
                if not self._running:
                    position = self._resume
                    self._begin(position, t)
                    if listener is not None:
                        call = lambda: listener.clock_started(position)  # noqa: E731
            elif kind == "stop":
                if self._running:
                    self._running = False
                    self._resume = self._next
                    if listener is not None:
                        call = listener.clock_stopped
            elif kind == "songpos":
                position = msg.pos * CLOCKS_PER_SIXTEENTH
                running = self._running
                if running:  # not what the standard allows, but it happens: relocate
                    self._next = position
                    self._last = None
                    self._last_seen = t
                    self._restart_fit()
                else:
                    self._resume = position
                if listener is not None:
                    call = lambda: listener.clock_located(position, running)  # noqa: E731
        if call is not None:
            call()

    def _begin(self, position: int, t: float) -> None:
        self._running = True
        self._next = position
        self._resume = position
        self._last = None
        self._last_seen = t
        self._restart_fit()

    def _restart_fit(self) -> None:
        self._points.clear()
        self._pending.clear()
        self._dirty = True

    def _add(self, i: int, t: float) -> None:
        """Take one arrival into the fit, or hold it as a possible outlier / tempo change."""
        points = self._points
        if points and i != points[-1][0] + 1:
            self._restart_fit()  # a jump in the count: a new line
        fit = self._fit_now()
        slope = fit[0] if fit is not None else None
        if fit is None or slope is None or len(points) < 2:
            points.append((i, t))
            self._pending.clear()
            self._dirty = True
            return
        _, ia, ta = fit
        r = t - (ta + slope * (i - ia))
        points.append((i, t))  # the lower hull ignores a late outlier; an early one is news
        self._dirty = True
        if -max(0.0025, 0.1 * slope) <= r <= max(0.008, 0.4 * slope):
            self._pending.clear()
            return
        side = 1 if r > 0 else -1
        pending = self._pending
        if pending and (pending[-1][2] != side or pending[-1][0] != i - 1):
            pending.clear()
        pending.append((i, t, side, r))
        if len(pending) < 3:
            return
        if abs(pending[-1][3]) - abs(pending[0][3]) >= 0.15 * slope * (len(pending) - 1):
            # three in a row off the line on one side, and further off each time (more
            # than a period's jitter explains): the tempo changed.  A held-up sender or
            # delivery comes back towards the line instead.  The fit restarts from the
            # arrivals since the change (and the one before).
            first = pending[0][0]
            kept = [p for p in points if p[0] >= first - 1]
            points.clear()
            points.extend(kept)
            pending.clear()
        else:
            del pending[0]

    # ---- the fit -------------------------------------------------------------------
    def _fit_now(self) -> tuple[float | None, int, float] | None:
        """(seconds per clock or None, anchor position, its time on the line), or None."""
        if not self._dirty:
            return self._fit
        self._dirty = False
        points = self._points
        if not points:
            self._fit = None
            return None
        slope = self._interval
        ia = points[-1][0]
        line = _lower_line(points) if len(points) >= 2 else None
        if line is not None and _valid_interval(line[0]):
            slope, i0, t0 = line
            if len(points) >= 4:
                self._interval = slope
            ta = t0 + slope * (ia - i0)
        elif slope is None:
            ta = points[-1][1]
        else:
            ta = min(t + slope * (ia - i) for i, t in points)
        self._fit = (slope, ia, ta)
        return self._fit

    # ---- questions (the player's thread) ------------------------------------------
    @property
    def running(self) -> bool:
        return self._running

    @property
    def resume_position(self) -> int:
        """Where Continue would start (clocks): where Stop left off, or the last pointer."""
        with self._lock:
            return self._resume

    def tempo_bpm(self) -> float | None:
        """The followed tempo (smoothed), or None before two clocks have arrived."""
        with self._lock:
            fit = self._fit_now()
            slope = fit[0] if fit is not None and fit[0] is not None else self._interval
        return None if slope is None else 60.0 / (slope * CLOCKS_PER_QUARTER)

    def position(self, now: float) -> float | None:
        """Where the sender's song is at ``now`` (clocks), or None before the first clock
        since Start, Continue or a jump.  Never more than :attr:`lead` clocks past the last that
        arrived (and it stays there after Stop)."""
        with self._lock:
            if self._last is None:
                return None
            fit = self._fit_now()
            last = self._last
            if fit is None or fit[0] is None:
                return float(last)
            slope, ia, ta = fit
            return max(float(last), min(last + self.lead, ia + (now - ta) / slope))

    def time_at(self, position: float) -> float:
        """When ``position`` (clocks) sounds, by the line; ``inf`` while it cannot be known
        (before the first clock, or more than :attr:`lead` clocks past the last)."""
        with self._lock:
            if not self._running or self._last is None:
                return math.inf
            fit = self._fit_now()
            last = self._last
            if fit is None:
                return math.inf
            slope, ia, ta = fit
            if slope is None:
                return ta if position <= last else math.inf
            if position > last + self.lead:
                return math.inf
            return ta + slope * (position - ia)

    def timeout(self) -> float:
        with self._lock:
            slope = self._interval
        return max(self.timeout_s, self.timeout_ticks * slope) if slope else self.timeout_s

    def lost(self, now: float) -> str | None:
        """Once, when running and no clock arrived for :meth:`timeout`: the reason to show."""
        limit = self.timeout()
        with self._lock:
            if not self._running or now - self._last_seen <= limit:
                return None
            self._running = False
            self._resume = self._next
        source = f" from '{self.name}'" if self.name else ""
        return f"The MIDI clock{source} stopped arriving (nothing for {limit:.1f} s)"

    def reset(self) -> None:
        """Forget the transport (stopped at the top); the tempo is kept."""
        with self._lock:
            self._running = False
            self._next = self._resume = 0
            self._last = None
            self._restart_fit()


def _lower_line(points) -> tuple[float, int, float] | None:
    """The line under every (position, time) point that lies closest to them all: the
    edge of their lower convex hull above the mean position (a delay only ever makes
    an arrival late, so the earliest arrivals are the truest).  (slope, i, t) or None."""
    hull: list[tuple[int, float]] = []
    for p in points:
        while len(hull) >= 2:
            (oi, ot), (ai, at) = hull[-2], hull[-1]
            if (ai - oi) * (p[1] - ot) - (at - ot) * (p[0] - oi) <= 0:
                hull.pop()
            else:
                break
        hull.append(p)
    if len(hull) < 2:
        return None
    mean = sum(i for i, _ in points) / len(points)
    for (ai, at), (bi, bt) in zip(hull, hull[1:]):
        if bi >= mean:
            return (bt - at) / (bi - ai), ai, at
    (ai, at), (bi, bt) = hull[-2], hull[-1]
    return (bt - at) / (bi - ai), ai, at


def _valid_interval(seconds_per_clock: float) -> bool:
    if not seconds_per_clock > 0:
        return False
    bpm = 60.0 / (seconds_per_clock * CLOCKS_PER_QUARTER)
    return MIN_BPM <= bpm <= MAX_BPM
