"""Keyboard recording, quantizing, and the call-and-response flow (no Qt).

A :class:`Recorder` turns timestamped note messages from a real input port into
:class:`Note` objects on the song's timeline.  The time of a message is read from
the same clock the player uses, and converted to ticks by the player's own
``tick_at`` (so a tempo change or a count-in is handled in one place).

Quantizing is a pure function (:func:`quantize_notes`) so the GUI can apply it
after recording as one undoable edit, or the recorder can apply it on the fly.

:class:`CallAndResponse` listens for a phrase (it ends after a short silence with
no key held), hands it to a responder (the generator, which the GUI runs in the
generation service's helper process) and places phrase and answer one after the
other on the timeline, as Magenta's MIDI interface does.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Callable, Iterable

import mido

from engine.song import Note, Song, TempoMap, Track, melody_song

TickAt = Callable[[float], float]


# ---------------------------------------------------------------------------------------
# quantize
# ---------------------------------------------------------------------------------------
def quantize_tick(tick: float, grid: int, strength: float = 1.0, offset: int = 0) -> int:
    """``tick`` moved ``strength`` (0..1) of the way to the nearest grid line."""
    if grid <= 0:
        return int(round(tick))
    nearest = offset + round((tick - offset) / grid) * grid
    return int(round(tick + (nearest - tick) * strength))


def quantize_notes(notes: Iterable[Note], grid: int, strength: float = 1.0,
                   ends: bool = True) -> list[Note]:
    """Notes with starts (and, with ``ends``, ends) pulled to the grid.

    A note never shrinks to nothing: if its quantized end would fall on or before its
    start it keeps at least one grid step (or its own length when not quantizing ends).
    """
    out = []
    for n in notes:
        start = max(0, quantize_tick(n.start_tick, grid, strength))
        if ends:
            end = quantize_tick(n.end_tick, grid, strength)
            if end <= start:
                end = start + max(grid if strength >= 1.0 else 1, 1)
        else:
            end = start + n.duration_ticks
        out.append(replace(n, start_tick=start, duration_ticks=end - start))
    return sorted(out, key=Note.sort_key)


def tempo_timeline(tempo_map: TempoMap, start_tick: int, t0: float) -> TickAt:
    """``tick_at`` for recording without playback: ``start_tick`` sounds at clock ``t0``."""
    base = tempo_map.tick_to_seconds(start_tick)

    def tick_at(t: float) -> float:
        elapsed = t - t0
        if elapsed < 0:
            per_quarter_s = tempo_map.us_per_quarter_at(start_tick) / 1e6
            return start_tick + elapsed * tempo_map.ppq / per_quarter_s
        return tempo_map.seconds_to_tick(base + elapsed)

    return tick_at


# ---------------------------------------------------------------------------------------
# recording
# ---------------------------------------------------------------------------------------
class Recorder:
    """Pairs note-ons and note-offs into notes on the timeline given by ``tick_at``.

    ``grid`` > 0 quantizes each note as it completes (on the fly); ``grid`` = 0 keeps
    the played timing (quantize afterwards with :func:`quantize_notes`).  Notes are
    written on ``channel`` whatever channel the keyboard sends on.  A note begun in the
    count-in just before ``start_tick`` (within half a grid step, or 1/16 note) is
    moved to ``start_tick``; earlier ones are dropped.  Thread-safe: rtmidi's callback
    thread feeds it while the GUI reads it.
    """

    def __init__(self, tick_at: TickAt, start_tick: int = 0, grid: int = 0, channel: int = 0,
                 ppq: int = 480, on_note: Callable[[Note], None] | None = None) -> None:
        self.tick_at = tick_at
        self.start_tick = start_tick
        self.grid = grid
        self.channel = channel
        self.ppq = ppq
        self.on_note = on_note
        self.notes: list[Note] = []
        self._open: dict[int, tuple[float, int]] = {}  # pitch -> (tick, velocity)
        self._lock = threading.Lock()

    @property
    def held(self) -> list[int]:
        with self._lock:
            return sorted(self._open)

    def feed(self, msg: mido.Message, t: float) -> Note | None:
        """Take one input message played at clock time ``t``; the note it completes, if any."""
        if msg.type == "note_on" and msg.velocity > 0:
            with self._lock:
                done = self._close(msg.note, t)  # a repeated key without its note-off
                self._open[msg.note] = (self.tick_at(t), msg.velocity)
            if done is not None and self.on_note:
                self.on_note(done)
            return done
        if msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0):
            with self._lock:
                done = self._close(msg.note, t)
            if done is not None and self.on_note:
                self.on_note(done)
            return done
        return None

    def finish(self, t: float) -> list[Note]:
        """Close every held note at ``t`` and return all notes recorded, sorted."""
        done = []
        with self._lock:
            for pitch in list(self._open):
                note = self._close(pitch, t)
                if note is not None:
                    done.append(note)
        if self.on_note:
            for note in done:
                self.on_note(note)
        with self._lock:
            return sorted(self.notes, key=Note.sort_key)

    def _close(self, pitch: int, t: float) -> Note | None:
        opened = self._open.pop(pitch, None)
        if opened is None:
            return None
        start, velocity = opened
        end = self.tick_at(t)
        lead_in = self.grid / 2 if self.grid else self.ppq / 4
        if start < self.start_tick:
            if start < self.start_tick - lead_in:
                return None
            start = float(self.start_tick)
        if self.grid:
            s = max(self.start_tick, quantize_tick(start, self.grid))
            e = quantize_tick(end, self.grid)
            if e <= s:
                e = s + self.grid
        else:
            s = int(round(start))
            e = max(s + 1, int(round(end)))
        note = Note(pitch, s, e - s, velocity, self.channel)
        self.notes.append(note)
        return note


# ---------------------------------------------------------------------------------------
# call and response
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Exchange:
    """One call and its answer, placed on the timeline (absolute ticks)."""

    phrase: list[Note]
    answer: list[Note]
    phrase_start: int
    answer_start: int


class CallAndResponse:
    """Hear a phrase, have it continued, place both on the timeline.

    Feed it input messages (``feed``) and poll it (``poll``) from a timer; when a
    phrase has ended (no key held for ``gap_s`` seconds after the last release) it
    returns the phrase as a one-track song starting at tick 0, quantized to ``grid``.
    The caller continues that song (``engine.generation.generator.generate``, off its
    thread) and gives the new notes to :meth:`place_answer`, which returns the :class:`Exchange`
    to land in the piano roll, phrase at ``next_tick`` and answer right after.
    """

    def __init__(self, tempo_map: TempoMap, grid: int, anchor_tick: int = 0, gap_s: float = 1.0,
                 channel: int = 0, time_signature: tuple[int, int] = (4, 4),
                 timeline: Callable[[], TickAt | None] | None = None) -> None:
        """``timeline``, when given, is asked at each phrase's first note for the clock's
        ``tick_at`` to read the phrase on (a followed MIDI clock's); None from it (or no
        ``timeline``) reads the phrase at ``tempo_map``'s tempo."""
        self.tempo_map = tempo_map
        self.timeline = timeline
        self.ppq = tempo_map.ppq
        self.grid = grid
        self.gap_s = gap_s
        self.channel = channel
        self.time_signature = time_signature
        self.next_tick = anchor_tick
        self._recorder: Recorder | None = None
        self._last_event_s: float | None = None
        self._pending_phrase: list[Note] | None = None
        self._lock = threading.Lock()

    def feed(self, msg: mido.Message, t: float) -> None:
        if msg.type not in ("note_on", "note_off"):
            return
        with self._lock:
            if self._pending_phrase is not None:
                return  # waiting for the answer: notes played now are not a new call
            if self._recorder is None:
                if not (msg.type == "note_on" and msg.velocity > 0):
                    return
                # the phrase's time starts at its first note
                self._recorder = Recorder(self._phrase_time(t), 0, 0, self.channel, self.ppq)
            self._recorder.feed(msg, t)
            self._last_event_s = t

    def _phrase_time(self, t0: float) -> TickAt:
        tick_at = self.timeline() if self.timeline is not None else None
        if tick_at is None:
            return tempo_timeline(self.tempo_map, 0, t0)
        first = tick_at(t0)
        return lambda t: tick_at(t) - first

    def poll(self, now: float) -> Song | None:
        """The finished phrase (as a song from tick 0), once; else None."""
        with self._lock:
            rec = self._recorder
            if rec is None or self._last_event_s is None or rec.held:
                return None
            if now - self._last_event_s < self.gap_s or not rec.notes:
                return None
            notes = quantize_notes(rec.finish(now), self.grid) if self.grid else rec.finish(now)
            self._recorder = None
            self._last_event_s = None
            self._pending_phrase = notes
        bpm = self.tempo_map.bpm_at(0)
        return melody_song(notes, ppq=self.ppq, bpm=bpm, time_signature=self.time_signature,
                           name="Call")

    def phrase_length(self, phrase: list[Note]) -> int:
        """Where the answer to ``phrase`` starts, in the phrase's ticks: where the
        generator starts continuing it (on the first beat after the phrase as a
        musician reads it, :func:`engine.generation.generator.continuation_start_tick`,
        so that a key released early or late never moves the answer off the beat); at
        least one beat."""
        from engine.generation.generator import beat_ticks, continuation_start_tick

        song = melody_song(phrase, ppq=self.ppq, time_signature=self.time_signature)
        beat = beat_ticks(song.time_signatures[0], self.ppq)
        return max(beat, continuation_start_tick(song, phrase, max(1, self.ppq // 4)))

    def place_answer(self, answer: list[Note], answer_start: int | None = None) -> Exchange:
        """Put the pending phrase and ``answer`` on the timeline; advance ``next_tick``.

        ``answer`` is in the phrase song's ticks (as the generator returns it);
        ``answer_start`` is where the generator began (default: the phrase's length).
        """
        with self._lock:
            phrase = self._pending_phrase or []
            self._pending_phrase = None
        at = self.next_tick
        gen_start = self.phrase_length(phrase) if answer_start is None else answer_start
        placed_phrase = [n.moved(at) for n in phrase]
        placed_answer = [replace(n.moved(at), channel=self.channel) for n in answer]
        end = max((n.end_tick for n in placed_phrase + placed_answer), default=at)
        bar = self.ppq * 4 * self.time_signature[0] // self.time_signature[1]
        self.next_tick = -(-end // bar) * bar
        return Exchange(placed_phrase, placed_answer, at, at + gen_start)

    def cancel_answer(self) -> None:
        """Forget the pending phrase (generation failed); listen for a new one."""
        with self._lock:
            self._pending_phrase = None

    @property
    def waiting_for_answer(self) -> bool:
        return self._pending_phrase is not None


def answer_song(exchange: Exchange, tempo_map: TempoMap, program: int = 0) -> Song:
    """A song holding only the answer, for the player to play it back at once."""
    first = exchange.answer_start
    notes = [n.moved(-first) for n in exchange.answer if n.start_tick >= first]
    channel = notes[0].channel if notes else 0
    return Song(ppq=tempo_map.ppq,
                tracks=[Track(name="Answer", channel=channel, program=program, notes=notes)],
                tempo_map=TempoMap(tempo_map.ppq, tempo_map.changes))
